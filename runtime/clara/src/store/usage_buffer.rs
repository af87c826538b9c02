//! Usage records held for a moment and written together, so a model call's answer never waits
//! for its usage row: one insert per [`WRITE_AFTER`] instead of a write per call. Reads of the
//! usage log write what is held first, and so does shutdown (`flush_usage`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use clara_core::llm::BoxFuture;
use clara_core::store::{StoreResult, UsageRecord};

/// How long a record waits for others to be written with.
pub(crate) const WRITE_AFTER: Duration = Duration::from_millis(100);

/// Most records in one insert: 13 values each stays well inside SQLite's and Postgres's
/// limits on bound values in a statement.
pub(crate) const BATCH: usize = 1_000;

/// Most records kept while the database cannot take them; past it the oldest go.
const MOST_HELD: usize = 100_000;

/// Where held records are written: one multi-row insert per call.
pub(crate) trait UsageSink: Clone + Send + Sync + 'static {
    /// Writes `records` (at most [`BATCH`]).
    fn insert<'a>(&'a self, records: &'a [UsageRecord]) -> BoxFuture<'a, StoreResult<()>>;
}

/// The records not yet written.
#[derive(Debug, Default)]
pub(crate) struct UsageBuffer {
    held: Mutex<Vec<UsageRecord>>,
    /// Whether a write is on its way for what is held.
    scheduled: AtomicBool,
    /// Held while records are written, so a read that writes what is held first also waits
    /// for a write under way.
    writing: tokio::sync::Mutex<()>,
}

impl UsageBuffer {
    /// Holds `record` and makes sure a write into `sink` follows within [`WRITE_AFTER`].
    pub(crate) fn hold<S: UsageSink>(self: &Arc<Self>, sink: &S, record: UsageRecord) {
        self.held().push(record);
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let buffer = Arc::clone(self);
        let sink = sink.clone();
        tokio::spawn(async move {
            tokio::time::sleep(WRITE_AFTER).await;
            if let Err(error) = buffer.write(&sink).await {
                tracing::warn!(%error, "model usage could not be written yet; it is kept to try again");
            }
        });
    }

    /// Writes everything held into `sink`. What cannot be written is kept for the next try.
    pub(crate) async fn write<S: UsageSink>(&self, sink: &S) -> StoreResult<()> {
        let _writing = self.writing.lock().await;
        self.scheduled.store(false, Ordering::Release);
        let records = std::mem::take(&mut *self.held());
        for (n, chunk) in records.chunks(BATCH).enumerate() {
            if let Err(error) = sink.insert(chunk).await {
                self.keep(&records[n * BATCH..]);
                return Err(error);
            }
        }
        Ok(())
    }

    /// Puts `unwritten` back ahead of what arrived meanwhile, within [`MOST_HELD`].
    fn keep(&self, unwritten: &[UsageRecord]) {
        let mut held = self.held();
        let arrived = std::mem::take(&mut *held);
        held.extend_from_slice(unwritten);
        held.extend(arrived);
        let over = held.len().saturating_sub(MOST_HELD);
        if over > 0 {
            tracing::warn!(
                dropped = over,
                "the database has not taken model usage for a while: the oldest records are dropped"
            );
            held.drain(..over);
        }
    }

    fn held(&self) -> MutexGuard<'_, Vec<UsageRecord>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
