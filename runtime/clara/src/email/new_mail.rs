//! What one look at an inbox found, whatever kind of inbox it is (IMAP or Gmail), and why a
//! look failed.

/// What one look at the inbox found; `C` is where the inbox's kind says reading stopped.
#[derive(Debug)]
pub struct NewMail<C> {
    /// Where to start next time.
    pub cursor: Option<C>,
    /// New messages, oldest first.
    pub messages: Vec<RawMail>,
    /// More new messages wait beyond the bound.
    pub more: bool,
    /// The mailbox was renumbered or its history is gone (or this was the first look):
    /// reading starts from now and nothing older is reported.
    pub started_over: bool,
}

impl<C> Default for NewMail<C> {
    fn default() -> Self {
        NewMail {
            cursor: None,
            messages: Vec::new(),
            more: false,
            started_over: false,
        }
    }
}

/// One message as the server gave it (its start, up to the byte bound).
#[derive(Debug)]
pub struct RawMail {
    /// What names it in its inbox (IMAP: UIDVALIDITY and UID; Gmail: its id), for messages
    /// without a Message-ID.
    pub key: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Why the inbox could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server could not be reached (or its TLS failed).
    #[error("cannot reach {server}: {why}")]
    Connect {
        /// `host:port`, or the API's address.
        server: String,
        /// Why.
        why: String,
    },
    /// The server refused the user name and password, or the access token.
    #[error("the server refused the login: {0}")]
    Login(String),
    /// A step took longer than the timeout.
    #[error("the mail server did not answer within {0} s")]
    Timeout(u64),
    /// The server answered with an error or something unreadable, or closed the connection.
    #[error("the mail server failed: {0}")]
    Protocol(String),
}
