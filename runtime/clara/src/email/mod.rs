//! Email: reading users' inboxes over IMAP, summarising each new message, and matching it
//! against their rules (`[email]`, presets in `email/presets/`).

pub mod account_tools;
pub mod connect_page;
pub mod imap_hosts;
pub mod imap_mailbox;
pub mod inbox_link;
pub mod inbox_watch;
pub mod mail_summary;
pub mod quiet_hours;
pub mod rule_match;
pub mod rule_tools;

pub use connect_page::EmailConnectPages;
pub use imap_mailbox::{Cursor, ImapLogin, ImapMailbox, MailError, NewMail, RawMail};
pub use inbox_watch::{CheckReport, InboxWatch};
pub use mail_summary::MailSummary;
pub use rule_match::{RuleMatch, first_match};
