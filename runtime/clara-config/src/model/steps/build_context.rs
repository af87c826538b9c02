//! The `build_context` step: what goes into the prompt and the templates that render it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::yes;
use crate::model::prompts;

/// Options of the `build_context` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildContextStep {
    /// The step's name, unique in its pipeline (default: its `type`). Work the step queues
    /// (memory extraction) finds it by this name, wherever a reload moves it.
    #[serde(default)]
    pub id: Option<String>,
    /// What the history is: the current session's messages before this one, then the message
    /// itself (`current_session`); or, for a `session_end` pipeline, the whole session that
    /// ended, with no previous-session block and no message of its own (`ended_session`).
    #[serde(default)]
    pub history_source: HistorySource,
    /// Recent messages included, oldest first.
    #[serde(default = "default_history_messages")]
    pub history_messages: u32,
    /// The most characters of history sent with one request: the oldest messages beyond it
    /// are left out, and a single message longer than it is cut.
    #[serde(default = "default_history_max_chars")]
    #[schemars(range(min = 1000))]
    pub history_max_chars: u32,
    /// Prefix the user's history messages with the time they were sent.
    #[serde(default = "yes")]
    pub history_timestamps: bool,
    /// strftime format of those times (e.g. `%-I:%M %p` gives `9:05 AM`).
    #[serde(default = "default_timestamp_format")]
    pub timestamp_format: String,
    /// strftime format of `now` in the context block.
    #[serde(default = "default_now_format")]
    pub now_format: String,
    /// IANA time zone for shown times. Defaults to `defaults.timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Include the previous session's summary and its last messages.
    #[serde(default = "yes")]
    pub previous_session: bool,
    /// Include the reply chain the message answers (Discord).
    #[serde(default = "yes")]
    pub reply_chain: bool,
    /// Include long-term memories.
    #[serde(default = "yes")]
    pub memories: bool,
    /// Only the last this many characters of the message are used as the memory search query.
    #[serde(default = "default_memory_query_chars")]
    #[schemars(range(min = 1))]
    pub memory_query_chars: u32,
    /// Key memories (identity, relationships, health, work, home) always included, at most.
    #[serde(default = "default_key_memories")]
    pub key_memories: u32,
    /// User memories found by search, at most.
    #[serde(default = "default_user_memories")]
    pub user_memories: u32,
    /// Project memories found by search, at most.
    #[serde(default = "default_project_memories")]
    pub project_memories: u32,
    /// Memories scoring below this (0 to 1) are left out.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_memory_score: f32,
    /// Where a history longer than `history_messages` starts: at a message picked among the
    /// first this many of the last `history_messages`, one that stays picked for several
    /// turns, so the start of the history, and with it the cached start of the prompt, does
    /// not move every turn. The history then holds more than `history_messages -
    /// history_trim_step` messages. 0 keeps exactly the last `history_messages`, which moves
    /// the start every turn.
    #[serde(default = "default_history_trim_step")]
    pub history_trim_step: u32,
    /// System instructions before the persona (tera template). The cached part of the prompt:
    /// a per-turn variable in it (`now`, `user_memories`, …) turns caching off, with a warning.
    #[serde(default = "default_instructions_template")]
    pub instructions_template: String,
    /// What stays the same for a whole session, after the persona: the previous session and
    /// the key memories (tera template). The cached part of the prompt, like the instructions.
    /// Left out, the shipped one is used, unless `memories_template` already shows one of its
    /// variables (`previous_summary`, `previous_snapshot`, `key_memories`).
    #[serde(default)]
    pub background_template: Option<String>,
    /// The current-context block: time, place, people (tera template). It changes every turn,
    /// so it goes after the history, at the head of the new message.
    #[serde(default = "default_context_template")]
    pub context_template: String,
    /// The memories the search found for this message (tera template); left out of the prompt
    /// when it renders empty. After the history, with the context block.
    #[serde(default = "default_memories_template")]
    pub memories_template: String,
}

impl BuildContextStep {
    /// The background template in use, per `background_template`'s rule.
    pub fn background(&self) -> &str {
        if let Some(text) = &self.background_template {
            return text;
        }
        let memories = crate::template::usage(&self.memories_template).variables;
        let shown = ["previous_summary", "previous_snapshot", "key_memories"];
        if shown.iter().any(|v| memories.contains(*v)) {
            ""
        } else {
            prompts::BACKGROUND
        }
    }
}

impl Default for BuildContextStep {
    fn default() -> Self {
        Self {
            id: None,
            history_source: HistorySource::default(),
            history_messages: default_history_messages(),
            history_max_chars: default_history_max_chars(),
            history_timestamps: true,
            timestamp_format: default_timestamp_format(),
            now_format: default_now_format(),
            timezone: None,
            previous_session: true,
            reply_chain: true,
            memories: true,
            memory_query_chars: default_memory_query_chars(),
            key_memories: default_key_memories(),
            user_memories: default_user_memories(),
            project_memories: default_project_memories(),
            min_memory_score: 0.0,
            history_trim_step: default_history_trim_step(),
            instructions_template: default_instructions_template(),
            background_template: None,
            context_template: default_context_template(),
            memories_template: default_memories_template(),
        }
    }
}

/// Where a pipeline's history comes from.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    /// The session the message belongs to.
    #[default]
    CurrentSession,
    /// The session that just ended (for `session_end` pipelines).
    EndedSession,
}

fn default_history_messages() -> u32 {
    20
}
fn default_history_trim_step() -> u32 {
    10
}
fn default_history_max_chars() -> u32 {
    48_000
}
fn default_timestamp_format() -> String {
    "%-I:%M %p".to_owned()
}
fn default_now_format() -> String {
    "%A, %B %-d, %Y at %H:%M %Z".to_owned()
}
fn default_memory_query_chars() -> u32 {
    6000
}
fn default_key_memories() -> u32 {
    15
}
fn default_user_memories() -> u32 {
    35
}
fn default_project_memories() -> u32 {
    35
}
fn default_instructions_template() -> String {
    prompts::INSTRUCTIONS.to_owned()
}
fn default_context_template() -> String {
    prompts::CONTEXT.to_owned()
}
fn default_memories_template() -> String {
    prompts::MEMORIES.to_owned()
}
