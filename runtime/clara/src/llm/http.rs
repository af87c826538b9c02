//! The HTTP side shared by every provider: building the client, sending a JSON request with
//! the time limits, and turning failures into typed, redacted errors.

use std::sync::Once;
use std::time::Duration;

use clara_config::model::provider::Timeouts;
use clara_core::llm::{ProviderError, ProviderErrorKind};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::retry::{AttemptError, parse_retry_after};

/// Longest server error text kept in an error message.
const MAX_ERROR_TEXT: usize = 300;

/// Builds a client with the connect timeout; the other limits apply per request.
pub(crate) fn client(timeouts: &Timeouts) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(timeouts.connect_secs.into()))
        .user_agent(concat!("clara/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with only timeouts and a user agent always builds")
}

/// rustls needs one process-wide crypto provider; clara uses ring everywhere (reqwest's
/// default would pull in aws-lc-rs, and two providers make rustls refuse to pick one).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Where errors come from, and the secrets that must never appear in them.
#[derive(Clone)]
pub(crate) struct Origin {
    pub provider: String,
    pub secrets: Vec<String>,
}

impl Origin {
    /// A typed error, with every secret replaced by `***`.
    pub(crate) fn error(&self, model: &str, kind: ProviderErrorKind) -> ProviderError {
        let kind = match kind {
            ProviderErrorKind::Status { status, message } => ProviderErrorKind::Status {
                status,
                message: self.redact(&message),
            },
            ProviderErrorKind::Connect(m) => ProviderErrorKind::Connect(self.redact(&m)),
            ProviderErrorKind::Decode(m) => ProviderErrorKind::Decode(self.redact(&m)),
            ProviderErrorKind::StreamCut(m) => ProviderErrorKind::StreamCut(self.redact(&m)),
            ProviderErrorKind::Config(m) => ProviderErrorKind::Config(self.redact(&m)),
            other => other,
        };
        ProviderError {
            provider: self.provider.clone(),
            model: model.to_owned(),
            kind,
            partial_output: false,
        }
    }

    fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| s.len() >= 4)
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "***"))
    }
}

/// Headers from config: fixed ones, and ones whose values come from the environment.
pub(crate) fn header_map(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of header `{name}` is not valid"))?;
        value.set_sensitive(true);
        map.insert(header, value);
    }
    Ok(map)
}

/// Sends `body` and waits for the response head, within the first-byte limit. A non-2xx
/// status becomes an error carrying the server's message and `Retry-After`.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    origin: &Origin,
    model: &str,
    url: &str,
    headers: &HeaderMap,
    body: &serde_json::Value,
    first_byte: Duration,
) -> Result<reqwest::Response, AttemptError> {
    let send = http.post(url).headers(headers.clone()).json(body).send();
    let response = match tokio::time::timeout(first_byte, send).await {
        Err(_) => {
            return Err(origin
                .error(
                    model,
                    ProviderErrorKind::Timeout("the first byte of the reply"),
                )
                .into());
        }
        Ok(Err(err)) => return Err(origin.error(model, transport_error(&err)).into()),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = tokio::time::timeout(first_byte, response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let kind = ProviderErrorKind::Status {
        status: status.as_u16(),
        message: error_message(&text),
    };
    Err(AttemptError {
        error: origin.error(model, kind),
        retry_after,
    })
}

/// A reqwest failure as an error kind.
pub(crate) fn transport_error(err: &reqwest::Error) -> ProviderErrorKind {
    if err.is_timeout() {
        ProviderErrorKind::Timeout("the connection")
    } else if err.is_connect() {
        ProviderErrorKind::Connect(root_cause(err))
    } else if err.is_body() || err.is_decode() {
        ProviderErrorKind::StreamCut(root_cause(err))
    } else {
        ProviderErrorKind::Connect(root_cause(err))
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The useful part of an error body: `error.message` of either API, else the text, shortened.
pub(crate) fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str())
        })
        .unwrap_or(body.trim());
    let mut short: String = message.chars().take(MAX_ERROR_TEXT).collect();
    if message.chars().count() > MAX_ERROR_TEXT {
        short.push('…');
    }
    if short.is_empty() {
        "(no message)".to_owned()
    } else {
        short
    }
}
