//! Conversation fixtures (`tests/*.toml|yaml`) for `clara test`: who talks where, what they
//! already have, and per turn what the user says, what the model answers and what must follow.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{EventName, Tier};

/// One test case: seed state, then turns run through the real pipeline with a scripted model.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What the case is called in `clara test` output (default: the file's name).
    #[serde(default)]
    pub name: Option<String>,
    /// Run this pipeline (a file stem in `pipelines/`) instead of the one that answers
    /// `platform`'s messages.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// The platform the messages come from, which picks the pipeline and persona.
    #[serde(default = "default_platform")]
    pub platform: String,
    /// Who talks.
    #[serde(default = "default_user")]
    pub user: String,
    /// Their display name.
    #[serde(default = "default_user_name")]
    pub user_name: String,
    /// Whether they are an admin.
    #[serde(default)]
    pub admin: bool,
    /// Where: absent for a direct conversation, or a server channel's id.
    #[serde(default)]
    pub channel: Option<String>,
    /// When the first turn starts, in RFC 3339 (`2026-01-05T09:00:00Z`). Time only moves
    /// when a turn says so, so a fixture gives the same result every run.
    #[serde(default = "default_start")]
    pub start: String,
    /// Memories the user has before the first turn.
    #[serde(default)]
    pub memories: Vec<SeedMemory>,
    /// The summary of the conversation's session before this one, as the prompt's previous
    /// session part shows it.
    #[serde(default)]
    pub previous_summary: Option<String>,
    /// Messages of the conversation's open session before the first turn, oldest first.
    #[serde(default)]
    pub history: Vec<SeedMessage>,
    /// Play the model's answers from `tests/cassettes/NAME.json` (written by
    /// `clara test --record-cassettes` from the real providers) instead of each turn's `model`.
    #[serde(default)]
    pub cassette: Option<String>,
    /// The conversation, in order.
    #[schemars(length(min = 1))]
    pub turns: Vec<FixtureTurn>,
}

fn default_platform() -> String {
    "chat".to_owned()
}

fn default_user() -> String {
    "test-user".to_owned()
}

fn default_user_name() -> String {
    "Tester".to_owned()
}

fn default_start() -> String {
    "2026-01-05T09:00:00Z".to_owned()
}

/// A memory stored before the first turn.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedMemory {
    /// The fact.
    pub text: String,
    /// A key memory, always in the prompt.
    #[serde(default)]
    pub key: bool,
    /// The project it belongs to.
    #[serde(default)]
    pub project: Option<String>,
}

/// A message stored before the first turn.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedMessage {
    /// Who said it.
    pub role: SeedRole,
    /// What was said.
    pub text: String,
}

/// Who said a stored message.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SeedRole {
    /// The user.
    User,
    /// The assistant.
    Assistant,
}

/// One message from the user and what must follow it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FixtureTurn {
    /// What the user says.
    pub say: String,
    /// Minutes that pass before this message (session timeouts, the time in the prompt).
    #[serde(default)]
    pub after_minutes: u64,
    /// The model's answers to this turn's calls, in order, including the memory work that
    /// follows the reply. A call past the last answer fails the case.
    #[serde(default)]
    pub model: Vec<ScriptedAnswer>,
    /// Results for this turn's calls of these tools, by tool name, instead of running them
    /// (an HTTP tool then reaches no network). Other tools run for real.
    #[serde(default)]
    pub tool_results: BTreeMap<String, String>,
    /// What must be true after the turn (and its memory work).
    #[serde(default)]
    pub expect: Expect,
}

/// One model answer: text, tool calls, or a failure.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptedAnswer {
    /// The answer's text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reply: String,
    /// Tools the model asks for; their results go back to it in the next call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ScriptedCall>,
    /// Fail instead of answering, with this message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With `error`: fail as an HTTP status (429 and 5xx are retried like real ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Prompt tokens the answer reports.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_tokens: u32,
    /// Reply tokens the answer reports.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub output_tokens: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A tool call in a scripted answer.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments.
    #[serde(default = "empty_object")]
    pub arguments: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Expectations on a turn; each one set is checked, the rest are free.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The exact reply.
    #[serde(default)]
    pub reply: Option<String>,
    /// Texts the reply contains.
    #[serde(default)]
    pub reply_contains: Vec<String>,
    /// Texts the reply does not contain.
    #[serde(default)]
    pub reply_not_contains: Vec<String>,
    /// A regular expression the reply matches.
    #[serde(default)]
    pub reply_matches: Option<String>,
    /// The tier chosen.
    #[serde(default)]
    pub tier: Option<Tier>,
    /// The provider (its name in `clara.toml`) the turn's first call went to.
    #[serde(default)]
    pub provider: Option<String>,
    /// The model that call asked for: the tier's model, or the provider's base model.
    #[serde(default)]
    pub model: Option<String>,
    /// How many model calls the turn made (its memory work included).
    #[serde(default)]
    pub model_calls: Option<u32>,
    /// Tokens the turn's calls reported, prompt plus reply.
    #[serde(default)]
    pub tokens: Option<u32>,
    /// The tools called, in order, by name.
    #[serde(default)]
    pub tools_called: Option<Vec<String>>,
    /// Tool calls that must have happened with these arguments (a subset of each call's).
    #[serde(default)]
    pub tool_calls: Vec<ScriptedCall>,
    /// Tools offered to the model in the turn's first call.
    #[serde(default)]
    pub tools_offered: Vec<String>,
    /// Texts the system prompt of the turn's first call contains.
    #[serde(default)]
    pub prompt_contains: Vec<String>,
    /// Texts it does not contain.
    #[serde(default)]
    pub prompt_not_contains: Vec<String>,
    /// A regular expression it matches.
    #[serde(default)]
    pub prompt_matches: Option<String>,
    /// Texts the turn's calls carry in their messages (the history, tool results).
    #[serde(default)]
    pub messages_contain: Vec<String>,
    /// Compare the whole system prompt with its snapshot, `tests/snapshots/FIXTURE.TURN.prompt`
    /// (`clara test --update` writes it).
    #[serde(default)]
    pub prompt_snapshot: bool,
    /// Events the turn emitted, in any order.
    #[serde(default)]
    pub events: Vec<EventName>,
    /// Texts of memories the user has after the turn's memory work.
    #[serde(default)]
    pub memories: Vec<String>,
    /// Texts no memory of the user has after it.
    #[serde(default)]
    pub memories_absent: Vec<String>,
}
