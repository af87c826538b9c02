//! [`JobQueue`] in memory: jobs by id, claimed oldest due first under a lease.

use super::{InMemoryStore, QueuedJob};
use crate::llm::BoxFuture;
use crate::store::{Job, JobQueue, Millis, StoreError, StoreResult};

/// Recorded when a job's lease ran out, as the database stores record it.
const LEASE_EXPIRED: &str = "lease expired before the job finished";

impl JobQueue for InMemoryStore {
    fn enqueue_job<'a>(
        &'a self,
        kind: &'a str,
        payload: &'a serde_json::Value,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        self.with(|state| {
            let id = state.next();
            state.jobs.insert(
                id,
                QueuedJob {
                    kind: kind.to_owned(),
                    payload: payload.clone(),
                    run_after,
                    attempts: 0,
                    last_error: None,
                    lease_until: None,
                },
            );
            Ok(id)
        })
    }

    fn claim_job<'a>(
        &'a self,
        now: Millis,
        lease_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        self.with(|state| {
            let due = state
                .jobs
                .iter_mut()
                .filter(|(_, job)| {
                    job.run_after <= now && job.lease_until.is_none_or(|until| until < now)
                })
                .min_by_key(|(id, job)| (job.run_after, **id));
            let Some((&id, job)) = due else {
                return Ok(None);
            };
            // A lease that ran out means the worker holding it died: a failed attempt.
            if job.lease_until.is_some() {
                job.attempts = job.attempts.saturating_add(1);
                job.last_error = Some(LEASE_EXPIRED.to_owned());
            }
            job.lease_until = Some(now.saturating_add(lease_ms));
            Ok(Some(Job {
                id,
                kind: job.kind.clone(),
                payload: job.payload.clone(),
                attempts: job.attempts,
                last_error: job.last_error.clone(),
            }))
        })
    }

    fn complete_job(&self, id: i64) -> BoxFuture<'_, StoreResult<()>> {
        self.with(|state| {
            state
                .jobs
                .remove(&id)
                .map(|_| ())
                .ok_or_else(|| StoreError::NotFound(format!("job {id}")))
        })
    }

    fn retry_job<'a>(
        &'a self,
        id: i64,
        error: &'a str,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            let job = state
                .jobs
                .get_mut(&id)
                .ok_or_else(|| StoreError::NotFound(format!("job {id}")))?;
            job.attempts = job.attempts.saturating_add(1);
            job.last_error = Some(error.to_owned());
            job.run_after = run_after;
            job.lease_until = None;
            Ok(())
        })
    }
}
