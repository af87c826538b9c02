//! `[email]`: watching users' inboxes for messages worth an alert.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The name the links that connect inboxes carry where a connection's name would be: no
/// `[connections]` entry may take it.
pub const INBOX_LINK_KIND: &str = "email";

/// Email monitoring: off unless enabled.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Watch the inboxes users connect.
    #[serde(default)]
    pub enabled: bool,
    /// How often an account is checked, unless it says otherwise.
    #[serde(default = "default_poll_interval_minutes")]
    #[schemars(range(min = 1, max = 1440))]
    pub poll_interval_minutes: u32,
    /// Characters of a message's text shown in its alert (and searched by `body_contains`).
    #[serde(default = "default_preview_chars")]
    #[schemars(range(min = 0, max = 4000))]
    pub preview_chars: u32,
    /// Most new messages read from one account in one check; the rest wait for the next.
    #[serde(default = "default_max_messages_per_poll")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_messages_per_poll: u32,
    /// Most bytes of one message read (its headers and the start of its text).
    #[serde(default = "default_max_message_bytes")]
    #[schemars(range(min = 4096))]
    pub max_message_bytes: u32,
    /// Longest a connection to a mail server may take for one step (connect, log in, read).
    #[serde(default = "default_timeout_secs")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: u32,
    /// The `[connections]` entry Gmail inboxes are read through (it needs the
    /// `gmail.readonly` scope).
    #[serde(default = "default_gmail_connection")]
    pub gmail_connection: String,
    /// Where the Gmail API is.
    #[serde(default = "default_gmail_api_url")]
    pub gmail_api_url: String,
    /// An alert as the user reads it: `{importance}`, `{account}`, `{sender}`, `{subject}`,
    /// `{preview}`, `{rule}` and `{matched}` (the conditions that held); a line the rule adds
    /// (its `custom_message`) follows.
    #[serde(default = "default_alert_message")]
    pub alert_message: String,
    /// The page an inbox is connected on (from the link `email_connect_imap` gives), above
    /// its form.
    #[serde(default = "default_connect_page")]
    pub connect_page: String,
    /// The page shown once the inbox is connected (`{address}`).
    #[serde(default = "default_connected_page")]
    pub connected_page: String,
    /// The page shown when the link cannot be used (`{reason}`).
    #[serde(default = "default_connect_failed_page")]
    pub connect_failed_page: String,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            poll_interval_minutes: default_poll_interval_minutes(),
            preview_chars: default_preview_chars(),
            max_messages_per_poll: default_max_messages_per_poll(),
            max_message_bytes: default_max_message_bytes(),
            timeout_secs: default_timeout_secs(),
            gmail_connection: default_gmail_connection(),
            gmail_api_url: default_gmail_api_url(),
            alert_message: default_alert_message(),
            connect_page: default_connect_page(),
            connected_page: default_connected_page(),
            connect_failed_page: default_connect_failed_page(),
        }
    }
}

fn default_poll_interval_minutes() -> u32 {
    5
}
fn default_preview_chars() -> u32 {
    200
}
fn default_max_messages_per_poll() -> u32 {
    20
}
fn default_max_message_bytes() -> u32 {
    256 * 1024
}
fn default_timeout_secs() -> u32 {
    30
}
fn default_gmail_connection() -> String {
    "google".to_owned()
}
fn default_gmail_api_url() -> String {
    "https://gmail.googleapis.com".to_owned()
}
fn default_connect_page() -> String {
    "Connect an inbox for your assistant to watch. The password goes from this page to the \
     mail server and into clara's store, sealed; it never passes through the chat. Most \
     providers want an app password here, not your usual one."
        .to_owned()
}
fn default_connected_page() -> String {
    "Connected {address}. New mail that matches your rules will be announced in the chat; \
     you can close this tab."
        .to_owned()
}
fn default_connect_failed_page() -> String {
    "This link cannot be used: {reason}. Ask for a new one in the chat.".to_owned()
}
fn default_alert_message() -> String {
    "📬 {importance} mail in {account} from {sender}: **{subject}**\n> {preview}\n-# {rule}: {matched}"
        .to_owned()
}
