//! The scheduler's task runs: atomic claim of a due run with a lease, finish, and read back.

use clara_core::store::{Millis, StoreResult, TaskRun};
use sqlx::PgPool;

use super::{db, found};

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
    let row: Option<TaskRunRow> = sqlx::query_as(
        "SELECT name, last_due_at, last_started_at, last_finished_at, last_ok, last_error, \
         running_by, lease_until FROM task_runs WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(row.map(TaskRunRow::into_task_run))
}

/// A `task_runs` row.
#[derive(sqlx::FromRow)]
struct TaskRunRow {
    name: String,
    last_due_at: i64,
    last_started_at: i64,
    last_finished_at: Option<i64>,
    last_ok: Option<bool>,
    last_error: Option<String>,
    running_by: Option<String>,
    lease_until: Option<i64>,
}

impl TaskRunRow {
    /// The row as a [`TaskRun`].
    fn into_task_run(self) -> TaskRun {
        TaskRun {
            name: self.name,
            last_due_at: self.last_due_at,
            last_started_at: self.last_started_at,
            last_finished_at: self.last_finished_at,
            last_ok: self.last_ok,
            last_error: self.last_error,
            running_by: self.running_by,
            lease_until: self.lease_until,
        }
    }
}
