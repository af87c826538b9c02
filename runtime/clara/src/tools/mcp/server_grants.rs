//! The OAuth grants of MCP servers (manifests with `oauth = true`): begun with a one-time link
//! that leads an admin to the server's consent page, finished at the status endpoint's
//! callback, kept sealed in the store under the manifest's name (never in the manifest), and
//! renewed with the refresh token before they expire or when the server refuses them.

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::ConfigSet;
use clara_core::engine::Clock;
use clara_core::store::{Millis, Store, StoreError};
use serde::{Deserialize, Serialize};

use super::oauth_discovery::{self, AuthServer};
use crate::connections::{
    OAuthState, SecretKey, StateError, TokenClient, TokenSet, pkce_challenge,
};

/// The store's user id under which servers' grants are kept: no platform's user ids start
/// with `@`.
const OWNER: &str = "@mcp";

/// How long before its expiry an access token is renewed.
const REFRESH_MARGIN_MS: Millis = 60_000;

/// Why a grant could not be made or used. Every message is safe to show an admin or a model:
/// none holds a token or a provider's raw answer.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// No key to seal the grant with.
    #[error(
        "`{0}` asks for OAuth authorization, and clara keeps such grants sealed with [runtime] secret_key_env, which is not set (at least 16 characters)"
    )]
    NoKey(String),
    /// Not authorized yet, or no longer.
    #[error(
        "the MCP server `{name}` is not authorized{why}: authorize it with `clara mcp auth {name}` or the mcp_oauth_start tool"
    )]
    NotAuthorized {
        /// The server.
        name: String,
        /// Why, when known (`: …`).
        why: String,
    },
    /// Its authorization could not be found or registered with.
    #[error("the MCP server `{name}` cannot be authorized: {why}")]
    Discovery {
        /// The server.
        name: String,
        /// What went wrong.
        why: String,
    },
    /// The token endpoint failed.
    #[error("the authorization server of `{name}` failed: {why}")]
    Provider {
        /// The server.
        name: String,
        /// Its error code, or why it could not be reached.
        why: String,
    },
    /// The link was refused.
    #[error(transparent)]
    Link(#[from] StateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an install asked for, kept with a grant that is begun before the server is
/// installed: the callback installs it once access is allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingInstall {
    /// Headers for the server (templates over `env`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Host variables the header templates read.
    #[serde(default)]
    pub secrets_env: Vec<String>,
    /// Whether the name was given rather than suggested.
    #[serde(default)]
    pub named: bool,
    /// The secret variables the asker may not hand a server (asked from the chat, Discord or
    /// the gateway); `None` at the machine.
    #[serde(default)]
    pub refused_secrets: Option<Vec<String>>,
}

/// A client registered at a server's authorization server, and where to use it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Client {
    resource: String,
    authorization_endpoint: String,
    token_endpoint: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// One server's grant as it is kept, sealed.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Grant {
    url: String,
    /// The client the tokens belong to.
    client: Client,
    #[serde(default)]
    tokens: Option<TokenSet>,
    /// A client registered for an authorization under way: it replaces `client` only when
    /// that authorization finishes, so the grant in use keeps working meanwhile (refresh
    /// tokens belong to the client that got them).
    #[serde(default)]
    pending: Option<Client>,
    #[serde(default)]
    install: Option<PendingInstall>,
}

/// A finished authorization.
#[derive(Debug)]
pub struct Finished {
    /// The server's URL.
    pub url: String,
    /// What to install, when the grant was begun by an install.
    pub install: Option<PendingInstall>,
}

/// The grants of one root's servers.
pub struct Grants {
    store: Arc<dyn Store>,
    key: Arc<SecretKey>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// Where browsers reach the status endpoint, without a trailing `/`.
    base_url: String,
    /// Tells grants sealed with another key apart, so a changed key restarts servers.
    key_id: String,
}

