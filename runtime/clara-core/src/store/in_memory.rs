//! [`InMemoryStore`]: a [`Store`](super::Store) kept in process memory, for the engine's fast
//! tests. It honours the same contract as the database stores (the contract suite runs against
//! it too) but keeps nothing past its own life and is shared only within one process (through an
//! `Arc`), never between instances.

mod channel_modes;
mod connection_tokens;
mod email_watch;
mod import_marks;
mod job_queue;
mod memories;
mod search;
mod sessions;
mod task_leases;
mod tool_log;
mod usage_log;

use std::collections::{BTreeMap, HashMap};
use std::future::ready;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{
    ChannelModeSetting, EmailAccount, EmailAlert, EmailSettings, Memory, MemoryChange, Millis,
    Session, StoredMessage, StoredToken, TaskRun, ToolCallRecord, UsageRecord, UserEmailRule,
};
use crate::llm::BoxFuture;

/// A store in memory. Every call takes one lock, does its work at once and returns a ready
/// future, so each call is atomic the way one SQL statement or transaction is.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> InMemoryStore {
        InMemoryStore::default()
    }

    /// The state, locked. A panic while it was held (a bug in a caller's test) leaves data
    /// that is still consistent, since every change is made after its checks.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the locked state and hands its result back as a finished future.
    fn with<'a, T: Send + 'a>(&'a self, f: impl FnOnce(&mut State) -> T) -> BoxFuture<'a, T> {
        let result = f(&mut self.state());
        Box::pin(ready(result))
    }
}

/// Everything the store holds, in the order it was written (which the database stores'
/// sequence numbers and row ids give them).
#[derive(Debug, Default)]
struct State {
    /// The last number handed out, for ids of every kind.
    counter: i64,
    sessions: Vec<Session>,
    messages: Vec<StoredMessage>,
    /// Live memories by sequence number (the order they were added).
    memories: BTreeMap<i64, StoredMemory>,
    /// Every change of every memory, oldest first; deleted memories' entries stay.
    history: Vec<MemoryChange>,
    jobs: BTreeMap<i64, QueuedJob>,
    task_runs: HashMap<String, TaskRun>,
    channel_modes: HashMap<(String, String), ChannelModeSetting>,
    /// Model calls, in the order recorded.
    usage: Vec<UsageRecord>,
    tool_calls: Vec<ToolCallRecord>,
    /// Sealed tokens by user and connection.
    connection_tokens: HashMap<(String, String), StoredToken>,
    /// OAuth state nonces already used, with when each expires.
    oauth_states: HashMap<String, Millis>,
    /// Watched inboxes by id (the order they were connected).
    email_accounts: BTreeMap<i64, EmailAccount>,
    /// Alert settings by user; a user never saved has none here.
    email_settings: HashMap<String, EmailSettings>,
    /// Rules by user and name.
    email_rules: HashMap<(String, String), UserEmailRule>,
    /// Imported records' clara ids by source, kind and source id.
    import_marks: HashMap<(String, String, String), String>,
    /// Alerts by id (the order they were recorded).
    email_alerts: BTreeMap<i64, EmailAlert>,
}

impl State {
    /// The next number: message, job and memory sequence numbers, and the source of ids.
    fn next(&mut self) -> i64 {
        self.counter += 1;
        self.counter
    }

    /// A new id, 32 lowercase hex characters like the database stores' random ids; unique
    /// within the store.
    fn new_id(&mut self) -> String {
        format!("{:032x}", self.next())
    }
}

/// A memory with what only the store sees: its sequence number and its embedding.
#[derive(Debug)]
struct StoredMemory {
    seq: i64,
    memory: Memory,
    /// The vector and the model that made it.
    embedding: Option<(String, Vec<f32>)>,
}

/// A job in the queue.
#[derive(Debug)]
struct QueuedJob {
    kind: String,
    payload: serde_json::Value,
    run_after: Millis,
    attempts: u32,
    last_error: Option<String>,
    /// Set while a worker holds the job.
    lease_until: Option<Millis>,
}
