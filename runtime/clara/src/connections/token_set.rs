//! A user's tokens for one connection as the token endpoint gives them (RFC 6749 §5.1), kept
//! sealed in the store as JSON.

use clara_core::store::Millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An access token and what renews it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// Sent as `Authorization: Bearer …`.
    pub access_token: String,
    /// Gets a new access token when this one expires.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// When the access token expires, if the provider said.
    #[serde(default)]
    pub expires_at: Option<Millis>,
}

impl TokenSet {
    /// Reads a token endpoint's answer at `now`. A refresh answer may leave out the refresh
    /// token: `previous` is kept then. The error is the provider's own `error` code and
    /// description, or what is missing; never the body, which may hold a token.
    pub fn from_response(
        body: &str,
        now: Millis,
        previous: Option<&str>,
    ) -> Result<TokenSet, String> {
        let value: Value =
            serde_json::from_str(body).map_err(|_| "its answer is not JSON".to_owned())?;
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            let description = value
                .get("error_description")
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(format!("{error}{description}"));
        }
        let access_token = value
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "its answer has no access_token".to_owned())?;
        let expires_in = value.get("expires_in").and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
        Ok(TokenSet {
            access_token: access_token.to_owned(),
            refresh_token: value
                .get("refresh_token")
                .and_then(Value::as_str)
                .or(previous)
                .map(str::to_owned),
            expires_at: expires_in.map(|secs| now + secs * 1000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_and_errors_say_only_the_provider_code() {
        let tokens = TokenSet::from_response(
            r#"{"access_token":"at","refresh_token":"rt","expires_in":3600,"token_type":"Bearer"}"#,
            1_000,
            None,
        );
        assert_eq!(
            tokens,
            Ok(TokenSet {
                access_token: "at".to_owned(),
                refresh_token: Some("rt".to_owned()),
                expires_at: Some(3_601_000),
            })
        );
        let refreshed = TokenSet::from_response(r#"{"access_token":"at2"}"#, 0, Some("rt"));
        assert_eq!(refreshed.unwrap().refresh_token.as_deref(), Some("rt"));
        assert_eq!(
            TokenSet::from_response(
                r#"{"error":"invalid_grant","error_description":"Token has been revoked."}"#,
                0,
                None
            ),
            Err("invalid_grant (Token has been revoked.)".to_owned())
        );
        assert!(TokenSet::from_response("<html>oops</html>", 0, None).is_err());
        assert!(TokenSet::from_response(r#"{"token":"x"}"#, 0, None).is_err());
    }
}
