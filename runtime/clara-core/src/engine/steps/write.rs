//! `write_memory`: store the reply, and queue memory extraction to run after the reply is
//! sent (from the durable queue, so a crash or an outage delays it but never loses it).

use clara_config::model::steps::WriteMemoryStep;
use serde_json::json;

use crate::engine::EngineError;
use crate::engine::run::Run;
use crate::engine::turn::Turn;
use crate::engine::worker::EXTRACT_MEMORIES;
use crate::llm::Role;

pub(crate) async fn run(
    run: &Run<'_>,
    index: usize,
    options: &WriteMemoryStep,
    turn: &mut Turn,
) -> Result<(), EngineError> {
    let generation = run.generation;
    let Some(session) = turn.session.as_ref() else {
        return Ok(());
    };
    let now = generation.clock.now();
    let reply = turn.reply.trim();
    if options.save_as_session_summary {
        if !reply.is_empty() {
            generation.store.set_summary(&session.id, reply).await?;
        }
        return Ok(());
    }
    if options.store_reply && !reply.is_empty() {
        generation
            .store
            .add_message(&session.id, Role::Assistant, None, reply, now)
            .await?;
    }
    if options.extract && generation.config.clara.value.memory.enabled && !reply.is_empty() {
        let payload = json!({
            "pipeline": run.pipeline_name,
            // By name, not position: a reload may move the step before the job runs.
            "step_id": run.pipeline.steps[index].id(),
            "user_id": turn.incoming.user_id,
            "user_name": turn.incoming.user_name,
            "is_dm": turn.incoming.conversation.is_dm,
            "messages": [
                { "role": "user", "content": turn.text },
                { "role": "assistant", "content": reply },
            ],
        });
        generation
            .store
            .enqueue_job(EXTRACT_MEMORIES, &payload, now)
            .await?;
    }
    Ok(())
}
