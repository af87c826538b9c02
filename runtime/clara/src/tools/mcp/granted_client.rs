//! The HTTP client of a streamable-HTTP MCP server: plain reqwest, or, for a server with
//! `oauth = true`, one that sends the server's current access token with every request,
//! renews it before it expires, and renews and retries once when the server refuses it.

use std::collections::HashMap;
use std::sync::Arc;

use clara_core::store::Millis;
use futures_util::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use super::server_grants::Grants;

/// How long before its expiry a cached access token is fetched again.
const CACHE_MARGIN_MS: Millis = 60_000;

/// A reqwest client, with the grant of the server it talks to when it has one.
#[derive(Clone)]
pub struct GrantedClient {
    http: reqwest::Client,
    grant: Option<Arc<GrantUse>>,
}

/// One server's grant as its connection uses it.
pub struct GrantUse {
    grants: Arc<Grants>,
    name: String,
    url: String,
    /// The last token and when it expires: a request does not read the store each time.
    cached: tokio::sync::Mutex<Option<(String, Option<Millis>)>>,
}

impl GrantUse {
    /// The grant of server `name` at `url`.
    pub fn new(grants: Arc<Grants>, name: &str, url: &str) -> GrantUse {
        GrantUse {
            grants,
            name: name.to_owned(),
            url: url.to_owned(),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The token to send; a new one when `refused` is the one the server just refused.
    async fn token(&self, refused: Option<&str>) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        let now = self.grants.now();
        if let Some((token, expires_at)) = cached.as_ref()
            && refused != Some(token.as_str())
            && expires_at.is_none_or(|at| at - CACHE_MARGIN_MS > now)
        {
            return Ok(token.clone());
        }
        let fresh = self
            .grants
            .access_token(&self.name, &self.url, refused)
            .await
            .map_err(|e| e.to_string())?;
        *cached = Some(fresh.clone());
        Ok(fresh.0)
    }
}

impl GrantedClient {
    /// `http`, sending `grant`'s token when there is one.
    pub fn new(http: reqwest::Client, grant: Option<Arc<GrantUse>>) -> GrantedClient {
        GrantedClient { http, grant }
    }

    /// Runs `call` with the token (or none), and once more with a renewed token when the
    /// server answers 401 to it.
    async fn with_token<T, F, Fut>(
        &self,
        given: Option<String>,
        call: F,
    ) -> Result<T, StreamableHttpError<reqwest::Error>>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, StreamableHttpError<reqwest::Error>>>,
    {
        let Some(grant) = &self.grant else {
            return call(given).await;
        };
        let token = grant.token(None).await.map_err(refused)?;
        match call(Some(token.clone())).await {
            Err(StreamableHttpError::AuthRequired(_)) => {
                let renewed = grant.token(Some(&token)).await.map_err(refused)?;
                call(Some(renewed)).await
            }
            other => other,
        }
    }
}

/// A grant that cannot give a token, as the transport reports it.
fn refused(why: String) -> StreamableHttpError<reqwest::Error> {
    StreamableHttpError::UnexpectedServerResponse(why.into())
}

type Headers = HashMap<HeaderName, HeaderValue>;
type SseStream = BoxStream<'static, Result<Sse, SseError>>;

impl StreamableHttpClient for GrantedClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        headers: Headers,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.with_token(auth, |token| {
            let (uri, message) = (uri.clone(), message.clone());
            let (session_id, headers) = (session_id.clone(), headers.clone());
            async move {
                self.http
                    .post_message(uri, message, session_id, token, headers)
                    .await
            }
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.with_token(auth, |token| {
            let (uri, message) = (uri.clone(), message.clone());
            let (session_id, headers) = (session_id.clone(), headers.clone());
            async move {
                self.http
                    .post_message_with_max_sse_event_size(
                        uri,
                        message,
                        session_id,
                        token,
                        headers,
                        max_sse_event_size,
                    )
                    .await
            }
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth: Option<String>,
        headers: Headers,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.with_token(auth, |token| {
            let (uri, message) = (uri.clone(), message.clone());
            let (session_id, headers) = (session_id.clone(), headers.clone());
            async move {
                self.http
                    .post_message_with_response_limits(
                        uri, message, session_id, token, headers, limits,
                    )
                    .await
            }
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth: Option<String>,
        headers: Headers,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.with_token(auth, |token| {
            let (uri, session_id, headers) = (uri.clone(), session_id.clone(), headers.clone());
            async move {
                self.http
                    .delete_session(uri, session_id, token, headers)
                    .await
            }
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth: Option<String>,
        headers: Headers,
    ) -> Result<SseStream, StreamableHttpError<Self::Error>> {
        self.with_token(auth, |token| {
            let (uri, session_id) = (uri.clone(), session_id.clone());
            let (last_event_id, headers) = (last_event_id.clone(), headers.clone());
            async move {
                self.http
                    .get_stream(uri, session_id, last_event_id, token, headers)
                    .await
            }
        })
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth: Option<String>,
        headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<SseStream, StreamableHttpError<Self::Error>> {
        self.with_token(auth, |token| {
            let (uri, session_id) = (uri.clone(), session_id.clone());
            let (last_event_id, headers) = (last_event_id.clone(), headers.clone());
            async move {
                self.http
                    .get_stream_with_max_sse_event_size(
                        uri,
                        session_id,
                        last_event_id,
                        token,
                        headers,
                        max_sse_event_size,
                    )
                    .await
            }
        })
        .await
    }
}
