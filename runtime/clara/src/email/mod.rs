//! Email: reading users' inboxes over IMAP, summarising each new message, and matching it
//! against their rules (`[email]`, presets in `email/presets/`).

pub mod imap_mailbox;
pub mod mail_summary;
pub mod rule_match;

pub use imap_mailbox::{Cursor, ImapLogin, ImapMailbox, MailError, NewMail, RawMail};
pub use mail_summary::MailSummary;
pub use rule_match::{RuleMatch, first_match};
