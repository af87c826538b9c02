//! Provider errors: which provider and model, what happened, and whether retrying can help.
//! Messages never contain API keys (the edge redacts them before building an error).

use std::fmt;

/// A failed model call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("provider `{provider}` (model `{model}`): {kind}")]
pub struct ProviderError {
    /// The provider's name in `clara.toml`.
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// What went wrong.
    pub kind: ProviderErrorKind,
    /// Whether any reply text had already been delivered when it failed (then nothing may
    /// retry it: the user has seen part of an answer, and a retry is a second billed call).
    pub partial_output: bool,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum ProviderErrorKind {
    /// The server answered with an error status.
    Status {
        /// HTTP status code.
        status: u16,
        /// The server's message, shortened.
        message: String,
    },
    /// No connection could be made.
    Connect(String),
    /// A time limit passed.
    Timeout(&'static str),
    /// The reply could not be read (malformed JSON or SSE).
    Decode(String),
    /// The provider reported an error inside the stream (e.g. Anthropic's `overloaded_error`).
    Api(String),
    /// The stream ended before the reply was complete.
    StreamCut(String),
    /// Something about the request or config is wrong (missing key, bad URL).
    Config(String),
}

impl ProviderErrorKind {
    /// A short, stable name for the kind (a span's `error.type`): the HTTP status, or what
    /// failed.
    pub fn name(&self) -> String {
        match self {
            ProviderErrorKind::Status { status, .. } => status.to_string(),
            ProviderErrorKind::Connect(_) => "connect".to_owned(),
            ProviderErrorKind::Timeout(_) => "timeout".to_owned(),
            ProviderErrorKind::Decode(_) => "decode".to_owned(),
            ProviderErrorKind::Api(_) => "api".to_owned(),
            ProviderErrorKind::StreamCut(_) => "stream_cut".to_owned(),
            ProviderErrorKind::Config(_) => "config".to_owned(),
        }
    }

    /// Whether the same request may succeed if sent again: rate limits, server errors,
    /// connection failures and timeouts.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderErrorKind::Status { status, .. } => *status == 429 || *status >= 500,
            ProviderErrorKind::Connect(_)
            | ProviderErrorKind::Timeout(_)
            | ProviderErrorKind::StreamCut(_)
            | ProviderErrorKind::Api(_) => true,
            ProviderErrorKind::Decode(_) | ProviderErrorKind::Config(_) => false,
        }
    }
}

impl fmt::Display for ProviderErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderErrorKind::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            ProviderErrorKind::Connect(m) => write!(f, "cannot connect: {m}"),
            ProviderErrorKind::Timeout(phase) => write!(f, "timed out waiting for {phase}"),
            ProviderErrorKind::Decode(m) => write!(f, "unreadable reply: {m}"),
            ProviderErrorKind::Api(m) => write!(f, "the provider reported an error: {m}"),
            ProviderErrorKind::StreamCut(m) => write!(f, "the stream ended early: {m}"),
            ProviderErrorKind::Config(m) => write!(f, "{m}"),
        }
    }
}
