//! Connection tokens: each user's OAuth tokens per connection (Google, GitHub …), sealed by the
//! caller, and the OAuth `state` nonces already used, so a replayed callback is refused even
//! across processes sharing one database.

use super::{Millis, StoreResult};
use crate::llm::BoxFuture;

/// A user's tokens for one connection, sealed (encrypted) by the caller: the store never sees them in the clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredToken {
    /// The tokens as the caller sealed them; opaque bytes here.
    pub sealed: Vec<u8>,
    /// When the access token expires, if the provider said.
    pub expires_at: Option<Millis>,
    /// When it was saved (connected or refreshed).
    pub updated_at: Millis,
}

/// Users' connection tokens and the OAuth states already used, shared by every instance using
/// the store.
pub trait ConnectionTokens: Send + Sync {
    /// Saves (or replaces) `user_id`'s tokens for `connection`.
    fn save_token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
        sealed: &'a [u8],
        expires_at: Option<Millis>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// `user_id`'s tokens for `connection`, if connected.
    fn token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<StoredToken>>>;

    /// Forgets them; whether there were any.
    fn delete_token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Marks the OAuth state `nonce` used: true the first time, false ever after (a replay).
    /// Also forgets nonces whose `expires_at` is before `now` (a state past its expiry is
    /// refused before this is asked, so forgetting it is safe).
    fn claim_oauth_state<'a>(
        &'a self,
        nonce: &'a str,
        expires_at: Millis,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}
