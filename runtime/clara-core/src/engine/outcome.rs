//! What became of a message, and the generation's two ways in that produce it: a message from
//! an adapter, and a pipeline run by a hook or a scheduled task.

use clara_config::model::common::Tier;

use super::EngineError;
use super::event_data::{EventData, MessageFailed, MessageSent};
use super::generation::Generation;
use super::pipeline::Pipeline;
use super::sent_file::SentFile;
use super::session;
use super::trace;
use super::turn::{Incoming, Turn, TurnEnd};
use crate::llm::DeltaSink;
use tracing::Instrument;

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The pipeline answered.
    Replied {
        /// The reply to show.
        reply: String,
        /// The tier used.
        tier: Option<Tier>,
        /// Files the tools sent, to deliver after the reply.
        files: Vec<SentFile>,
    },
    /// The message needed no answer.
    Ended(TurnEnd),
    /// The turn failed after the message was stored: the user gets the persona's error reply
    /// and nothing they said is lost.
    Failed {
        /// The persona's error reply.
        reply: String,
        /// What went wrong, for logs.
        error: String,
        /// The tier chosen before it failed.
        tier: Option<Tier>,
    },
}

impl Outcome {
    /// The text to show: the answer, or the persona's error reply.
    pub fn reply(&self) -> Option<&str> {
        match self {
            Outcome::Replied { reply, .. } | Outcome::Failed { reply, .. } => Some(reply),
            Outcome::Ended(_) => None,
        }
    }

    /// The text to show and the files to deliver after it; `None` when there is no reply.
    pub fn into_reply(self) -> Option<(String, Vec<SentFile>)> {
        match self {
            Outcome::Replied { reply, files, .. } => Some((reply, files)),
            Outcome::Failed { reply, .. } => Some((reply, Vec::new())),
            Outcome::Ended(_) => None,
        }
    }

    /// What went wrong, when the turn failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Why there is no reply, when there is none.
    pub fn ended(&self) -> Option<&TurnEnd> {
        match self {
            Outcome::Ended(why) => Some(why),
            _ => None,
        }
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

    /// Answers one message with the pipeline `name`, whatever its platform would pick (what
    /// `clara test` fixtures that name a pipeline run).
    pub async fn handle_message_in(
        &self,
        name: &str,
        incoming: Incoming,
        on_delta: DeltaSink<'_>,
    ) -> Result<Outcome, EngineError> {
        let pipeline = self
            .pipeline(name)
            .ok_or_else(|| EngineError::Config(format!("unknown pipeline `{name}`")))?;
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
            .pipeline(name)
            .ok_or_else(|| EngineError::Config(format!("unknown pipeline `{name}`")))?;
        let mut turn = Turn::new(incoming);
        turn.automated = true;
        if pipeline.ingest().is_none() {
            turn.session = Some(session::resolve(&self.services, self.sessions(), &turn).await?);
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
        let run = self.start_run(name, pipeline, on_delta);
        let span = trace::turn(name, &turn);
        let ran = pipeline.run(&run, &mut turn).instrument(span.clone()).await;
        let outcome = match (&ran, &turn.ended) {
            (Ok(()), Some(_)) => "ended",
            (Ok(()), None) => "replied",
            (Err(_), _) => "failed",
        };
        trace::turn_ended(&span, &turn, outcome);
        if let Err(error) = &ran {
            span.record("error.type", error.kind());
        }
        match ran {
            Ok(()) => match turn.ended.take() {
                Some(why) => Ok(Outcome::Ended(why)),
                None => {
                    self.emit_sent(&turn);
                    Ok(Outcome::Replied {
                        files: turn.files.take(),
                        reply: turn.reply,
                        tier: turn.tier,
                    })
                }
            },
            // Before the message is stored there is nothing to answer for: report the failure.
            // (A run without a message has nothing to lose either.)
            Err(error) if turn.user_message_id.is_none() => {
                self.emit_failed(&turn, &error);
                Err(error)
            }
            Err(error) => {
                tracing::error!(pipeline = name, %error, "turn failed");
                self.emit_failed(&turn, &error);
                Ok(Outcome::Failed {
                    reply: run.persona.error_reply.clone(),
                    error: error.to_string(),
                    tier: turn.tier,
                })
            }
        }
    }

    /// Every adapter's failures reach the hooks and `/metrics` the same way.
    fn emit_failed(&self, turn: &Turn, error: &EngineError) {
        self.services
            .events
            .emit(turn.event(EventData::MessageFailed(MessageFailed {
                error: error.to_string(),
                stored: turn.user_message_id.is_some(),
            })));
    }

    fn emit_sent(&self, turn: &Turn) {
        self.services
            .events
            .emit(turn.event(EventData::MessageSent(MessageSent {
                chars: turn.reply.chars().count(),
                tier: turn.tier.map(|t| t.as_str().to_owned()),
            })));
    }
}
