//! Sessions: one per user and conversation. A session idle past the timeout ends — in the
//! background as soon as it goes idle, so its summary is ready for the next message, or at
//! the latest when that message arrives — queuing its summary; the next message starts a new
//! session linked to it.

use clara_config::model::clara::ChannelScope;
use clara_config::model::common::EventName;
use serde_json::json;

use super::EngineError;
use super::events::Event;
use super::generation::Generation;
use super::turn::Turn;
use super::worker::SUMMARIZE_SESSION;
use crate::store::{Millis, Session};

/// The session `incoming` belongs to, rolling over an idle one.
pub(crate) async fn resolve(generation: &Generation, turn: &Turn) -> Result<Session, EngineError> {
    let incoming = &turn.incoming;
    let store = &generation.store;
    let now = generation.clock.now();
    // With `channel_scope = "shared"` a server channel has one session for everyone in it.
    let shared = generation.config.clara.value.sessions.channel_scope == ChannelScope::Shared
        && !incoming.conversation.is_dm;
    let user = if shared {
        SHARED_OWNER
    } else {
        incoming.user_id.as_str()
    };
    let conversation = &incoming.conversation.id;
    let previous = match store.latest_session(user, conversation).await? {
        Some(open)
            if open.ended_at.is_none() && now - open.last_activity_at <= idle_ms(generation) =>
        {
            return Ok(open);
        }
        Some(idle) if idle.ended_at.is_none() => {
            end_idle(generation, &idle, now, &|name, data| turn.event(name, data)).await?;
            Some(idle.id)
        }
        // Ended already (in the background, when it went idle): the new session follows it.
        Some(ended) => Some(ended.id),
        None => None,
    };
    let (session, created) = store
        .start_session(user, conversation, previous.as_deref(), now)
        .await?;
    if created {
        generation.events.emit(turn.event(
            EventName::SessionStart,
            json!({ "session_id": session.id, "previous_session_id": previous }),
        ));
    }
    Ok(session)
}

/// The owner of a channel's shared session.
const SHARED_OWNER: &str = "*";

fn idle_ms(generation: &Generation) -> Millis {
    i64::from(generation.config.clara.value.sessions.idle_timeout_minutes) * 60_000
}

/// Ends a session that went idle — once, however many callers find it at the same moment —
/// queues its summary and fires `session:timeout` and `session:end`.
async fn end_idle(
    generation: &Generation,
    idle: &Session,
    now: Millis,
    event: &(dyn Fn(EventName, serde_json::Value) -> Event + Sync),
) -> Result<(), EngineError> {
    let store = &generation.store;
    if !store.end_session(&idle.id, now).await? {
        return Ok(());
    }
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
    Ok(())
}

impl Generation {
    /// Ends (and queues summaries of) up to `max` sessions that have gone idle, so the first
    /// message of a user's next session already has the previous one's summary. Returns how
    /// many it ended.
    pub async fn end_idle_sessions(&self, max: u32) -> Result<u32, EngineError> {
        let now = self.clock.now();
        let idle = self.store.idle_sessions(now - idle_ms(self), max).await?;
        for session in &idle {
            let event = |name, data| Event {
                user_id: Some(session.user_id.clone()),
                channel_id: Some(session.conversation.clone()),
                automated: true,
                ..Event::global(name, data)
            };
            end_idle(self, session, now, &event).await?;
        }
        Ok(idle.len() as u32)
    }
}
