//! Sessions: one per user and conversation; a message after the idle timeout ends the old
//! session (queuing its summary) and starts a new one linked to it.

use clara_config::model::common::EventName;
use serde_json::json;

use super::EngineError;
use super::generation::Generation;
use super::turn::Turn;
use super::worker::SUMMARIZE_SESSION;
use crate::store::Session;

/// The session `incoming` belongs to, rolling over an idle one.
pub(crate) async fn resolve(generation: &Generation, turn: &Turn) -> Result<Session, EngineError> {
    let incoming = &turn.incoming;
    let store = &generation.store;
    let now = generation.clock.now();
    let idle_ms = i64::from(generation.config.clara.value.sessions.idle_timeout_minutes) * 60_000;
    let user = &incoming.user_id;
    let conversation = &incoming.conversation.id;
    let event = |name, data| turn.event(name, data);
    let previous = match store.open_session(user, conversation).await? {
        Some(open) if now - open.last_activity_at <= idle_ms => return Ok(open),
        Some(idle) => {
            // Of several turns that find the session idle at once, one ends it and acts on it.
            if store.end_session(&idle.id, now).await? {
                if !generation.session_end_pipelines().is_empty() {
                    store
                        .enqueue_job(SUMMARIZE_SESSION, &json!({ "session_id": idle.id }), now)
                        .await?;
                }
                let idle_minutes = (now - idle.last_activity_at) / 60_000;
                generation.events.emit(event(
                    EventName::SessionTimeout,
                    json!({ "session_id": idle.id, "idle_minutes": idle_minutes }),
                ));
                generation.events.emit(event(
                    EventName::SessionEnd,
                    json!({ "session_id": idle.id, "reason": "timeout" }),
                ));
            }
            Some(idle.id)
        }
        None => None,
    };
    let (session, created) = store
        .start_session(user, conversation, previous.as_deref(), now)
        .await?;
    if created {
        generation.events.emit(event(
            EventName::SessionStart,
            json!({ "session_id": session.id, "previous_session_id": previous }),
        ));
    }
    Ok(session)
}
