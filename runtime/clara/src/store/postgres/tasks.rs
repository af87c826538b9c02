//! The scheduler's task runs: atomic claim of a due run with a lease, finish, and read back.

use clara_core::store::{Millis, StoreResult, TaskRun};
use sqlx::PgPool;

use crate::store::rows::{TaskRunRow, task_run_select};
use crate::store::{db, found};

/// Claims the run of `name` due at `due_at` in one upsert: the insert wins for a task never
/// run, the update only when the stored due time is earlier and no live lease is held. A
/// losing upsert changes no row, which is how the caller learns it lost. Racing upserts of
/// one name serialise on its primary key, and the loser's `WHERE` is evaluated against the
/// winner's committed row, so exactly one wins a due run.
pub(super) async fn claim_task_run(
    pool: &PgPool,
    name: &str,
    due_at: Millis,
    now: Millis,
    lease_until: Millis,
    node: &str,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO task_runs AS t (name, last_due_at, last_started_at, running_by, lease_until) \
         VALUES ($1, $2, $3, $5, $4) \
         ON CONFLICT (name) DO UPDATE SET \
             last_due_at = EXCLUDED.last_due_at, \
             last_started_at = EXCLUDED.last_started_at, \
             running_by = EXCLUDED.running_by, \
             lease_until = EXCLUDED.lease_until \
         WHERE t.last_due_at < EXCLUDED.last_due_at \
           AND (t.running_by IS NULL OR t.lease_until < $3)",
    )
    .bind(name)
    .bind(due_at)
    .bind(now)
    .bind(lease_until)
    .bind(node)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(result.rows_affected() == 1)
}

/// Records the outcome of `node`'s run and releases its lease, unless another node holds it.
pub(super) async fn finish_task_run(
    pool: &PgPool,
    name: &str,
    node: &str,
    finished_at: Millis,
    error: Option<&str>,
) -> StoreResult<()> {
    let result = sqlx::query(
        "UPDATE task_runs SET last_finished_at = $3, last_ok = $4, last_error = $5, \
         running_by = NULL, lease_until = NULL \
         WHERE name = $1 AND running_by = $2",
    )
    .bind(name)
    .bind(node)
    .bind(finished_at)
    .bind(error.is_none())
    .bind(error)
    .execute(pool)
    .await
    .map_err(db)?;
    found(result.rows_affected(), || {
        format!("a run of task `{name}` leased by `{node}`")
    })
}

/// The stored state of task `name`.
pub(super) async fn task_run(pool: &PgPool, name: &str) -> StoreResult<Option<TaskRun>> {
    let row: Option<TaskRunRow> = sqlx::query_as(task_run_select!("WHERE name = $1"))
        .bind(name)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    Ok(row.map(TaskRun::from))
}