impl Grants {
    /// The grants of `set`'s servers in `store`; `None` when `[runtime] secret_key_env` is not
    /// set (nothing could be sealed).
    pub fn new(set: &ConfigSet, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Option<Grants> {
        let clara = &set.clara.value;
        let key = SecretKey::from_secret(set.env.get(&clara.runtime.secret_key_env)?)?;
        let base_url = clara
            .status
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", clara.status.bind));
        Some(Grants {
            key_id: key.sign(b"mcp grants key id"),
            key: Arc::new(key),
            store,
            http: oauth_discovery::client(),
            clock,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// What tells this key apart from another.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The time now.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    fn redirect_uri(&self, name: &str) -> String {
        format!("{}/mcp-oauth/{name}/callback", self.base_url)
    }

    /// Begins `name`'s grant for the server at `url`, whose authorization `server` was found:
    /// registers clara there and gives the one-time link (ten minutes) that `user_id` opens.
    /// `install` is done by the callback, once access is allowed.
    pub async fn begin(
        &self,
        name: &str,
        url: &str,
        server: AuthServer,
        install: Option<PendingInstall>,
        user_id: &str,
    ) -> Result<String, GrantError> {
        let discovery = |why: String| GrantError::Discovery {
            name: name.to_owned(),
            why,
        };
        let redirect_uri = self.redirect_uri(name);
        let registration = oauth_discovery::register(&self.http, &server, &redirect_uri, "clara")
            .await
            .map_err(discovery)?;
        let client = Client {
            resource: server.resource,
            authorization_endpoint: server.authorization_endpoint,
            token_endpoint: server.token_endpoint,
            client_id: registration.client_id,
            client_secret: registration.client_secret,
            scope: server.scope,
        };
        // A grant being renewed keeps working until the new one is made.
        let grant = match self.open(name).await?.filter(|old| old.url == url) {
            Some(old) if old.tokens.is_some() => Grant {
                pending: Some(client),
                install,
                ..old
            },
            _ => Grant {
                url: url.to_owned(),
                client,
                tokens: None,
                pending: None,
                install,
            },
        };
        self.save(name, &grant).await?;
        let now = self.clock.now();
        let state = OAuthState::new(&self.key, user_id, &connection(name), now).encode(&self.key);
        Ok(format!("{}/mcp-oauth/{name}/start/{state}", self.base_url))
    }

    /// The link that authorizes (again) the installed server `name` at `url`, for
    /// `user_id` to open; the server restarts with the new grant once it is given.
    pub async fn link_for(
        &self,
        name: &str,
        url: &str,
        user_id: &str,
    ) -> Result<String, GrantError> {
        // A server that cannot be reached now is still found from its well-known metadata.
        let challenge = oauth_discovery::challenge(&self.http, url)
            .await
            .unwrap_or_default();
        let server = oauth_discovery::discover(&self.http, url, &challenge)
            .await
            .map_err(|why| GrantError::Discovery {
                name: name.to_owned(),
                why,
            })?;
        self.begin(name, url, server, None, user_id).await
    }

    /// Where the link's start page sends the browser: the authorization server's consent
    /// page, with the PKCE challenge and the resource.
    pub async fn authorize_url(&self, name: &str, state: &str) -> Result<String, GrantError> {
        let decoded = OAuthState::decode(state, &self.key, &connection(name), self.clock.now())?;
        let grant = self
            .open(name)
            .await?
            .ok_or_else(|| self.not_authorized(name, ""))?;
        let client = grant.pending.as_ref().unwrap_or(&grant.client);
        let mut url = reqwest::Url::parse(&client.authorization_endpoint).map_err(|_| {
            GrantError::Discovery {
                name: name.to_owned(),
                why: "its authorization endpoint is not a URL".to_owned(),
            }
        })?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &self.redirect_uri(name))
                .append_pair("state", state)
                .append_pair(
                    "code_challenge",
                    &pkce_challenge(&decoded.pkce_verifier(&self.key)),
                )
                .append_pair("code_challenge_method", "S256")
                .append_pair("resource", &client.resource);
            if let Some(scope) = &client.scope {
                query.append_pair("scope", scope);
            }
        }
        Ok(url.into())
    }

    /// The callback: checks the state (once only), exchanges the code and keeps the tokens.
    pub async fn finish(
        &self,
        name: &str,
        code: &str,
        state: &str,
    ) -> Result<Finished, GrantError> {
        let now = self.clock.now();
        let decoded = OAuthState::decode(state, &self.key, &connection(name), now)?;
        if !self
            .store
            .claim_oauth_state(&decoded.nonce, decoded.expires_at, now)
            .await?
        {
            return Err(StateError::Used.into());
        }
        let mut grant = self
            .open(name)
            .await?
            .ok_or_else(|| self.not_authorized(name, ""))?;
        let client = grant.pending.take().unwrap_or_else(|| grant.client.clone());
        let verifier = decoded.pkce_verifier(&self.key);
        let redirect_uri = self.redirect_uri(name);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", client.resource.as_str()),
        ];
        let tokens = self.token_request(name, &client, &form, None).await?;
        grant.client = client;
        grant.tokens = Some(tokens);
        let install = grant.install.take();
        self.save(name, &grant).await?;
        tracing::info!(server = name, user = %decoded.user_id, "an MCP server was authorized");
        Ok(Finished {
            url: grant.url,
            install,
        })
    }

    /// Whether `name` holds a grant with tokens for `url`.
    pub async fn is_authorized(&self, name: &str, url: &str) -> Result<bool, GrantError> {
        Ok(self
            .open(name)
            .await?
            .is_some_and(|g| g.url == url && g.tokens.is_some()))
    }

