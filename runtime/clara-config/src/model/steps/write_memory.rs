//! The `write_memory` step: storing the reply and extracting long-term memories.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::yes;
use crate::model::prompts;

/// Options of the `write_memory` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WriteMemoryStep {
    /// The step's name, unique in its pipeline (default: its `type`). Work the step queues
    /// (memory extraction) finds it by this name, wherever a reload moves it.
    #[serde(default)]
    pub id: Option<String>,
    /// Store the reply in the session history (the user's message is stored by `ingest`).
    #[serde(default = "yes")]
    pub store_reply: bool,
    /// Extract facts about the user and reconcile them with existing memories. Runs after the
    /// reply is sent, from a durable queue.
    #[serde(default = "yes")]
    pub extract: bool,
    /// The extraction prompt (tera template; `messages`, `user_name`, `today`).
    #[serde(default = "default_extraction_prompt")]
    pub extraction_prompt: String,
    /// The reconciliation prompt (tera template; `existing`, `facts`).
    #[serde(default = "default_reconcile_prompt")]
    pub reconcile_prompt: String,
    /// Existing memories compared with each new fact.
    #[serde(default = "default_similar_per_fact")]
    #[schemars(range(min = 1))]
    pub similar_per_fact: u32,
    /// Save the model's reply as the session's summary instead of as a message
    /// (for `session_end` pipelines).
    #[serde(default)]
    pub save_as_session_summary: bool,
}

impl Default for WriteMemoryStep {
    fn default() -> Self {
        Self {
            id: None,
            store_reply: true,
            extract: true,
            extraction_prompt: default_extraction_prompt(),
            reconcile_prompt: default_reconcile_prompt(),
            similar_per_fact: default_similar_per_fact(),
            save_as_session_summary: false,
        }
    }
}

fn default_extraction_prompt() -> String {
    prompts::EXTRACTION.to_owned()
}
fn default_reconcile_prompt() -> String {
    prompts::RECONCILE.to_owned()
}
fn default_similar_per_fact() -> u32 {
    5
}
