//! The six built-in steps, one file each; `run` dispatches on the step's kind.

pub(crate) mod classify;
mod context;
pub(crate) mod ingest;
mod llm;
mod write;

use clara_config::model::steps::Step;

use super::EngineError;
use super::run::Run;
use super::turn::Turn;

/// Runs step `index` of the pipeline over `turn`.
pub(crate) async fn run(
    run: &Run<'_>,
    index: usize,
    step: &Step,
    turn: &mut Turn,
) -> Result<(), EngineError> {
    match step {
        Step::Ingest(options) => ingest::run(run, options, turn).await,
        Step::ClassifyTier(options) => classify::run(run, index, options, turn).await,
        Step::BuildContext(options) => context::run(run, index, options, turn).await,
        Step::LlmCall(options) => llm::call(run, index, options, turn).await,
        Step::ToolLoop(options) => llm::tool_loop(run, index, options, turn).await,
        Step::WriteMemory(options) => write::run(run, index, options, turn).await,
    }
}
