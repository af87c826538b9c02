//! `write_memory`: store the reply, and queue memory extraction to run after the reply is
//! sent (from the durable queue, so a crash or an outage delays it but never loses it).

use clara_config::model::clara::MemoryConfig;
use clara_config::model::steps::WriteMemoryStep;

use super::site::Site;
use crate::engine::EngineError;
use crate::engine::job::{ExtractMemories, Job, Said};
use crate::engine::run::Run;
use crate::engine::template::Template;
use crate::engine::turn::Turn;
use crate::llm::Role;

/// The built `write_memory` step; the extraction job it queues runs with these settings.
pub(crate) struct WriteMemory {
    pub options: WriteMemoryStep,
    /// `[memory]`.
    pub memory: MemoryConfig,
    /// The user's day for the extraction prompt's `today`.
    pub timezone: chrono_tz::Tz,
    pub extraction_prompt: Template,
    pub reconcile_prompt: Template,
    id: String,
}

impl WriteMemory {
    pub(crate) fn build(
        options: &WriteMemoryStep,
        site: &Site<'_>,
    ) -> Result<WriteMemory, EngineError> {
        Ok(WriteMemory {
            options: options.clone(),
            memory: site.clara.memory.clone(),
            timezone: site.timezone(None),
            extraction_prompt: site.template("extraction_prompt", &options.extraction_prompt)?,
            reconcile_prompt: site.template("reconcile_prompt", &options.reconcile_prompt)?,
            id: site.id.to_owned(),
        })
    }

    pub(crate) async fn run(&self, run: &Run<'_>, turn: &mut Turn) -> Result<(), EngineError> {
        let options = &self.options;
        let services = run.services;
        let Some(session) = turn.session.as_ref() else {
            return Ok(());
        };
        let now = services.clock.now();
        let reply = turn.reply.trim();
        if options.save_as_session_summary {
            if !reply.is_empty() {
                services.store.set_summary(&session.id, reply).await?;
            }
            return Ok(());
        }
        if options.store_reply && !reply.is_empty() {
            services
                .store
                .add_message(&session.id, Role::Assistant, None, reply, now)
                .await?;
        }
        if options.extract && self.memory.enabled && !reply.is_empty() {
            let job = Job::ExtractMemories(ExtractMemories {
                pipeline: run.pipeline.to_owned(),
                step_id: Some(self.id.clone()),
                step: None,
                user_id: turn.incoming.user_id.clone(),
                user_name: turn.incoming.user_name.clone(),
                is_dm: turn.incoming.conversation.is_dm,
                messages: vec![
                    Said {
                        role: "user".to_owned(),
                        content: turn.text.clone(),
                    },
                    Said {
                        role: "assistant".to_owned(),
                        content: reply.to_owned(),
                    },
                ],
            });
            services
                .store
                .enqueue_job(job.kind(), &job.payload(), now)
                .await?;
        }
        Ok(())
    }
}
