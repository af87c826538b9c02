//! The eight built-in steps, one file each named by its `type`. Each is built once per
//! generation with its templates, patterns and options compiled; `BuiltStep` runs one.

mod budget;
mod build_context;
mod classify_tier;
mod ingest;
mod llm_call;
mod rate_limit;
mod site;
mod tool_loop;
mod write_memory;

use clara_config::model::steps::Step;

pub use classify_tier::is_classification;
pub(crate) use ingest::Ingest;
pub(crate) use site::Site;
pub(crate) use tool_loop::ToolLoop;
pub(crate) use write_memory::WriteMemory;

use super::EngineError;
use super::run::Run;
use super::turn::Turn;

/// A pipeline step, ready to run.
pub(crate) struct BuiltStep {
    /// Its id: `id` in the file, else its `type`; unique in its pipeline.
    pub id: String,
    /// Its `type`.
    pub type_name: &'static str,
    pub kind: StepKind,
}

/// The built steps, by `type`.
pub(crate) enum StepKind {
    Ingest(Ingest),
    RateLimit(rate_limit::RateLimit),
    Budget(budget::Budget),
    BuildContext(build_context::BuildContext),
    ClassifyTier(classify_tier::ClassifyTier),
    LlmCall(llm_call::LlmCall),
    ToolLoop(ToolLoop),
    WriteMemory(WriteMemory),
}

impl BuiltStep {
    /// Builds `step` where `site` says it stands.
    pub(crate) fn build(step: &Step, site: &Site<'_>) -> Result<BuiltStep, EngineError> {
        let kind = match step {
            Step::Ingest(options) => StepKind::Ingest(Ingest::build(options, site)),
            Step::RateLimit(options) => StepKind::RateLimit(rate_limit::RateLimit::build(options)),
            Step::Budget(options) => StepKind::Budget(budget::Budget::build(options, site)),
            Step::BuildContext(options) => {
                StepKind::BuildContext(build_context::BuildContext::build(options, site)?)
            }
            Step::ClassifyTier(options) => {
                StepKind::ClassifyTier(classify_tier::ClassifyTier::build(options, site)?)
            }
            Step::LlmCall(options) => StepKind::LlmCall(llm_call::LlmCall::build(options, site)?),
            Step::ToolLoop(options) => StepKind::ToolLoop(ToolLoop::build(options, site)?),
            Step::WriteMemory(options) => StepKind::WriteMemory(WriteMemory::build(options, site)?),
        };
        Ok(BuiltStep {
            id: site.id.to_owned(),
            type_name: step.kind(),
            kind,
        })
    }

    /// Runs the step over `turn`.
    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        match &self.kind {
            StepKind::Ingest(step) => step.run(run, turn).await,
            StepKind::RateLimit(step) => step.run(run, turn).await,
            StepKind::Budget(step) => step.run(run, turn).await,
            StepKind::BuildContext(step) => step.run(run, turn).await,
            StepKind::ClassifyTier(step) => step.run(run, turn).await,
            StepKind::LlmCall(step) => step.run(run, turn).await,
            StepKind::ToolLoop(step) => step.run(run, turn).await,
            StepKind::WriteMemory(step) => step.run(run, turn).await,
        }
    }
}
