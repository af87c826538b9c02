//! The one-time link a user connects an inbox with, and what an inbox's sealed password is
//! bound to: shared by the tool that gives the link, the page it opens and the watcher that
//! opens the password.

use clara_core::store::Millis;

use crate::connections::{Connector, OAuthState, SecretKey};

/// The connection name an inbox link's state carries (never a `[connections]` name, which
/// `clara validate` sees to: those links are refused here, and these there).
pub use clara_config::model::email::INBOX_LINK_KIND as LINK_KIND;

/// What a sealed password is bound to: only this user's account at this address and server
/// opens it.
pub fn password_owner(user_id: &str, address: &str, host: &str) -> String {
    format!("{user_id}\0email:{address}@{host}")
}

/// The link that lets `user_id` connect an inbox, prefilled with `address` (and `host`).
pub fn connect_link(
    connector: &Connector,
    key: &SecretKey,
    user_id: &str,
    address: Option<&str>,
    now: Millis,
) -> String {
    let state = OAuthState::new(key, user_id, LINK_KIND, now).encode(key);
    let query = address
        .map(|a| {
            let encoded: String = url::form_urlencoded::byte_serialize(a.as_bytes()).collect();
            format!("?address={encoded}")
        })
        .unwrap_or_default();
    format!("{}/email/connect/{state}{query}", connector.base_url())
}
