//! Running a pipeline over one message, and what the adapter gets back.

use std::sync::atomic::{AtomicBool, Ordering};

use clara_config::model::common::{EventName, Tier};
use clara_config::model::pipeline::Pipeline;
use serde_json::json;

use super::EngineError;
use super::generation::Generation;
use super::steps;
use super::turn::{Incoming, Turn, TurnEnd};
use crate::llm::DeltaSink;

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The reply to show (the persona's error reply when the turn failed); `None` when the
    /// message needed no answer.
    pub reply: Option<String>,
    /// Why there is no reply, when there is none.
    pub ended: Option<TurnEnd>,
    /// What went wrong, when the turn failed (for logs; users see `reply`).
    pub error: Option<String>,
    /// The tier used.
    pub tier: Option<Tier>,
}

/// One pipeline run: the generation, the pipeline, the persona, and the caller's sink.
pub(crate) struct Run<'a> {
    pub generation: &'a Generation,
    pub pipeline_name: &'a str,
    pub pipeline: &'a Pipeline,
    pub persona: &'a str,
    sink: TurnSink<'a>,
}

impl<'a> Run<'a> {
    pub(crate) fn new(
        generation: &'a Generation,
        pipeline_name: &'a str,
        pipeline: &'a Pipeline,
        on_delta: DeltaSink<'a>,
    ) -> Self {
        let persona = pipeline
            .persona
            .as_deref()
            .unwrap_or(&generation.config.clara.value.defaults.persona);
        Run {
            generation,
            pipeline_name,
            pipeline,
            persona,
            sink: TurnSink {
                inner: on_delta,
                shown: AtomicBool::new(false),
                separate: AtomicBool::new(false),
            },
        }
    }

    /// Text for the user, as it streams.
    pub(crate) fn show(&self, text: &str) {
        self.sink.show(text);
    }

    /// Marks the start of a new model answer within the turn: its text is set apart from
    /// what the user already saw.
    pub(crate) fn new_answer(&self) {
        self.sink
            .separate
            .store(self.sink.shown.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Runs every step over `turn`, stopping early when a step ends the turn.
    pub(crate) async fn run(&self, turn: &mut Turn) -> Result<(), EngineError> {
        for (index, step) in self.pipeline.steps.iter().enumerate() {
            steps::run(self, index, step, turn).await?;
            if turn.ended.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// The tools `incoming`'s author may be offered: in the persona's list and the pipeline's
    /// `tool_loop` list (none without a tool loop), and allowed by each tool's own policy.
    pub(crate) fn offered_tools(
        &self,
        incoming: &super::turn::Incoming,
    ) -> Vec<std::sync::Arc<dyn super::tools::Tool>> {
        let Some(pipeline_tools) = self.pipeline.steps.iter().find_map(|s| match s {
            clara_config::model::steps::Step::ToolLoop(t) => Some(&t.tools),
            _ => None,
        }) else {
            return Vec::new();
        };
        let persona_tools = self
            .generation
            .config
            .personas
            .get(self.persona)
            .map(|p| p.file.value.tools.as_slice())
            .unwrap_or_default();
        let mut tools = self.generation.allowed_tools(persona_tools, pipeline_tools);
        tools.retain(|t| t.policy().allows(&incoming.user_id, incoming.is_admin));
        tools
    }

    /// The persona's error reply.
    pub(crate) fn error_reply(&self) -> String {
        self.generation
            .config
            .personas
            .get(self.persona)
            .map(|p| p.file.value.error_reply.clone())
            .unwrap_or_else(|| "Sorry, something went wrong.".to_owned())
    }
}

struct TurnSink<'a> {
    inner: DeltaSink<'a>,
    shown: AtomicBool,
    separate: AtomicBool,
}

impl TurnSink<'_> {
    fn show(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.separate.swap(false, Ordering::SeqCst) {
            (self.inner)("\n\n");
        }
        self.shown.store(true, Ordering::SeqCst);
        (self.inner)(text);
    }
}

impl Generation {
    /// Answers one message with the pipeline that handles its platform. The message is stored
    /// before any model call; when the model fails the user gets the persona's error reply
    /// and nothing they said is lost.
    pub async fn handle_message(
        &self,
        incoming: Incoming,
        on_delta: DeltaSink<'_>,
    ) -> Result<Outcome, EngineError> {
        let platform = incoming.platform.clone();
        let (name, pipeline) = self.message_pipeline(&platform).ok_or_else(|| {
            EngineError::Config(format!(
                "no pipeline is triggered by messages from `{platform}`"
            ))
        })?;
        self.run_turn(name, pipeline, Turn::new(incoming), on_delta)
            .await
    }

    /// Runs the pipeline `name` for `incoming` outside a message: a scheduled task or a hook
    /// (a morning check-in, say). `incoming.text` may be empty; the pipeline's `llm_call`
    /// instruction then says what to write. Without an `ingest` step the conversation's session
    /// is still resolved, so history is read and the reply is stored in it.
    pub async fn run_pipeline(
        &self,
        name: &str,
        incoming: Incoming,
    ) -> Result<Outcome, EngineError> {
        let pipeline = self
            .config
            .pipelines
            .get(name)
            .map(|p| &p.value)
            .ok_or_else(|| EngineError::Config(format!("unknown pipeline `{name}`")))?;
        let mut turn = Turn::new(incoming);
        turn.automated = true;
        let ingests = pipeline
            .steps
            .iter()
            .any(|s| matches!(s, clara_config::model::steps::Step::Ingest(_)));
        if !ingests {
            turn.session = Some(super::session::resolve(self, &turn).await?);
        }
        self.run_turn(name, pipeline, turn, &|_| {}).await
    }

    async fn run_turn(
        &self,
        name: &str,
        pipeline: &Pipeline,
        mut turn: Turn,
        on_delta: DeltaSink<'_>,
    ) -> Result<Outcome, EngineError> {
        let run = Run::new(self, name, pipeline, on_delta);
        match run.run(&mut turn).await {
            Ok(()) if turn.ended.is_some() => Ok(Outcome {
                reply: None,
                ended: turn.ended,
                error: None,
                tier: turn.tier,
            }),
            Ok(()) => {
                self.emit_sent(&turn);
                Ok(Outcome {
                    reply: Some(turn.reply),
                    ended: None,
                    error: None,
                    tier: turn.tier,
                })
            }
            // Before the message is stored there is nothing to answer for: report the failure.
            // (A run without a message has nothing to lose either.)
            Err(error) if turn.user_message_id.is_none() => {
                self.emit_failed(&turn, &error);
                Err(error)
            }
            Err(error) => {
                tracing::error!(pipeline = name, %error, "turn failed");
                self.emit_failed(&turn, &error);
                Ok(Outcome {
                    reply: Some(run.error_reply()),
                    ended: None,
                    error: Some(error.to_string()),
                    tier: turn.tier,
                })
            }
        }
    }

    /// Every adapter's failures reach the hooks and `/metrics` the same way.
    fn emit_failed(&self, turn: &Turn, error: &EngineError) {
        self.events.emit(turn.event(
            EventName::MessageFailed,
            json!({ "error": error.to_string(), "stored": turn.user_message_id.is_some() }),
        ));
    }

    fn emit_sent(&self, turn: &Turn) {
        self.events.emit(turn.event(
            EventName::MessageSent,
            json!({ "chars": turn.reply.chars().count(), "tier": turn.tier.map(|t| t.as_str()) }),
        ));
    }
}
