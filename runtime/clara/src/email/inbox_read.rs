//! One watched account's new mail, whatever its kind: IMAP with its sealed password opened,
//! or Gmail with the user's connection; both end as messages and an opaque cursor.

use std::time::Duration;

use clara_config::model::email::EmailConfig;
use clara_core::engine::Generation;
use clara_core::store::{EmailAccount, Millis};

use super::gmail_mailbox::{GmailCursor, with_renewal};
use super::imap_mailbox::{Cursor, ImapLogin, ImapMailbox};
use super::inbox_link::password_owner;
use super::new_mail::{NewMail, RawMail};
use crate::connections::Connector;

/// New mail of one account, whatever its kind: its messages and where reading stopped (as
/// the store keeps it).
pub(super) struct Found {
    /// Where reading stopped, as the store keeps it.
    pub cursor: Option<String>,
    /// New messages, oldest first.
    pub messages: Vec<RawMail>,
    /// More wait beyond the bound.
    pub more: bool,
}

impl<C: serde::Serialize> From<NewMail<C>> for Found {
    fn from(new: NewMail<C>) -> Found {
        Found {
            cursor: new.cursor.and_then(|c| serde_json::to_string(&c).ok()),
            messages: new.messages,
            more: new.more,
        }
    }
}

/// An IMAP account's new mail, with its password opened by the secret key.
pub(super) async fn read_imap(
    email: &EmailConfig,
    connector: &Connector,
    account: &EmailAccount,
) -> Result<Found, String> {
    let key = connector
        .secret_key()
        .ok_or("the secret key that opens the password is not set")?;
    let owner = password_owner(&account.user_id, &account.address, &account.host);
    let sealed = account.sealed_password.as_deref().unwrap_or_default();
    let password = key
        .open(sealed, &owner)
        .ok()
        .and_then(|p| String::from_utf8(p).ok())
        .ok_or("the saved password no longer opens (was the secret key changed?): connect the inbox again")?;
    let login = ImapLogin {
        host: account.host.clone(),
        port: account.port,
        tls: account.tls,
        user: account.address.clone(),
        password,
    };
    let cursor: Option<Cursor> = account
        .cursor
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let timeout = Duration::from_secs(u64::from(email.timeout_secs));
    let mut inbox = ImapMailbox::open(&login, timeout)
        .await
        .map_err(|e| e.to_string())?;
    let found = inbox
        .new_mail(cursor, email.max_messages_per_poll, email.max_message_bytes)
        .await;
    inbox.close().await;
    found.map(Found::from).map_err(|e| e.to_string())
}

/// A Gmail account's new mail, read with the user's connection; a token Google refuses is
/// renewed once.
pub(super) async fn read_gmail(
    generation: &Generation,
    connector: &Connector,
    account: &EmailAccount,
    now: Millis,
) -> Result<Found, String> {
    let email = &generation.config.clara.value.email;
    let store = generation.services.store.as_ref();
    let cursor: Option<GmailCursor> = account
        .cursor
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    with_renewal(
        connector,
        store,
        &account.user_id,
        email,
        now,
        |mailbox| async move {
            mailbox
                .new_mail(cursor, email.max_messages_per_poll, email.max_message_bytes)
                .await
        },
    )
    .await
    .map(Found::from)
    .map_err(|e| e.to_string())
}
