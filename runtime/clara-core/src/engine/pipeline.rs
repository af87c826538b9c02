//! A pipeline as the engine runs it: its triggers, its persona and its built steps in order.

use clara_config::model::clara::ClaraConfig;
use clara_config::model::pipeline::{Pipeline as PipelineFile, Trigger};

use super::EngineError;
use super::run::Run;
use super::steps::{BuiltStep, Ingest, Site, StepKind, WriteMemory};
use super::trace;
use super::turn::Turn;
use tracing::Instrument;

/// One pipeline, built once per generation.
pub(crate) struct Pipeline {
    triggers: Vec<Trigger>,
    /// The persona that answers: the file's `persona`, else `defaults.persona`.
    pub persona: String,
    steps: Vec<BuiltStep>,
}

impl Pipeline {
    pub(crate) fn build(
        name: &str,
        file: &PipelineFile,
        clara: &ClaraConfig,
    ) -> Result<Pipeline, EngineError> {
        let steps = file
            .steps
            .iter()
            .map(|step| {
                let site = Site {
                    pipeline: name,
                    id: step.id(),
                    steps: &file.steps,
                    clara,
                };
                BuiltStep::build(step, &site)
            })
            .collect::<Result<_, _>>()?;
        Ok(Pipeline {
            triggers: file.triggers.clone(),
            persona: file
                .persona
                .clone()
                .unwrap_or_else(|| clara.defaults.persona.clone()),
            steps,
        })
    }

    /// Whether it answers messages from `adapter`.
    pub(crate) fn answers(&self, adapter: &str) -> bool {
        self.triggers.iter().any(|t| matches!(t, Trigger::Message { adapters } if adapters.is_empty() || adapters.iter().any(|a| a == adapter)))
    }

    /// Whether it runs when a session ends.
    pub(crate) fn ends_sessions(&self) -> bool {
        self.triggers
            .iter()
            .any(|t| matches!(t, Trigger::SessionEnd {}))
    }

    /// Its `ingest` step.
    pub(crate) fn ingest(&self) -> Option<&Ingest> {
        self.steps.iter().find_map(|s| match &s.kind {
            StepKind::Ingest(step) => Some(step),
            _ => None,
        })
    }

    /// The tools its `tool_loop` offers; `None` without a tool loop.
    pub(crate) fn tools(&self) -> Option<&[String]> {
        self.steps.iter().find_map(|s| match &s.kind {
            StepKind::ToolLoop(step) => Some(step.tools()),
            _ => None,
        })
    }

    /// The `write_memory` step with `id`, or at `position` (jobs queued before steps had ids).
    pub(crate) fn write_memory(
        &self,
        id: Option<&str>,
        position: Option<usize>,
    ) -> Option<&WriteMemory> {
        let step = match id {
            Some(id) => self.steps.iter().find(|s| s.id == id),
            None => self.steps.get(position?),
        };
        match &step?.kind {
            StepKind::WriteMemory(step) => Some(step),
            _ => None,
        }
    }

    /// Runs every step over `turn`, stopping early when a step ends or answers the turn.
    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        for step in &self.steps {
            let span = trace::step(step.type_name, &step.id);
            match step.run(run, turn).instrument(span).await {
                // A user's refused turn is answered; a task's or a summary's refusal is its
                // failure, since its reply would be taken for real output.
                Err(EngineError::Budget(refusal)) if !turn.automated => {
                    turn.reply = refusal
                        .reply
                        .unwrap_or_else(|| run.persona.budget_reply.clone());
                    turn.answered = true;
                }
                result => result?,
            }
            if turn.ended.is_some() || turn.answered {
                break;
            }
        }
        Ok(())
    }
}
