//! Sessions: one per user and conversation. A session idle past the timeout ends — in the
//! background as soon as it goes idle, so its summary is ready for the next message, or at
//! the latest when that message arrives — queuing its summary; the next message starts a new
//! session linked to it.

use clara_config::ConfigSet;
use clara_config::model::clara::ChannelScope;

use super::EngineError;
use super::event_data::{EventData, SessionEnd, SessionStart, SessionTimeout};
use super::events::Event;
use super::job::{Job, SummarizeSession};
use super::services::Services;
use super::turn::Turn;
use crate::store::{Millis, Session};

/// How sessions start and end, from `[sessions]` and the pipelines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionRules {
    /// `channel_scope = "shared"`: a server channel has one session for everyone in it.
    shared_channels: bool,
    /// How long a session may sit idle.
    idle_ms: Millis,
    /// Some pipeline runs when a session ends, so ending one queues its summary.
    summarize: bool,
}

impl SessionRules {
    /// The rules of `[sessions]`; `summarize` when some pipeline runs as a session ends.
    pub(crate) fn new(config: &ConfigSet, summarize: bool) -> SessionRules {
        let sessions = &config.clara.value.sessions;
        SessionRules {
            shared_channels: sessions.channel_scope == ChannelScope::Shared,
            idle_ms: i64::from(sessions.idle_timeout_minutes) * 60_000,
            summarize,
        }
    }
}

/// The session `turn`'s message belongs to, rolling over an idle one.
pub(crate) async fn resolve(
    services: &Services,
    rules: SessionRules,
    turn: &Turn,
) -> Result<Session, EngineError> {
    let incoming = &turn.incoming;
    let store = &services.store;
    let now = services.clock.now();
    let user = if rules.shared_channels && !incoming.conversation.is_dm {
        SHARED_OWNER
    } else {
        incoming.user_id.as_str()
    };
    let conversation = &incoming.conversation.id;
    let previous = match store.latest_session(user, conversation).await? {
        Some(open) if open.ended_at.is_none() && now - open.last_activity_at <= rules.idle_ms => {
            return Ok(open);
        }
        Some(idle) if idle.ended_at.is_none() => {
            end_idle(services, rules, &idle, now, &|data| turn.event(data)).await?;
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
        services
            .events
            .emit(turn.event(EventData::SessionStart(SessionStart {
                session_id: session.id.clone(),
                previous_session_id: previous,
            })));
    }
    Ok(session)
}

/// The owner of a channel's shared session.
const SHARED_OWNER: &str = "*";

/// Ends (and queues summaries of) up to `max` sessions that have gone idle. Returns how many
/// it ended.
pub(crate) async fn end_idle_sessions(
    services: &Services,
    rules: SessionRules,
    max: u32,
) -> Result<u32, EngineError> {
    let now = services.clock.now();
    let idle = services
        .store
        .idle_sessions(now - rules.idle_ms, max)
        .await?;
    for session in &idle {
        let event = |data| Event {
            user_id: Some(session.user_id.clone()),
            channel_id: Some(session.conversation.clone()),
            automated: true,
            ..Event::global(data)
        };
        end_idle(services, rules, session, now, &event).await?;
    }
    Ok(idle.len() as u32)
}

/// Ends a session that went idle — once, however many callers find it at the same moment —
/// queues its summary and fires `session:timeout` and `session:end`.
async fn end_idle(
    services: &Services,
    rules: SessionRules,
    idle: &Session,
    now: Millis,
    event: &(dyn Fn(EventData) -> Event + Sync),
) -> Result<(), EngineError> {
    let store = &services.store;
    if !store.end_session(&idle.id, now).await? {
        return Ok(());
    }
    if rules.summarize {
        let job = Job::SummarizeSession(SummarizeSession {
            session_id: idle.id.clone(),
        });
        store.enqueue_job(job.kind(), &job.payload(), now).await?;
    }
    let idle_minutes = (now - idle.last_activity_at) / 60_000;
    services
        .events
        .emit(event(EventData::SessionTimeout(SessionTimeout {
            session_id: idle.id.clone(),
            idle_minutes,
        })));
    services
        .events
        .emit(event(EventData::SessionEnd(SessionEnd {
            session_id: idle.id.clone(),
            reason: "timeout".to_owned(),
        })));
    Ok(())
}
