//! The `state` of an OAuth link: whose connection it starts, signed so it cannot be forged or
//! altered, expiring, and used once (the callback claims its nonce in the store). The PKCE
//! verifier is derived from it, so nothing is kept between the link and the callback.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clara_core::store::Millis;
use serde::{Deserialize, Serialize};

use super::secret_key::SecretKey;

/// What a console sign-in's state holds in its user slot, before the browser's own value.
const SIGN_IN: &str = "console-login:";

/// How long a link works.
pub const LINK_LIFETIME_MS: Millis = 10 * 60 * 1000;

/// What a link's `state` carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// Whose connection it makes.
    #[serde(rename = "u")]
    pub user_id: String,
    /// Which connection.
    #[serde(rename = "c")]
    pub connection: String,
    /// Random; claimed once.
    #[serde(rename = "n")]
    pub nonce: String,
    /// When the link stops working.
    #[serde(rename = "e")]
    pub expires_at: Millis,
}

/// Why a link's `state` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// Not signed by this clara's key, or changed since.
    #[error("the link is not one clara made, or it was altered")]
    Forged,
    /// Past its lifetime.
    #[error("the link has expired")]
    Expired,
    /// Its callback already ran.
    #[error("the link was already used")]
    Used,
}

impl OAuthState {
    /// A fresh state for `user_id`'s `connection`, working until `now` plus the lifetime.
    pub fn new(key: &SecretKey, user_id: &str, connection: &str, now: Millis) -> OAuthState {
        OAuthState {
            user_id: user_id.to_owned(),
            connection: connection.to_owned(),
            nonce: key.random(16),
            expires_at: now + LINK_LIFETIME_MS,
        }
    }

    /// A fresh state for logging in to the console with `connection`, bound to `browser` (a
    /// random value the browser keeps in a cookie) instead of a user.
    pub fn for_sign_in(
        key: &SecretKey,
        browser: &str,
        connection: &str,
        now: Millis,
    ) -> OAuthState {
        OAuthState::new(key, &format!("{SIGN_IN}{browser}"), connection, now)
    }

    /// The browser a console sign-in's state is bound to; `None` for a connect link's.
    pub fn sign_in_browser(&self) -> Option<&str> {
        self.user_id.strip_prefix(SIGN_IN)
    }

    /// The state as it travels: its JSON, URL-safe, then its signature.
    pub fn encode(&self, key: &SecretKey) -> String {
        let json = serde_json::to_vec(self).expect("a state serializes");
        let body = URL_SAFE_NO_PAD.encode(json);
        let signature = key.sign(body.as_bytes());
        format!("{body}.{signature}")
    }

    /// A state that `key` signed, unaltered and not expired at `now`, for `connection`.
    pub fn decode(
        text: &str,
        key: &SecretKey,
        connection: &str,
        now: Millis,
    ) -> Result<OAuthState, StateError> {
        let (body, signature) = text.split_once('.').ok_or(StateError::Forged)?;
        if !key.verify(body.as_bytes(), signature) {
            return Err(StateError::Forged);
        }
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| StateError::Forged)?;
        let state: OAuthState = serde_json::from_slice(&json).map_err(|_| StateError::Forged)?;
        if state.connection != connection {
            return Err(StateError::Forged);
        }
        if now >= state.expires_at {
            return Err(StateError::Expired);
        }
        Ok(state)
    }

    /// The PKCE code verifier (43 URL-safe characters), derived from the nonce with the key.
    pub fn pkce_verifier(&self, key: &SecretKey) -> String {
        key.sign(format!("pkce {}", self.nonce).as_bytes())
    }
}

/// The S256 challenge of a PKCE verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_secret("correct horse battery staple").expect("long enough")
    }

    #[test]
    fn a_state_round_trips_and_refuses_tampering_expiry_and_the_wrong_connection() {
        let key = key();
        let state = OAuthState::new(&key, "ann", "google", 1_000);
        let text = state.encode(&key);
        assert_eq!(
            OAuthState::decode(&text, &key, "google", 2_000),
            Ok(state.clone())
        );
        let expired = OAuthState::decode(&text, &key, "google", 1_000 + LINK_LIFETIME_MS);
        assert_eq!(expired, Err(StateError::Expired));
        assert_eq!(
            OAuthState::decode(&text, &key, "github", 2_000),
            Err(StateError::Forged)
        );
        let mine = OAuthState {
            user_id: "mallory".to_owned(),
            ..state.clone()
        };
        let (_, signature) = text.split_once('.').unwrap();
        let (body, _) = mine
            .encode(&key)
            .split_once('.')
            .map(|(b, s)| (b.to_owned(), s.to_owned()))
            .unwrap();
        assert_eq!(
            OAuthState::decode(&format!("{body}.{signature}"), &key, "google", 2_000),
            Err(StateError::Forged),
            "another user's body under this signature"
        );
        let other = SecretKey::from_secret("another long secret value").expect("long enough");
        assert_eq!(
            OAuthState::decode(&text, &other, "google", 2_000),
            Err(StateError::Forged)
        );
    }

    #[test]
    fn the_pkce_pair_follows_rfc_7636() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let key = key();
        let verifier = OAuthState::new(&key, "ann", "google", 0).pkce_verifier(&key);
        assert_eq!(verifier.len(), 43);
    }
}
