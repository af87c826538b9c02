//! The sessions of each user in each conversation, and the messages written in them.

use super::{Millis, Session, SessionQuery, Stamp, StoreResult, StoredMessage};
use crate::llm::{BoxFuture, Role};

/// Sessions and their messages: at most one open session per user and conversation, each
/// message moving its session's last activity.
pub trait Sessions: Send + Sync {
    /// The open (not ended) session of `user` in `conversation`, if any.
    fn open_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>>;

    /// The newest session of `user` in `conversation`, open or ended, if any.
    fn latest_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>>;

    /// Starts a session linked to the one it follows, unless `user` already has an open one
    /// in `conversation` (another turn or process opened it a moment ago): a user has at most
    /// one open session per conversation. Returns the open session and whether this call
    /// created it.
    fn start_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
        previous: Option<&'a str>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<(Session, bool)>>;

    /// Marks a session ended; returns whether this call ended it (false when it had already
    /// ended), so only one of several racing callers acts on the end.
    fn end_session<'a>(&'a self, session: &'a str, now: Millis)
    -> BoxFuture<'a, StoreResult<bool>>;

    /// A session by id.
    fn session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, StoreResult<Option<Session>>>;

    /// The sessions `query` chooses, oldest first: at most `query.limit`, the most recently
    /// started ones.
    fn find_sessions<'a>(
        &'a self,
        query: &'a SessionQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<Session>>>;

    /// Open sessions with no activity since `before`, least recently active first, at most
    /// `limit`: the ones gone idle, to be ended and summarised in the background.
    fn idle_sessions(&self, before: Millis, limit: u32)
    -> BoxFuture<'_, StoreResult<Vec<Session>>>;

    /// Sets a session's summary.
    fn set_summary<'a>(
        &'a self,
        session: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Appends a message and moves the session's last activity to `now`.
    fn add_message<'a>(
        &'a self,
        session: &'a str,
        role: Role,
        author: Option<&'a str>,
        content: &'a str,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>>;

    /// The last `limit` messages of a session, oldest first.
    fn recent_messages<'a>(
        &'a self,
        session: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>>;

    /// The user messages written at or after `since` by `user` (in any conversation), in
    /// `conversation` (by anyone), or both when both are given: the newest `up_to` of them,
    /// newest first (a limit needs to know only whether it was passed). What a rate limit
    /// counts.
    fn user_message_stamps<'a>(
        &'a self,
        user: Option<&'a str>,
        conversation: Option<&'a str>,
        since: Millis,
        up_to: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Stamp>>>;

    /// Whether one of the session's last `lookback` messages is a user message with exactly
    /// `content`, written at or after `since`: a repeat the duplicate guard drops.
    fn is_repeat<'a>(
        &'a self,
        session: &'a str,
        content: &'a str,
        since: Millis,
        lookback: u32,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}
