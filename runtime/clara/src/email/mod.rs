//! Email: reading users' inboxes (IMAP, or Gmail through their Google connection),
//! summarising each new message, and matching it against their rules (`[email]`, presets in
//! `email/presets/`).

pub mod account_tools;
pub mod connect_page;
pub mod gmail_mailbox;
pub mod imap_hosts;
pub mod imap_mailbox;
pub mod inbox_link;
mod inbox_read;
pub mod inbox_watch;
pub mod mail_summary;
pub mod new_mail;
pub mod quiet_hours;
pub mod rule_match;
pub mod rule_tools;

pub use connect_page::EmailConnectPages;
pub use gmail_mailbox::{GmailCursor, GmailMailbox};
pub use imap_mailbox::{Cursor, ImapLogin, ImapMailbox};
pub use inbox_watch::{CheckReport, InboxWatch};
pub use mail_summary::MailSummary;
pub use new_mail::{MailError, NewMail, RawMail};
pub use rule_match::{RuleMatch, first_match};