    /// A current access token for `name`'s server at `url`, with when it expires; renewed
    /// first when it is about to expire or when it is `refused` (the token the server just
    /// refused). A refused token that was renewed meanwhile (by another connection, or
    /// another authorization) is not renewed again: the newer one is given.
    pub async fn access_token(
        &self,
        name: &str,
        url: &str,
        refused: Option<&str>,
    ) -> Result<(String, Option<Millis>), GrantError> {
        let now = self.clock.now();
        let grant = self
            .open(name)
            .await?
            .filter(|g| g.url == url)
            .ok_or_else(|| self.not_authorized(name, ""))?;
        let tokens = grant
            .tokens
            .clone()
            .ok_or_else(|| self.not_authorized(name, ""))?;
        let expiring = tokens
            .expires_at
            .is_some_and(|at| at - REFRESH_MARGIN_MS <= now);
        let stale = refused == Some(tokens.access_token.as_str());
        if !(expiring || stale) {
            return Ok((tokens.access_token, tokens.expires_at));
        }
        let Some(refresh) = tokens.refresh_token.as_deref() else {
            if stale || tokens.expires_at.is_some_and(|at| at <= now) {
                return Err(self.not_authorized(name, ": its access expired and cannot be renewed"));
            }
            return Ok((tokens.access_token, tokens.expires_at));
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("resource", grant.client.resource.as_str()),
        ];
        let renewed = self
            .token_request(name, &grant.client, &form, Some(refresh))
            .await;
        // Another connection or process may have renewed (or re-authorized) meanwhile: what
        // it stored wins over this answer, so a rotated refresh token is never lost.
        let now_stored = self.open(name).await?.filter(|g| g.url == url);
        let moved_on = now_stored
            .as_ref()
            .and_then(|g| g.tokens.as_ref())
            .filter(|t| t.access_token != tokens.access_token);
        if let Some(theirs) = moved_on {
            return Ok((theirs.access_token.clone(), theirs.expires_at));
        }
        let mut grant = now_stored.unwrap_or(grant);
        let renewed = match renewed {
            Ok(renewed) => renewed,
            Err(GrantError::Provider { why, .. }) if why.starts_with("invalid_grant") => {
                grant.tokens = None;
                self.save(name, &grant).await?;
                return Err(self.not_authorized(name, &format!(": {why}")));
            }
            Err(error) => return Err(error),
        };
        grant.tokens = Some(renewed.clone());
        self.save(name, &grant).await?;
        tracing::debug!(server = name, "renewed an MCP server's access token");
        Ok((renewed.access_token, renewed.expires_at))
    }

    /// Forgets `name`'s grant; whether there was one.
    pub async fn forget(&self, name: &str) -> Result<bool, GrantError> {
        Ok(self.store.delete_token(OWNER, &connection(name)).await?)
    }

    fn not_authorized(&self, name: &str, why: &str) -> GrantError {
        GrantError::NotAuthorized {
            name: name.to_owned(),
            why: why.to_owned(),
        }
    }

    async fn token_request(
        &self,
        name: &str,
        client: &Client,
        form: &[(&str, &str)],
        previous_refresh: Option<&str>,
    ) -> Result<TokenSet, GrantError> {
        let token_client = TokenClient {
            url: &client.token_endpoint,
            client_id: &client.client_id,
            client_secret: client.client_secret.as_deref(),
        };
        token_client
            .request(&self.http, form, self.clock.now(), previous_refresh)
            .await
            .map_err(|why| GrantError::Provider {
                name: name.to_owned(),
                why,
            })
    }

    /// `name`'s grant; `None` when there is none or it does not open with this key.
    async fn open(&self, name: &str) -> Result<Option<Grant>, GrantError> {
        let Some(stored) = self.store.token(OWNER, &connection(name)).await? else {
            return Ok(None);
        };
        let plain = self
            .key
            .open(&stored.sealed, &owner(name))
            .inspect_err(|e| tracing::warn!(server = name, "{e}"))
            .ok();
        Ok(plain.and_then(|p| serde_json::from_slice(&p).ok()))
    }

    async fn save(&self, name: &str, grant: &Grant) -> Result<(), GrantError> {
        let plain = serde_json::to_vec(grant).expect("a grant serializes");
        let sealed = self.key.seal(&plain, &owner(name));
        let expires_at = grant.tokens.as_ref().and_then(|t| t.expires_at);
        self.store
            .save_token(
                OWNER,
                &connection(name),
                &sealed,
                expires_at,
                self.clock.now(),
            )
            .await?;
        Ok(())
    }
}

/// The name a server's grant and its links go by, apart from users' connections.
fn connection(name: &str) -> String {
    format!("mcp/{name}")
}

/// What a server's sealed grant is bound to.
fn owner(name: &str) -> String {
    format!("{OWNER}\0{}", connection(name))
}
