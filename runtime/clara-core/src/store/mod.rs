//! What the engine needs from a database, as ten narrow traits (sessions, memories, the job
//! queue, task leases, channel modes, the usage log, the tool log, connection tokens, email
//! watching, import marks) and [`Store`], their sum. Implemented at the edge (SQLite, Postgres) and here in
//! memory for fast tests; one contract test suite runs against every implementation.

mod channel_modes;
mod connection_tokens;
mod email_watch;
pub mod fusion;
mod import_marks;
mod in_memory;
mod job_queue;
mod memories;
mod sessions;
pub mod similarity;
mod task_leases;
mod tool_log;
mod types;
mod usage_log;

pub use channel_modes::ChannelModes;
pub use connection_tokens::{ConnectionTokens, StoredToken};
pub use email_watch::{EmailAccount, EmailAlert, EmailSettings, EmailWatch, UserEmailRule};
pub use import_marks::ImportMarks;
pub use in_memory::InMemoryStore;
pub use job_queue::JobQueue;
pub use memories::Memories;
pub use sessions::Sessions;
pub use task_leases::TaskLeases;
pub use tool_log::{ToolCallRecord, ToolLog, approvers_key, ran};
pub use types::{
    ChannelModeSetting, Job, Memory, MemoryChange, MemoryEvent, MemoryQuery, NewMemory,
    ScoredMemory, Session, SessionQuery, Stamp, StoreError, StoredMessage, TaskRun,
};
pub use usage_log::{UsageBy, UsageFilter, UsageLog, UsageRecord, UsageTotal, day_of, rank};

/// Milliseconds since the Unix epoch. Every time in the store is one of these, in UTC.
pub type Millis = i64;

/// A result from the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// A database for sessions, history, memories, background jobs, scheduled task runs, channel
/// modes, usage, tool calls, connection tokens, email watching and import marks: every area at once, the way
/// the engine holds it (`Arc<dyn Store>`).
///
/// Implemented for every type that implements the ten areas. A method of an area can be
/// called on a `dyn Store` or a `S: Store` without importing the area's trait; on a concrete
/// store type the area's trait must be in scope.
pub trait Store:
    Sessions
    + Memories
    + JobQueue
    + TaskLeases
    + ChannelModes
    + UsageLog
    + ToolLog
    + ConnectionTokens
    + EmailWatch
    + ImportMarks
{
}

impl<S> Store for S where
    S: Sessions
        + Memories
        + JobQueue
        + TaskLeases
        + ChannelModes
        + UsageLog
        + ToolLog
        + ConnectionTokens
        + EmailWatch
        + ImportMarks
        + ?Sized
{
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    // Only `Store` is imported: an area's method resolves through `dyn Store` without its trait.
    use super::{InMemoryStore, Store};

    #[test]
    fn a_dyn_store_reaches_every_area_without_importing_it() {
        let store: &dyn Store = &InMemoryStore::new();
        let ready = "an in-memory call is ready at once";
        let (session, created) = store
            .start_session("ann", "dm-ann", None, 1)
            .now_or_never()
            .expect(ready)
            .unwrap();
        assert!(created);
        assert_eq!(session.id.len(), 32);
        assert!(
            store
                .key_memories("ann", 5)
                .now_or_never()
                .expect(ready)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store.claim_job(1, 1).now_or_never().expect(ready).unwrap(),
            None
        );
        assert_eq!(
            store.task_run("t").now_or_never().expect(ready).unwrap(),
            None
        );
        assert_eq!(
            store
                .channel_mode("p", "c")
                .now_or_never()
                .expect(ready)
                .unwrap(),
            None
        );
        assert!(
            store
                .email_accounts("ann")
                .now_or_never()
                .expect(ready)
                .unwrap()
                .is_empty()
        );
    }
}
