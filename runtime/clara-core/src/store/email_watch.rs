//! Email watching: the inboxes users connect (their passwords sealed by the caller), each
//! one's place in its mailbox and next check, users' rules and alert settings, and the alerts
//! sent — one per message, however many instances poll one database.

use super::{Millis, StoreResult};
use crate::llm::BoxFuture;

/// An inbox a user connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAccount {
    /// Its id.
    pub id: i64,
    /// Whose it is.
    pub user_id: String,
    /// `imap` or `gmail`.
    pub kind: String,
    /// The address (or IMAP user name) shown to the user.
    pub address: String,
    /// The IMAP server (empty for Gmail).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// TLS from the start.
    pub tls: bool,
    /// The password, sealed by the caller (none for Gmail, which uses the connection).
    pub sealed_password: Option<Vec<u8>>,
    /// Minutes between checks.
    pub poll_interval_minutes: u32,
    /// Where reading stopped, as the reader wrote it (opaque here).
    pub cursor: Option<String>,
    /// When it is due for a check (or, while one runs, when that check's claim runs out).
    pub next_poll_at: Millis,
    /// Checks in a row that failed.
    pub error_count: u32,
    /// Why the last check failed.
    pub last_error: Option<String>,
    /// When a check last succeeded.
    pub last_checked_at: Option<Millis>,
    /// When it was connected.
    pub created_at: Millis,
}

/// A user's alert settings; each has a default when unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmailSettings {
    /// The adapter alerts go through (`discord`, `gateway`); unset: `discord` for Discord
    /// users (`discord-…` ids), else the gateway.
    pub alert_adapter: Option<String>,
    /// The channel alerts go to; unset: a direct message.
    pub alert_channel: Option<String>,
    /// Mention the user in alerts.
    pub ping: bool,
    /// Quiet hours, `HH:MM` to `HH:MM` in `timezone`: alerts wait until they end.
    pub quiet_hours: Option<(String, String)>,
    /// The user's time zone (IANA name); unset: `defaults.timezone`.
    pub timezone: Option<String>,
}

/// One of a user's rules: a preset by name, or a rule of their own (JSON, as the config's
/// `EmailRule` writes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEmailRule {
    /// Its name, unique per user.
    pub name: String,
    /// The preset it applies (`email/presets/NAME.toml`), read when it is used.
    pub preset: Option<String>,
    /// Its own rule, when it is not a preset.
    pub rule_json: Option<String>,
    /// When it was added.
    pub created_at: Millis,
}

/// An alert about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailAlert {
    /// Its id (0 before it is recorded).
    pub id: i64,
    /// The account the message arrived in.
    pub account_id: i64,
    /// Whose it is.
    pub user_id: String,
    /// What identifies the message in its account (its Message-ID, or UIDVALIDITY and UID):
    /// the same key never alerts twice.
    pub message_key: String,
    /// The sender as shown.
    pub sender: String,
    /// The subject.
    pub subject: String,
    /// The start of its text.
    pub preview: String,
    /// The rule that matched.
    pub rule: String,
    /// Its importance.
    pub importance: String,
    /// The conditions that held, one per line.
    pub matched: String,
    /// When it was found.
    pub created_at: Millis,
    /// When it was delivered; unset while it waits (quiet hours, no outlet yet).
    pub delivered_at: Option<Millis>,
}

/// Watched inboxes, rules, settings and alerts, shared by every instance using the store.
pub trait EmailWatch: Send + Sync {
    /// Adds an account (or replaces the one of the same user, address and host, keeping its
    /// place in the mailbox); returns its id. It is next due at its `next_poll_at`.
    fn save_email_account<'a>(
        &'a self,
        account: &'a EmailAccount,
    ) -> BoxFuture<'a, StoreResult<i64>>;

    /// `user_id`'s accounts, oldest first.
    fn email_accounts<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<EmailAccount>>>;

    /// Removes one of `user_id`'s accounts (and its alerts); whether it was there.
    fn remove_email_account<'a>(
        &'a self,
        user_id: &'a str,
        id: i64,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Claims up to `limit` accounts due by `now` for a check: each claimed one is not due
    /// again before `now + lease_ms`, so another instance skips it meanwhile.
    fn claim_email_checks(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<EmailAccount>>>;

    /// Records a check: on success the new cursor, the error count reset and
    /// `last_checked_at = now`; on failure the error kept and counted, the cursor untouched.
    /// Either way the account is next due at `next_at`.
    fn finish_email_check<'a>(
        &'a self,
        id: i64,
        outcome: Result<Option<&'a str>, &'a str>,
        now: Millis,
        next_at: Millis,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// `user_id`'s alert settings (defaults when never set).
    fn email_settings<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<EmailSettings>>;

    /// Replaces `user_id`'s alert settings.
    fn save_email_settings<'a>(
        &'a self,
        user_id: &'a str,
        settings: &'a EmailSettings,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Adds or replaces one of `user_id`'s rules (by name).
    fn save_email_rule<'a>(
        &'a self,
        user_id: &'a str,
        rule: &'a UserEmailRule,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// `user_id`'s rules, oldest first.
    fn email_rules<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<UserEmailRule>>>;

    /// Removes one of `user_id`'s rules; whether it was there.
    fn remove_email_rule<'a>(
        &'a self,
        user_id: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Records an alert; its id, or `None` when its account already has one for that message
    /// (whichever instance records it first delivers it).
    fn record_email_alert<'a>(
        &'a self,
        alert: &'a EmailAlert,
    ) -> BoxFuture<'a, StoreResult<Option<i64>>>;

    /// Alerts not yet delivered, oldest first, at most `limit`.
    fn undelivered_email_alerts(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<EmailAlert>>>;

    /// Marks an alert delivered at `at`: `true` for the one caller that marks it first (and
    /// then posts it).
    fn mark_email_alert_delivered(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<bool>>;

    /// Gives back an alert marked delivered at `at` whose post failed: it waits again.
    fn release_email_alert(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<()>>;

    /// `user_id`'s latest alerts, newest first.
    fn recent_email_alerts<'a>(
        &'a self,
        user_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<EmailAlert>>>;
}
