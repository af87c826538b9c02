//! What the engine needs from a database: sessions, messages, long-term memories with their
//! audit history, a durable job queue, the scheduler's claimed task runs and channel modes
//! set at run time. Implemented at
//! the edge (SQLite, Postgres); one contract test suite runs against every implementation.

mod types;

pub use types::{
    ChannelModeSetting, Job, Memory, MemoryChange, MemoryEvent, MemoryQuery, NewMemory,
    ScoredMemory, Session, StoreError, StoredMessage, TaskRun,
};

use crate::llm::{BoxFuture, Role};

/// Milliseconds since the Unix epoch. Every time in the store is one of these, in UTC.
pub type Millis = i64;

/// A result from the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// A database for sessions, history, memories, background jobs, scheduled task runs and
/// channel modes.
pub trait Store: Send + Sync {
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

    /// Whether one of the session's last `lookback` messages is a user message with exactly
    /// `content`, written at or after `since`: a repeat the duplicate guard drops.
    fn is_repeat<'a>(
        &'a self,
        session: &'a str,
        content: &'a str,
        since: Millis,
        lookback: u32,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Stores a memory and records an `Add` in its history.
    fn add_memory<'a>(
        &'a self,
        memory: NewMemory,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<Memory>>;

    /// Rewrites a memory's text (and embedding) and records an `Update`.
    fn update_memory<'a>(
        &'a self,
        id: &'a str,
        text: &'a str,
        is_key: bool,
        embedding: Option<(&'a str, &'a [f32])>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Deletes a memory and records a `Delete` (the history stays).
    fn delete_memory<'a>(&'a self, id: &'a str, now: Millis) -> BoxFuture<'a, StoreResult<()>>;

    /// A memory by id.
    fn memory<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<Memory>>>;

    /// Every change to a memory, oldest first.
    fn memory_history<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<MemoryChange>>>;

    /// A user's key memories, newest first.
    fn key_memories<'a>(
        &'a self,
        user: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>>;

    /// Hybrid search over a user's memories: full text, plus vector similarity when the query
    /// has an embedding, fused by rank. Scores are in 0..=1, higher is better.
    fn search_memories<'a>(
        &'a self,
        query: &'a MemoryQuery<'a>,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredMemory>>>;

    /// Memories without an embedding from `model` (none yet, or another model's), for
    /// re-embedding; vectors of different models are never compared.
    fn memories_to_embed<'a>(
        &'a self,
        model: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>>;

    /// Stores a memory's embedding from `model`.
    fn set_embedding<'a>(
        &'a self,
        id: &'a str,
        model: &'a str,
        vector: &'a [f32],
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Queues a job to run at or after `run_after`.
    fn enqueue_job<'a>(
        &'a self,
        kind: &'a str,
        payload: &'a serde_json::Value,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>>;

    /// Takes the oldest due job, leasing it until `now + lease_ms` (a job whose lease ran out,
    /// because its worker died, is due again).
    fn claim_job<'a>(
        &'a self,
        now: Millis,
        lease_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<Job>>>;

    /// Removes a finished job.
    fn complete_job(&self, id: i64) -> BoxFuture<'_, StoreResult<()>>;

    /// Releases a failed job to run again at `run_after`, keeping the error.
    fn retry_job<'a>(
        &'a self,
        id: i64,
        error: &'a str,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Claims the run of task `name` due at `due_at` for `node`, leasing the task until
    /// `lease_until`; `true` when this call won it. It wins only when no run due at or after
    /// `due_at` was claimed before and no other run holds a live lease (one whose
    /// `lease_until` is not before `now`). One atomic statement, so of any number of
    /// instances sharing the database, exactly one wins a given due run, and a task never
    /// runs twice at once while its lease lasts. The previous outcome stays until
    /// [`finish_task_run`](Store::finish_task_run).
    fn claim_task_run<'a>(
        &'a self,
        name: &'a str,
        due_at: Millis,
        now: Millis,
        lease_until: Millis,
        node: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Records how the run `node` claimed ended (`error` is `None` on success) and releases
    /// the lease. `NotFound` when `node` no longer holds the lease (it ran out and another
    /// node claimed a later run): the outcome is then not recorded, since the row describes
    /// the other node's run.
    fn finish_task_run<'a>(
        &'a self,
        name: &'a str,
        node: &'a str,
        finished_at: Millis,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// The stored state of task `name`; `None` when no run of it was ever claimed.
    fn task_run<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<TaskRun>>>;

    /// The mode set at run time for channel `channel_id` of `platform`; `None` when none is
    /// set (the configured mode applies).
    fn channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ChannelModeSetting>>>;

    /// Sets a channel's mode, replacing the one set before.
    fn set_channel_mode<'a>(
        &'a self,
        setting: &'a ChannelModeSetting,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Removes a channel's mode so the configured one applies again; `true` when one was set.
    fn clear_channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;
}
