//! The `ingest` step: normalise, drop bots and duplicates, stop phrases; store first.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::yes;

/// Options of the `ingest` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IngestStep {
    /// The step's name, unique in its pipeline (default: its `type`). Work the step queues
    /// (memory extraction) finds it by this name, wherever a reload moves it.
    #[serde(default)]
    pub id: Option<String>,
    /// Ignore messages from bots (clara itself included).
    #[serde(default = "yes")]
    pub drop_bots: bool,
    /// Remove user mentions (`<@123>`) from the text; on Discord, clara's own mention is
    /// always removed and other people's read `@name` before this step runs.
    #[serde(default = "yes")]
    pub strip_mentions: bool,
    /// Prefix channel messages with the author's display name, `[Name]: text`.
    #[serde(default = "yes")]
    pub name_prefix: bool,
    /// Phrases that cancel the channel's running turn and clear its queue
    /// (`DISCORD_STOP_PHRASES`).
    #[serde(default = "default_stop_phrases")]
    pub stop_phrases: Vec<String>,
    /// How a message is compared with the stop phrases (case-insensitive, mentions removed).
    #[serde(default)]
    pub stop_phrase_match: PhraseMatch,
    /// The same text from the same user in the same channel within this many seconds is
    /// dropped as a duplicate; 0 disables.
    #[serde(default = "default_dedupe_window_secs")]
    pub dedupe_window_secs: u32,
    /// Longest message kept, in characters; the rest is cut with a note.
    #[serde(default = "default_max_message_chars")]
    #[schemars(range(min = 1))]
    pub max_message_chars: u32,
}

impl Default for IngestStep {
    fn default() -> Self {
        Self {
            id: None,
            drop_bots: true,
            strip_mentions: true,
            name_prefix: true,
            stop_phrases: default_stop_phrases(),
            stop_phrase_match: PhraseMatch::default(),
            dedupe_window_secs: default_dedupe_window_secs(),
            max_message_chars: default_max_message_chars(),
        }
    }
}

/// How a message is compared with a phrase.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PhraseMatch {
    /// The whole message is the phrase.
    #[default]
    Exact,
    /// The phrase appears anywhere in the message.
    Contains,
}

fn default_stop_phrases() -> Vec<String> {
    ["clara stop", "stop clara", "nevermind", "never mind"]
        .map(str::to_owned)
        .to_vec()
}
fn default_dedupe_window_secs() -> u32 {
    30
}
fn default_max_message_chars() -> u32 {
    100_000
}
