//! The durable queue of background jobs (memory extraction, summaries), leased to a worker.

use super::{Job, Millis, StoreResult};
use crate::llm::BoxFuture;

/// A durable job queue: a job is claimed by one worker at a time, under a lease that runs out
/// if the worker dies.
pub trait JobQueue: Send + Sync {
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
}
