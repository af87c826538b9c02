//! The `rate_limit` step: at most so many messages, and so many tool calls, per user (or per
//! conversation) in a window. Past the message limit the turn gets a polite reply instead of
//! a model call, the message still stored; past the tool call limit a call is not run and the
//! model is told why.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::yes;

/// Options of the `rate_limit` step. It goes after `ingest`, which stores the message it
/// counts.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitStep {
    /// The step's name, unique in its pipeline (default: its `type`).
    #[serde(default)]
    pub id: Option<String>,
    /// Whose messages count together: each user's, across conversations (`user`), or
    /// everyone's in one conversation (`channel`).
    #[serde(default)]
    pub per: RateScope,
    /// Messages allowed in the window, the current one included.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub messages: Option<u32>,
    /// Tool calls allowed in the window (calls that ran, in any turn).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub tool_calls: Option<u32>,
    /// The window, in seconds, ending now.
    #[schemars(range(min = 1))]
    pub window_secs: u32,
    /// What the user is told past the limit; `{messages}` (`2 messages`) and `{window}`
    /// (`10 minutes`) are filled in.
    #[serde(default = "default_reply")]
    pub reply: String,
    /// What the model is told about a tool call past the limit; `{tool_calls}` (`5 tool
    /// calls`) and `{window}` are filled in.
    #[serde(default = "default_tool_calls_note")]
    pub tool_calls_note: String,
    /// Admins are never limited.
    #[serde(default = "yes")]
    pub admins_exempt: bool,
}

/// Whose messages a rate limit counts together.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum RateScope {
    /// Each user, across every conversation.
    #[default]
    User,
    /// Each conversation, everyone in it.
    Channel,
}

fn default_tool_calls_note() -> String {
    "Not run: that is more than {tool_calls} in {window}. Tell the user politely to try again later.".to_owned()
}

fn default_reply() -> String {
    "That's more than {messages} in {window}, faster than I can keep up with. Give me a moment and try again.".to_owned()
}

impl RateLimitStep {
    /// The limit as people say it: `1 message`, `20 messages`.
    pub fn messages_text(&self) -> String {
        counted(self.messages.unwrap_or_default(), "message")
    }

    /// The tool call limit as people say it: `1 tool call`, `5 tool calls`.
    pub fn tool_calls_text(&self) -> String {
        counted(self.tool_calls.unwrap_or_default(), "tool call")
    }

    /// The window as people say it: `90 seconds`, `10 minutes`, `1 hour`.
    pub fn window_text(&self) -> String {
        let secs = self.window_secs;
        let (n, unit) = if secs.is_multiple_of(3600) {
            (secs / 3600, "hour")
        } else if secs.is_multiple_of(60) {
            (secs / 60, "minute")
        } else {
            (secs, "second")
        };
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }
}

fn counted(n: u32, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_reads_in_its_largest_whole_unit() {
        let step = |window_secs| RateLimitStep {
            id: None,
            per: RateScope::User,
            messages: Some(1),
            tool_calls: None,
            window_secs,
            reply: default_reply(),
            tool_calls_note: default_tool_calls_note(),
            admins_exempt: true,
        };
        assert_eq!(step(3600).window_text(), "1 hour");
        assert_eq!(step(600).window_text(), "10 minutes");
        assert_eq!(step(90).window_text(), "90 seconds");
        assert_eq!(step(1).window_text(), "1 second");
    }
}
