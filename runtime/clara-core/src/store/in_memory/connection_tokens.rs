//! [`ConnectionTokens`] in memory: one token per user and connection, and the OAuth states
//! used, with their expiry.

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::{ConnectionTokens, Millis, StoreResult, StoredToken};

/// The key a user's token for a connection is kept under.
fn key(user_id: &str, connection: &str) -> (String, String) {
    (user_id.to_owned(), connection.to_owned())
}

impl ConnectionTokens for InMemoryStore {
    fn save_token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
        sealed: &'a [u8],
        expires_at: Option<Millis>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            let token = StoredToken {
                sealed: sealed.to_vec(),
                expires_at,
                updated_at: now,
            };
            state
                .connection_tokens
                .insert(key(user_id, connection), token);
            Ok(())
        })
    }

    fn token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<StoredToken>>> {
        self.with(|state| {
            Ok(state
                .connection_tokens
                .get(&key(user_id, connection))
                .cloned())
        })
    }

    fn delete_token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            let removed = state.connection_tokens.remove(&key(user_id, connection));
            Ok(removed.is_some())
        })
    }

    fn claim_oauth_state<'a>(
        &'a self,
        nonce: &'a str,
        expires_at: Millis,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            state.oauth_states.retain(|_, expiry| *expiry >= now);
            if state.oauth_states.contains_key(nonce) {
                return Ok(false);
            }
            state.oauth_states.insert(nonce.to_owned(), expires_at);
            Ok(true)
        })
    }
}
