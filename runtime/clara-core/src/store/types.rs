//! The records a store keeps.

use serde::{Deserialize, Serialize};

use super::Millis;
use crate::llm::Role;

/// A conversation session of one user in one conversation (a DM or a channel).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Unique id.
    pub id: String,
    /// Whose session it is.
    pub user_id: String,
    /// The conversation: `dm-…` or `channel-…`.
    pub conversation: String,
    /// When it started.
    pub started_at: Millis,
    /// The last message's time.
    pub last_activity_at: Millis,
    /// When it ended (idle timeout), if it has.
    pub ended_at: Option<Millis>,
    /// The session this one follows.
    pub previous_session_id: Option<String>,
    /// The summary written when it ended.
    pub summary: Option<String>,
}

/// A stored row a rate limit counts (a user message, a tool call that ran): when it was
/// written, and its id, which tells it apart from another written in the same millisecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    /// When it was written.
    pub at: Millis,
    /// Its id in its table.
    pub id: i64,
}

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Order within the store.
    pub id: i64,
    /// The session it belongs to.
    pub session_id: String,
    /// `User` or `Assistant`.
    pub role: Role,
    /// Display name of the author, for shared channels.
    pub author: Option<String>,
    /// The text.
    pub content: String,
    /// When it was written.
    pub created_at: Millis,
}

/// Which sessions to look at: every field set narrows the choice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only this user's sessions.
    pub user_id: Option<String>,
    /// Only sessions in this conversation (`dm-…` or `channel-…`).
    pub conversation: Option<String>,
    /// Only the session with this id.
    pub session_id: Option<String>,
    /// Only sessions active at or after this time.
    pub since: Option<Millis>,
    /// Only sessions started before this time.
    pub until: Option<Millis>,
    /// At most this many, the most recently started (returned oldest first).
    pub limit: u32,
}

impl SessionQuery {
    /// Whether `session` is one this query chooses (its limit aside).
    pub fn matches(&self, session: &Session) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.user_id, &session.user_id)
            && is(&self.conversation, &session.conversation)
            && is(&self.session_id, &session.id)
            && self.since.is_none_or(|t| session.last_activity_at >= t)
            && self.until.is_none_or(|t| session.started_at < t)
    }
}

/// A long-term memory: one fact about a user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Unique id.
    pub id: String,
    /// Whose memory it is.
    pub user_id: String,
    /// The project it is filed under, if any.
    pub project: Option<String>,
    /// The fact.
    pub text: String,
    /// A foundational fact (identity, relationships, health, work, home), always in context.
    pub is_key: bool,
    /// When it was first stored.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// A memory to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMemory {
    /// Whose memory it is.
    pub user_id: String,
    /// The project, if any.
    pub project: Option<String>,
    /// The fact.
    pub text: String,
    /// Whether it is a key memory.
    pub is_key: bool,
    /// Its embedding and the model that made it, when embeddings are on.
    pub embedding: Option<(String, Vec<f32>)>,
}

/// A memory found by search.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredMemory {
    /// The memory.
    pub memory: Memory,
    /// Relevance in 0..=1, higher is better.
    pub score: f32,
}

/// A memory search.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryQuery<'a> {
    /// Whose memories.
    pub user_id: &'a str,
    /// Only this project's memories, when set.
    pub project: Option<&'a str>,
    /// The text to match.
    pub text: &'a str,
    /// The text's embedding and its model, for the vector side.
    pub embedding: Option<(&'a str, &'a [f32])>,
    /// Results wanted.
    pub limit: u32,
    /// Candidates taken from each side before fusion.
    pub candidates: u32,
    /// The `k` of reciprocal rank fusion.
    pub rrf_k: u32,
}

impl MemoryQuery<'_> {
    /// Whether `other` searches the same text for the same user the same way, whatever its
    /// project and limit: what [`Memories::search_memories_together`](super::Memories::search_memories_together)
    /// can share.
    pub fn shares_work_with(&self, other: &MemoryQuery<'_>) -> bool {
        self.user_id == other.user_id
            && self.text == other.text
            && self.embedding == other.embedding
            && self.candidates == other.candidates
            && self.rrf_k == other.rrf_k
    }
}

/// What happened to a memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum MemoryEvent {
    /// Created.
    Add,
    /// Rewritten.
    Update,
    /// Deleted.
    Delete,
}

/// One entry of a memory's audit history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryChange {
    /// The memory.
    pub memory_id: String,
    /// What happened.
    pub event: MemoryEvent,
    /// The text before (updates and deletes).
    pub old_text: Option<String>,
    /// The text after (adds and updates).
    pub new_text: Option<String>,
    /// When.
    pub created_at: Millis,
}

/// A background job taken from the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Queue id.
    pub id: i64,
    /// What to do, e.g. `extract_memories`.
    pub kind: String,
    /// Its input.
    pub payload: serde_json::Value,
    /// Earlier attempts that failed.
    pub attempts: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
}

/// A scheduled task's durable state: the latest due run some instance claimed, the last
/// finished run's outcome, and who holds the task's lease while it runs.
///
/// Claiming a run leaves the previous outcome in place until that run finishes, so while a
/// run is in progress `last_finished_at` (when set) is older than `last_started_at` and
/// `last_ok` and `last_error` describe the run before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    /// The task's name.
    pub name: String,
    /// The due time of the latest claimed run; runs due at or before it are never claimed
    /// again, so the ones due after it (and already past) are the missed ones.
    pub last_due_at: Millis,
    /// When the latest claimed run started.
    pub last_started_at: Millis,
    /// When the last run that reported its outcome finished.
    pub last_finished_at: Option<Millis>,
    /// Whether that run succeeded.
    pub last_ok: Option<bool>,
    /// That run's failure, when it failed.
    pub last_error: Option<String>,
    /// The node holding the lease: running the task now, or died doing so until
    /// `lease_until` passes.
    pub running_by: Option<String>,
    /// When the lease runs out; after it another node may claim a later run.
    pub lease_until: Option<Millis>,
}

/// A chat channel's reply mode set at run time (by an admin command), overriding the one in
/// `clara.toml` until cleared. Kept in the store so every instance sharing it agrees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelModeSetting {
    /// The chat platform, e.g. `discord`.
    pub platform: String,
    /// The channel's id on that platform.
    pub channel_id: String,
    /// The server (Discord guild) the channel belongs to, when it has one.
    pub guild_id: Option<String>,
    /// The mode, e.g. `active`, `mention` or `off`; stored as given, the caller validates it.
    pub mode: String,
    /// Who set it (a platform user id).
    pub set_by: String,
    /// When it was set.
    pub updated_at: Millis,
}

/// A store failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused the operation.
    #[error("database error: {0}")]
    Database(String),
    /// The record does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}
