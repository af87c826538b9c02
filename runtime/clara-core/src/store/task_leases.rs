//! The scheduler's task runs: who runs which due run of a task, under a lease, and how the
//! last one ended.

use super::{Millis, StoreResult, TaskRun};
use crate::llm::BoxFuture;

/// Leases on scheduled task runs, so instances sharing a store run each due run once.
pub trait TaskLeases: Send + Sync {
    /// Claims the run of task `name` due at `due_at` for `node`, leasing the task until
    /// `lease_until`; `true` when this call won it. It wins only when no run due at or after
    /// `due_at` was claimed before and no other run holds a live lease (one whose
    /// `lease_until` is not before `now`). One atomic statement, so of any number of
    /// instances sharing the database, exactly one wins a given due run, and a task never
    /// runs twice at once while its lease lasts. The previous outcome stays until
    /// [`finish_task_run`](TaskLeases::finish_task_run).
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
}
