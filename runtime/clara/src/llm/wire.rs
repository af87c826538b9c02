//! What both wire formats decode into, and the streaming decoder they implement.

use std::borrow::Cow;

use clara_core::llm::{ProviderErrorKind, StopReason, ToolCall, Usage};
use serde::Deserialize;

/// A decoded reply, before the provider and model that produced it are attached.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reply {
    /// The reply text.
    pub text: String,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped, when the API said.
    pub stop: Option<StopReason>,
    /// Token counts, when the API reported them.
    pub usage: Usage,
}

/// Turns server-sent events into text deltas and, at the end, a [`Reply`].
pub(crate) trait StreamDecoder: Send {
    /// Handles one event; returns `true` when the stream says it is complete.
    fn event(
        &mut self,
        name: &str,
        data: &str,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<bool, ProviderErrorKind>;

    /// The reply assembled so far.
    fn finish(self: Box<Self>) -> Reply;
}

/// Tool-call arguments from a JSON string; arguments that do not parse become `{}` (the tool
/// then reports what is missing, which the model can act on).
pub(crate) fn parse_arguments(raw: &str) -> serde_json::Value {
    if raw.trim().is_empty() {
        return serde_json::json!({});
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(value @ serde_json::Value::Object(_)) => value,
        _ => serde_json::json!({}),
    }
}

/// The `error` object both APIs put in a stream when they fail mid-reply.
#[derive(Deserialize)]
pub(crate) struct WireError<'a> {
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

impl WireError<'_> {
    /// The error as an error kind, with a placeholder when the server sent no message.
    pub(crate) fn describe(error: Option<WireError<'_>>) -> ProviderErrorKind {
        let message = error.and_then(|e| e.message);
        ProviderErrorKind::Api(message.map_or_else(|| "error event".to_owned(), Cow::into_owned))
    }
}

/// A stream event whose JSON does not parse.
pub(crate) fn bad_event(error: serde_json::Error) -> ProviderErrorKind {
    ProviderErrorKind::Decode(format!("invalid JSON in the stream: {error}"))
}
