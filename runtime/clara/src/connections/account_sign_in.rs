//! Logging in to the console with a connection's account: the provider's consent page asks
//! only `account_scopes`, the callback exchanges the code and asks `account_url` whose
//! account it is. Nothing is kept but the spent nonce; the state is bound to the browser that
//! started, so a callback link passed to someone else logs no one in.

use std::collections::BTreeMap;

use clara_core::store::{Millis, Store};
use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde_json::Value;

use super::connector::{ConnectError, Connector};
use super::oauth_state::{OAuthState, StateError};
use super::token_endpoint::ENDPOINT_TIMEOUT;

/// What the console's login adds to a connection's callback path (`/oauth/NAME/callback`).
pub const SIGN_IN_SUFFIX: &str = "/console";

impl Connector {
    /// The provider's consent page for logging in with `name`, bound to `browser` (a random
    /// value the browser holds in a cookie).
    pub fn sign_in_url(
        &self,
        name: &str,
        browser: &str,
        now: Millis,
    ) -> Result<String, ConnectError> {
        let ready = self.ready(name)?;
        let state = OAuthState::for_sign_in(ready.key, browser, name, now);
        let encoded = state.encode(ready.key);
        self.consent_url(
            &ready,
            &state,
            &encoded,
            &self.sign_in_redirect(name),
            &ready.connection.account_scopes,
            &BTreeMap::new(),
        )
    }

    /// The account the callback's `code` belongs to, for a `state` that `browser` started
    /// (once only).
    pub async fn signed_in_account(
        &self,
        store: &dyn Store,
        name: &str,
        code: &str,
        state: &str,
        browser: &str,
        now: Millis,
    ) -> Result<String, ConnectError> {
        let ready = self.ready(name)?;
        let decoded = OAuthState::decode(state, ready.key, name, now)?;
        if decoded.sign_in_browser() != Some(browser) {
            return Err(StateError::Forged.into());
        }
        let provider = |why: String| ConnectError::Provider {
            title: ready.title.to_owned(),
            why,
        };
        let Some(account_url) = &ready.connection.account_url else {
            return Err(ConnectError::NotSetUp {
                title: ready.title.to_owned(),
                why: "its account_url is not set".to_owned(),
            });
        };
        let redirect_uri = self.sign_in_redirect(name);
        let tokens = self
            .redeem(store, &ready, &decoded, code, &redirect_uri, now)
            .await?;
        let response = self
            .http()
            .get(account_url)
            .header(AUTHORIZATION, format!("Bearer {}", tokens.access_token))
            .header(ACCEPT, "application/json")
            .timeout(ENDPOINT_TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                provider(format!(
                    "its account_url could not be reached: {}",
                    e.without_url()
                ))
            })?;
        if !response.status().is_success() {
            return Err(provider(format!(
                "its account_url answered {}",
                response.status()
            )));
        }
        let account: Value = response
            .json()
            .await
            .map_err(|_| provider("its account_url did not answer JSON".to_owned()))?;
        let connection = ready.connection;
        if let Some(field) = &connection.account_verified_field
            && account[field.as_str()] != Value::Bool(true)
        {
            return Err(provider(format!("the account's `{field}` is not true")));
        }
        match &account[connection.account_field.as_str()] {
            Value::String(name) if !name.is_empty() => Ok(name.clone()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(provider(format!(
                "its account_url's answer has no `{}`",
                connection.account_field
            ))),
        }
    }

    /// Under the connection's own callback, so a GitHub app, which takes redirects below its
    /// one registered callback, needs no second one.
    fn sign_in_redirect(&self, name: &str) -> String {
        format!("{}{SIGN_IN_SUFFIX}", self.redirect_uri(name))
    }
}
