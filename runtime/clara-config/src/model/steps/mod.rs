//! The eight built-in pipeline steps, one file each. Every MyPalClara constant that shapes a
//! turn is an option, with MyPalClara's value (or a fixed version of it) as the default.

mod budget;
mod build_context;
mod classify_tier;
mod ingest;
mod llm_call;
mod rate_limit;
mod tool_loop;
mod write_memory;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use budget::BudgetStep;
pub use build_context::{BuildContextStep, HistorySource};
pub use classify_tier::{ClassifyTierStep, TierPrefixes};
pub use ingest::{IngestStep, PhraseMatch};
pub use llm_call::LlmCallStep;
pub use rate_limit::{RateLimitStep, RateScope};
pub use tool_loop::{AutoContinue, ToolLoopStep};
pub use write_memory::WriteMemoryStep;

/// One step of a pipeline, chosen by `type`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Normalise the incoming message, drop bots, detect stop phrases, drop duplicates, and
    /// store it before any model call.
    Ingest(IngestStep),
    /// Past so many messages per user (or conversation) in a window, answer with a polite
    /// reply instead of calling the model.
    RateLimit(RateLimitStep),
    /// Cap what this pipeline's turns may spend; a turn already over a refusing cap is
    /// answered with the budget reply.
    Budget(BudgetStep),
    /// Assemble the prompt: instructions, persona, context, memories, history.
    BuildContext(BuildContextStep),
    /// Choose the model tier from a message prefix or a classifier call.
    ClassifyTier(ClassifyTierStep),
    /// Call the model, streaming.
    LlmCall(LlmCallStep),
    /// Run the tool calls the model asked for and call it again, bounded.
    ToolLoop(ToolLoopStep),
    /// Store the exchange, then extract and reconcile long-term memories.
    WriteMemory(WriteMemoryStep),
}

impl Step {
    /// The step's name in its pipeline: its `id`, or its `type` when it has none.
    pub fn id(&self) -> &str {
        let id = match self {
            Step::Ingest(s) => &s.id,
            Step::RateLimit(s) => &s.id,
            Step::Budget(s) => &s.id,
            Step::BuildContext(s) => &s.id,
            Step::ClassifyTier(s) => &s.id,
            Step::LlmCall(s) => &s.id,
            Step::ToolLoop(s) => &s.id,
            Step::WriteMemory(s) => &s.id,
        };
        id.as_deref().unwrap_or(self.kind())
    }

    /// The step's `type` as written in pipeline files.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Ingest(_) => "ingest",
            Step::RateLimit(_) => "rate_limit",
            Step::Budget(_) => "budget",
            Step::BuildContext(_) => "build_context",
            Step::ClassifyTier(_) => "classify_tier",
            Step::LlmCall(_) => "llm_call",
            Step::ToolLoop(_) => "tool_loop",
            Step::WriteMemory(_) => "write_memory",
        }
    }
}
