//! The `llm_call` step: which provider, tier and sampling settings a model call uses.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::{Tier, ToolCallMode, yes};

/// Options of the `llm_call` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmCallStep {
    /// The step's name, unique in its pipeline (default: its `type`). Work the step queues
    /// (memory extraction) finds it by this name, wherever a reload moves it.
    #[serde(default)]
    pub id: Option<String>,
    /// Provider to call. Defaults to `defaults.provider`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Provider for tool-bound calls (MyPalClara's `TOOL_BASE_URL` / `TOOL_API_KEY`).
    /// Defaults to `provider`.
    #[serde(default)]
    pub tool_provider: Option<String>,
    /// A fixed tier for this call, overriding prefixes and the classifier.
    #[serde(default)]
    pub tier: Option<Tier>,
    /// Stream the reply as it is generated.
    #[serde(default = "yes")]
    pub stream: bool,
    /// Reply token limit. Defaults to the provider's.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature. Defaults to the provider's.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: Option<f32>,
    /// Tool-call mode. Defaults to the provider's.
    #[serde(default)]
    pub tool_call_mode: Option<ToolCallMode>,
    /// An instruction added as the last user message (tera template), for pipelines that ask
    /// the model for something other than a reply, such as a summary.
    #[serde(default)]
    pub instruction: Option<String>,
}

impl Default for LlmCallStep {
    fn default() -> Self {
        Self {
            id: None,
            provider: None,
            tool_provider: None,
            tier: None,
            stream: true,
            max_tokens: None,
            temperature: None,
            tool_call_mode: None,
            instruction: None,
        }
    }
}
