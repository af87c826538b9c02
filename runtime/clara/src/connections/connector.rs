//! Connecting users' accounts: the link a user opens, the authorization code exchanged at the
//! callback, tokens sealed in the store, refreshed before they expire, revoked on disconnect.
//! Built from a configuration (cheap: no I/O), so it follows reloads.

use std::collections::BTreeMap;

use clara_config::ConfigSet;
use clara_config::model::connection::Connection;
use clara_core::store::{Millis, Store, StoreError};
use reqwest::header::CONTENT_TYPE;

use super::oauth_state::{OAuthState, StateError, pkce_challenge};
use super::secret_key::SecretKey;
use super::token_endpoint::{ENDPOINT_TIMEOUT, FORM, TokenClient, form_body};
use super::token_set::TokenSet;

/// How long before its expiry an access token is renewed.
const REFRESH_MARGIN_MS: Millis = 60_000;

/// Why a connection could not be used or made. Every message is safe to show a user or a
/// model: none holds a token, a secret or a provider's raw answer.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No such connection in `clara.toml`.
    #[error("there is no connection `{0}`")]
    Unknown(String),
    /// The connection's client id, or the secret key, is not set.
    #[error("{title} is not set up on this clara: {why}")]
    NotSetUp {
        /// The connection's title.
        title: String,
        /// What is missing.
        why: String,
    },
    /// The user has not connected it.
    #[error("{title} is not connected. Connect first: {link}")]
    NotConnected {
        /// The connection's title.
        title: String,
        /// Where to connect.
        link: String,
    },
    /// The provider no longer takes the user's refresh token.
    #[error("{title} no longer accepts the saved access: {why}. Connect again: {link}")]
    Reconnect {
        /// The connection's title.
        title: String,
        /// The provider's reason.
        why: String,
        /// Where to connect.
        link: String,
    },
    /// The OAuth link was refused.
    #[error(transparent)]
    Link(#[from] StateError),
    /// The provider's token endpoint failed.
    #[error("{title}'s token endpoint failed: {why}")]
    Provider {
        /// The connection's title.
        title: String,
        /// What it answered (its error code), or why it could not be reached.
        why: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The connections of one configuration.
pub struct Connector {
    connections: BTreeMap<String, Connection>,
    /// Client id and secret of each connection whose id is set.
    clients: BTreeMap<String, (String, Option<String>)>,
    key: Option<SecretKey>,
    key_env: String,
    /// Where browsers reach the status endpoint, without a trailing `/`.
    base_url: String,
    http: reqwest::Client,
}

/// A connection and what a user's call needs of it.
pub(super) struct Ready<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub connection: &'a Connection,
    client_id: &'a str,
    client_secret: Option<&'a str>,
    pub key: &'a SecretKey,
}

impl Connector {
    /// The connections `set` declares, with their client credentials and the secret key from
    /// its environment.
    pub fn new(set: &ConfigSet, http: reqwest::Client) -> Connector {
        let clara = &set.clara.value;
        let clients = clara
            .connections
            .iter()
            .filter_map(|(name, c)| {
                let id = set.env.get(&c.client_id_env)?.trim();
                let secret = c
                    .client_secret_env
                    .as_ref()
                    .and_then(|var| set.env.get(var))
                    .map(|s| s.trim().to_owned());
                (!id.is_empty()).then(|| (name.clone(), (id.to_owned(), secret)))
            })
            .collect();
        let key_env = clara.runtime.secret_key_env.clone();
        let status = &clara.status;
        let base_url = status
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", status.bind));
        Connector {
            connections: clara.connections.clone(),
            clients,
            key: set.env.get(&key_env).and_then(SecretKey::from_secret),
            key_env,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// Whether connection `name` is set up (its client id and the secret key are set).
    pub fn is_available(&self, name: &str) -> bool {
        self.ready(name).is_ok()
    }

    /// The name and title of every connection that is set up (its client id and the secret
    /// key are set): the ones users can connect.
    pub fn available(&self) -> impl Iterator<Item = (&str, &str)> {
        self.connections
            .iter()
            .filter(|(name, _)| self.is_available(name))
            .map(|(name, c)| (name.as_str(), c.title(name)))
    }

    /// The title of connection `name`.
    pub fn title<'a>(&'a self, name: &'a str) -> &'a str {
        self.connections.get(name).map_or(name, |c| c.title(name))
    }

    pub(super) fn ready<'a>(&'a self, name: &'a str) -> Result<Ready<'a>, ConnectError> {
        let connection = self
            .connections
            .get(name)
            .ok_or_else(|| ConnectError::Unknown(name.to_owned()))?;
        let title = connection.title(name);
        let not_set_up = |why: String| ConnectError::NotSetUp {
            title: title.to_owned(),
            why,
        };
        let (client_id, client_secret) = self.clients.get(name).ok_or_else(|| {
            not_set_up(format!(
                "the variable `{}` (its OAuth client id) is not set",
                connection.client_id_env
            ))
        })?;
        let key = self.key.as_ref().ok_or_else(|| {
            not_set_up(format!(
                "the variable `{}` (at least 16 characters) is not set",
                self.key_env
            ))
        })?;
        Ok(Ready {
            name,
            title,
            connection,
            client_id,
            client_secret: client_secret.as_deref(),
            key,
        })
    }

    /// The key that seals users' secrets, when `[runtime] secret_key_env` is set.
    pub fn secret_key(&self) -> Option<&SecretKey> {
        self.key.as_ref()
    }

    /// The HTTP client calls to providers go through.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Where people's browsers reach the status endpoint (`[status] public_url`, else `bind`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The link that connects `user_id` to `name`, working once for ten minutes.
    pub fn link(&self, user_id: &str, name: &str, now: Millis) -> Result<String, ConnectError> {
        let ready = self.ready(name)?;
        let state = OAuthState::new(ready.key, user_id, name, now).encode(ready.key);
        Ok(format!("{}/oauth/{name}/start/{state}", self.base_url))
    }

    /// The connection links in `text` (as [`link`](Self::link) writes them), each with the
    /// title of its connection: what an adapter shows as a button.
    pub fn links_in(&self, text: &str) -> Vec<(String, String)> {
        let prefix = format!("{}/oauth/", self.base_url);
        text.split_whitespace()
            .filter_map(|word| {
                let start = word.find(&prefix)?;
                let url = word[start..].trim_end_matches(|c: char| {
                    !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                });
                let (name, _) = url[prefix.len()..].split_once("/start/")?;
                let connection = self.connections.get(name)?;
                Some((connection.title(name).to_owned(), url.to_owned()))
            })
            .collect()
    }

    pub(super) fn redirect_uri(&self, name: &str) -> String {
        format!("{}/oauth/{name}/callback", self.base_url)
    }

    /// Where the link's start page sends the browser: the provider's consent page.
    pub fn authorize_url(
        &self,
        name: &str,
        state: &str,
        now: Millis,
    ) -> Result<String, ConnectError> {
        let ready = self.ready(name)?;
        let decoded = connect_state(state, &ready, now)?;
        let connection = ready.connection;
        self.consent_url(
            &ready,
            &decoded,
            state,
            &self.redirect_uri(name),
            &connection.scopes,
            &connection.authorize_params,
        )
    }

    /// The provider's consent page for `decoded` (sent as `state`), asking for `scopes`.
    pub(super) fn consent_url(
        &self,
        ready: &Ready<'_>,
        decoded: &OAuthState,
        state: &str,
        redirect_uri: &str,
        scopes: &[String],
        params: &BTreeMap<String, String>,
    ) -> Result<String, ConnectError> {
        let connection = ready.connection;
        let mut url =
            reqwest::Url::parse(&connection.authorize_url).map_err(|e| ConnectError::NotSetUp {
                title: ready.title.to_owned(),
                why: format!("its authorize_url is not a URL: {e}"),
            })?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", ready.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state);
            if !scopes.is_empty() {
                query.append_pair("scope", &scopes.join(" "));
            }
            if connection.pkce {
                let challenge = pkce_challenge(&decoded.pkce_verifier(ready.key));
                query
                    .append_pair("code_challenge", &challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            for (name, value) in params {
                query.append_pair(name, value);
            }
        }
        Ok(url.into())
    }

    /// The callback: checks the state (once only), exchanges the code and keeps the tokens
    /// for the user the link was made for. Returns the connection's title.
    pub async fn finish(
        &self,
        store: &dyn Store,
        name: &str,
        code: &str,
        state: &str,
        now: Millis,
    ) -> Result<String, ConnectError> {
        let ready = self.ready(name)?;
        let decoded = connect_state(state, &ready, now)?;
        let redirect_uri = self.redirect_uri(name);
        let tokens = self
            .redeem(store, &ready, &decoded, code, &redirect_uri, now)
            .await?;
        self.save(store, &ready, &decoded.user_id, &tokens, now)
            .await?;
        tracing::info!(user = %decoded.user_id, connection = name, "a connection was made");
        Ok(ready.title.to_owned())
    }

    /// A current access token of `user_id` for `name`, renewed first when it is about to
    /// expire or when `stale` (the API refused it).
    pub async fn access_token(
        &self,
        store: &dyn Store,
        user_id: &str,
        name: &str,
        now: Millis,
        stale: bool,
    ) -> Result<String, ConnectError> {
        let ready = self.ready(name)?;
        let stored = store.token(user_id, name).await?;
        // Tokens that no longer open (another key) count as none: the user connects again.
        let Some(tokens) = stored.and_then(|s| ready.open(user_id, &s.sealed)) else {
            return Err(ConnectError::NotConnected {
                title: ready.title.to_owned(),
                link: self.link(user_id, name, now)?,
            });
        };
        let expiring = tokens
            .expires_at
            .is_some_and(|at| at - REFRESH_MARGIN_MS <= now);
        if !(expiring || stale) {
            return Ok(tokens.access_token);
        }
        let Some(refresh) = tokens.refresh_token.as_deref() else {
            // Nothing renews it: use it while it lasts, then ask for a new connection.
            if stale || tokens.expires_at.is_some_and(|at| at <= now) {
                return Err(ConnectError::Reconnect {
                    title: ready.title.to_owned(),
                    why: "the access expired and cannot be renewed".to_owned(),
                    link: self.link(user_id, name, now)?,
                });
            }
            return Ok(tokens.access_token);
        };
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        let renewed = match self.token_request(&ready, &form, now, Some(refresh)).await {
            Ok(renewed) => renewed,
            Err(ConnectError::Provider { why, .. }) if why.starts_with("invalid_grant") => {
                store.delete_token(user_id, name).await?;
                return Err(ConnectError::Reconnect {
                    title: ready.title.to_owned(),
                    why,
                    link: self.link(user_id, name, now)?,
                });
            }
            Err(error) => return Err(error),
        };
        self.save(store, &ready, user_id, &renewed, now).await?;
        Ok(renewed.access_token)
    }

    /// Whether `user_id` has connected `name`, and until when its access token runs.
    pub async fn status(
        &self,
        store: &dyn Store,
        user_id: &str,
        name: &str,
    ) -> Result<Option<Option<Millis>>, ConnectError> {
        Ok(store
            .token(user_id, name)
            .await?
            .map(|stored| stored.expires_at))
    }

    /// Revokes `user_id`'s tokens for `name` at the provider (when it has a revoke endpoint;
    /// a failure there is logged) and forgets them. Whether there were any.
    pub async fn disconnect(
        &self,
        store: &dyn Store,
        user_id: &str,
        name: &str,
    ) -> Result<bool, ConnectError> {
        let Some(stored) = store.token(user_id, name).await? else {
            return Ok(false);
        };
        if let Ok(ready) = self.ready(name)
            && let Some(revoke_url) = &ready.connection.revoke_url
            && let Some(tokens) = ready.open(user_id, &stored.sealed)
        {
            let token = tokens.refresh_token.unwrap_or(tokens.access_token);
            let mut form = vec![("token", token.as_str()), ("client_id", ready.client_id)];
            if let Some(secret) = ready.client_secret {
                form.push(("client_secret", secret));
            }
            let sent = self
                .http
                .post(revoke_url)
                .header(CONTENT_TYPE, FORM)
                .body(form_body(&form))
                .timeout(ENDPOINT_TIMEOUT)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(connection = name, status = %response.status(), "the provider did not confirm the revocation; the tokens are forgotten here anyway");
                }
                Err(error) => {
                    tracing::warn!(connection = name, error = %error.without_url(), "the revocation could not be sent; the tokens are forgotten here anyway");
                }
            }
        }
        Ok(store.delete_token(user_id, name).await?)
    }

    /// Claims `decoded`'s nonce (a state works once) and exchanges the callback's `code`,
    /// with the PKCE verifier when the connection sends a challenge.
    pub(super) async fn redeem(
        &self,
        store: &dyn Store,
        ready: &Ready<'_>,
        decoded: &OAuthState,
        code: &str,
        redirect_uri: &str,
        now: Millis,
    ) -> Result<TokenSet, ConnectError> {
        if !store
            .claim_oauth_state(&decoded.nonce, decoded.expires_at, now)
            .await?
        {
            return Err(StateError::Used.into());
        }
        let verifier = decoded.pkce_verifier(ready.key);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if ready.connection.pkce {
            form.push(("code_verifier", verifier.as_str()));
        }
        self.token_request(ready, &form, now, None).await
    }

    async fn token_request(
        &self,
        ready: &Ready<'_>,
        form: &[(&str, &str)],
        now: Millis,
        previous_refresh: Option<&str>,
    ) -> Result<TokenSet, ConnectError> {
        let client = TokenClient {
            url: &ready.connection.token_url,
            client_id: ready.client_id,
            client_secret: ready.client_secret,
        };
        client
            .request(&self.http, form, now, previous_refresh)
            .await
            .map_err(|why| ConnectError::Provider {
                title: ready.title.to_owned(),
                why,
            })
    }

    async fn save(
        &self,
        store: &dyn Store,
        ready: &Ready<'_>,
        user_id: &str,
        tokens: &TokenSet,
        now: Millis,
    ) -> Result<(), ConnectError> {
        let plain = serde_json::to_vec(tokens).expect("tokens serialize");
        let sealed = ready.key.seal(&plain, &owner(user_id, ready.name));
        store
            .save_token(user_id, ready.name, &sealed, tokens.expires_at, now)
            .await?;
        Ok(())
    }
}

impl Ready<'_> {
    /// `user_id`'s tokens as [`Connector::save`] sealed them; `None` when they do not open
    /// (sealed with another key) or do not read.
    fn open(&self, user_id: &str, sealed: &[u8]) -> Option<TokenSet> {
        let plain = self
            .key
            .open(sealed, &owner(user_id, self.name))
            .inspect_err(|e| tracing::warn!(user = %user_id, connection = self.name, "{e}"))
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// A connect link's state. A console sign-in's state, signed with the same key, is refused:
/// it would otherwise open the consent page for every scope and keep tokens for no one.
fn connect_state(state: &str, ready: &Ready<'_>, now: Millis) -> Result<OAuthState, ConnectError> {
    let decoded = OAuthState::decode(state, ready.key, ready.name, now)?;
    if decoded.sign_in_browser().is_some() {
        return Err(StateError::Forged.into());
    }
    Ok(decoded)
}

/// What sealed tokens are bound to: one user's, for one connection.
fn owner(user_id: &str, connection: &str) -> String {
    format!("{user_id}\0{connection}")
}
