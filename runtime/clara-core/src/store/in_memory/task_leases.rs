//! [`TaskLeases`] in memory: one row per task, claimed and finished under the store's lock.

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::{Millis, StoreError, StoreResult, TaskLeases, TaskRun};

impl TaskLeases for InMemoryStore {
    fn claim_task_run<'a>(
        &'a self,
        name: &'a str,
        due_at: Millis,
        now: Millis,
        lease_until: Millis,
        node: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            let claimed = TaskRun {
                name: name.to_owned(),
                last_due_at: due_at,
                last_started_at: now,
                last_finished_at: None,
                last_ok: None,
                last_error: None,
                running_by: Some(node.to_owned()),
                lease_until: Some(lease_until),
            };
            let Some(run) = state.task_runs.get_mut(name) else {
                state.task_runs.insert(name.to_owned(), claimed);
                return Ok(true);
            };
            let lease_is_live =
                run.running_by.is_some() && run.lease_until.is_none_or(|l| l >= now);
            if run.last_due_at >= due_at || lease_is_live {
                return Ok(false);
            }
            // The last finished run's outcome stays until this one finishes.
            *run = TaskRun {
                last_finished_at: run.last_finished_at,
                last_ok: run.last_ok,
                last_error: run.last_error.take(),
                ..claimed
            };
            Ok(true)
        })
    }

    fn finish_task_run<'a>(
        &'a self,
        name: &'a str,
        node: &'a str,
        finished_at: Millis,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            let run = state
                .task_runs
                .get_mut(name)
                .filter(|run| run.running_by.as_deref() == Some(node))
                .ok_or_else(|| {
                    StoreError::NotFound(format!("a run of task `{name}` leased by `{node}`"))
                })?;
            run.last_finished_at = Some(finished_at);
            run.last_ok = Some(error.is_none());
            run.last_error = error.map(str::to_owned);
            run.running_by = None;
            run.lease_until = None;
            Ok(())
        })
    }

    fn task_run<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<TaskRun>>> {
        self.with(|state| Ok(state.task_runs.get(name).cloned()))
    }
}
