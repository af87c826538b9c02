//! Pipeline files (`pipelines/NAME.toml|yaml`): what happens to a message, as ordered steps.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::steps::Step;

/// A pipeline: a trigger and an ordered list of steps. Its name is the file stem.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// A line for humans: what this pipeline does.
    #[serde(default)]
    pub description: Option<String>,
    /// What starts this pipeline. With none, it runs only when a hook or scheduled task names it.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// Persona for this pipeline's turns. Defaults to `defaults.persona`.
    #[serde(default)]
    pub persona: Option<String>,
    /// The steps, run in order.
    #[schemars(length(min = 1))]
    pub steps: Vec<Step>,
}

/// Something that starts a pipeline.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A user's message arrives on an adapter.
    Message {
        /// Adapters this applies to (`discord`, `chat`). Empty: all of them.
        #[serde(default)]
        adapters: Vec<String>,
    },
    /// A session ended (idle timeout); the pipeline sees the ended session's history.
    SessionEnd {},
}
