//! One request to an OAuth token endpoint (RFC 6749 §4.1.3, §6): the form with the client's
//! credentials, and the answer read into a [`TokenSet`]. Used by connections and by the grants
//! of OAuth-protected MCP servers.

use std::time::Duration;

use clara_core::store::Millis;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use super::token_set::TokenSet;

/// Longest a call to a token endpoint may take.
pub const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(20);

/// The media type of a form body.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// The client a token request is made as.
pub struct TokenClient<'a> {
    /// The token endpoint.
    pub url: &'a str,
    /// The client id.
    pub client_id: &'a str,
    /// The client secret, for a confidential client.
    pub client_secret: Option<&'a str>,
}

impl TokenClient<'_> {
    /// Posts `form` (with the client's credentials added) and reads the tokens at `now`; a
    /// refresh answer without a refresh token keeps `previous_refresh`. The error says why
    /// in words safe to show anyone: the provider's error code, or what went wrong, never
    /// the body (which may hold a token).
    pub async fn request(
        &self,
        http: &reqwest::Client,
        form: &[(&str, &str)],
        now: Millis,
        previous_refresh: Option<&str>,
    ) -> Result<TokenSet, String> {
        let mut form = form.to_vec();
        form.push(("client_id", self.client_id));
        if let Some(secret) = self.client_secret {
            form.push(("client_secret", secret));
        }
        let response = http
            .post(self.url)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, FORM)
            .body(form_body(&form))
            .timeout(ENDPOINT_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("it could not be reached ({})", e.without_url()))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("its answer could not be read ({})", e.without_url()))?;
        match TokenSet::from_response(&body, now, previous_refresh) {
            Ok(tokens) if status.is_success() => Ok(tokens),
            Ok(_) => Err(format!("HTTP {status}")),
            Err(why) if status.is_success() => Err(why),
            Err(why) if body.trim_start().starts_with('{') => Err(why),
            Err(_) => Err(format!("HTTP {status}")),
        }
    }
}

/// `pairs`, form-encoded.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
