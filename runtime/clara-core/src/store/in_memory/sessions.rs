//! [`Sessions`] in memory: sessions in the order they started, messages in the order written.

use super::{InMemoryStore, State};
use crate::llm::{BoxFuture, Role};
use crate::store::{
    Millis, Session, SessionQuery, Sessions, Stamp, StoreError, StoreResult, StoredMessage,
};

impl State {
    fn open_session(&self, user: &str, conversation: &str) -> Option<&Session> {
        self.sessions
            .iter()
            .find(|s| s.user_id == user && s.conversation == conversation && s.ended_at.is_none())
    }

    fn session_mut(&mut self, id: &str) -> StoreResult<&mut Session> {
        self.sessions
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("session {id}")))
    }
}

impl Sessions for InMemoryStore {
    fn open_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        self.with(|state| Ok(state.open_session(user, conversation).cloned()))
    }

    fn latest_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        self.with(|state| {
            // The last started; of two started at once, the one started later.
            Ok(state
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.user_id == user && s.conversation == conversation)
                .max_by_key(|(at, s)| (s.started_at, *at))
                .map(|(_, s)| s.clone()))
        })
    }

    fn start_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
        previous: Option<&'a str>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<(Session, bool)>> {
        self.with(|state| {
            if let Some(open) = state.open_session(user, conversation) {
                return Ok((open.clone(), false));
            }
            let session = Session {
                id: state.new_id(),
                user_id: user.to_owned(),
                conversation: conversation.to_owned(),
                started_at: now,
                last_activity_at: now,
                ended_at: None,
                previous_session_id: previous.map(str::to_owned),
                summary: None,
            };
            state.sessions.push(session.clone());
            Ok((session, true))
        })
    }

    fn end_session<'a>(
        &'a self,
        session: &'a str,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            let session = state.session_mut(session)?;
            if session.ended_at.is_some() {
                return Ok(false);
            }
            session.ended_at = Some(now);
            Ok(true)
        })
    }

    fn session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        self.with(|state| Ok(state.sessions.iter().find(|s| s.id == session).cloned()))
    }

    fn user_message_stamps<'a>(
        &'a self,
        user: Option<&'a str>,
        conversation: Option<&'a str>,
        since: Millis,
        up_to: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Stamp>>> {
        self.with(|state| {
            let chosen: Vec<&str> = state
                .sessions
                .iter()
                .filter(|s| {
                    user.is_none_or(|u| s.user_id == u)
                        && conversation.is_none_or(|c| s.conversation == c)
                        && s.last_activity_at >= since
                })
                .map(|s| s.id.as_str())
                .collect();
            let mut stamps: Vec<Stamp> = state
                .messages
                .iter()
                .filter(|m| {
                    m.role == Role::User
                        && m.created_at >= since
                        && chosen.contains(&m.session_id.as_str())
                })
                .map(|m| Stamp {
                    at: m.created_at,
                    id: m.id,
                })
                .collect();
            stamps.sort_unstable_by(|a, b| b.cmp(a));
            stamps.truncate(up_to as usize);
            Ok(stamps)
        })
    }

    fn find_sessions<'a>(
        &'a self,
        query: &'a SessionQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<Session>>> {
        self.with(|state| {
            let mut found: Vec<(usize, &Session)> = state
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| query.matches(s))
                .collect();
            found.sort_by_key(|(at, s)| (s.started_at, *at));
            let skip = found.len().saturating_sub(query.limit as usize);
            Ok(found
                .into_iter()
                .skip(skip)
                .map(|(_, s)| s.clone())
                .collect())
        })
    }

    fn idle_sessions(
        &self,
        before: Millis,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<Session>>> {
        self.with(|state| {
            let mut idle: Vec<Session> = state
                .sessions
                .iter()
                .filter(|s| s.ended_at.is_none() && s.last_activity_at < before)
                .cloned()
                .collect();
            idle.sort_by_key(|s| s.last_activity_at);
            idle.truncate(limit as usize);
            Ok(idle)
        })
    }

    fn set_summary<'a>(
        &'a self,
        session: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            state.session_mut(session)?.summary = Some(summary.to_owned());
            Ok(())
        })
    }

    fn add_message<'a>(
        &'a self,
        session: &'a str,
        role: Role,
        author: Option<&'a str>,
        content: &'a str,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        self.with(|state| {
            let open = state.session_mut(session)?;
            // Messages written out of order never move the last activity back.
            open.last_activity_at = open.last_activity_at.max(now);
            let id = state.next();
            state.messages.push(StoredMessage {
                id,
                session_id: session.to_owned(),
                role,
                author: author.map(str::to_owned),
                content: content.to_owned(),
                created_at: now,
            });
            Ok(id)
        })
    }

    fn recent_messages<'a>(
        &'a self,
        session: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        self.with(|state| {
            let mut recent: Vec<StoredMessage> = state
                .messages
                .iter()
                .rev()
                .filter(|m| m.session_id == session)
                .take(limit as usize)
                .cloned()
                .collect();
            recent.reverse();
            Ok(recent)
        })
    }

    fn is_repeat<'a>(
        &'a self,
        session: &'a str,
        content: &'a str,
        since: Millis,
        lookback: u32,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            Ok(state
                .messages
                .iter()
                .rev()
                .filter(|m| m.session_id == session)
                .take(lookback as usize)
                .any(|m| m.role == Role::User && m.content == content && m.created_at >= since))
        })
    }
}
