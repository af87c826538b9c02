//! The durable job queue: enqueue, atomic claim with a lease, complete and retry.

use clara_core::store::{Job, Millis, StoreResult};
use sqlx::PgPool;

use crate::store::rows::JobRow;
use crate::store::{db, found};

/// Queues a job.
pub(super) async fn enqueue_job(
    pool: &PgPool,
    kind: &str,
    payload: &serde_json::Value,
    run_after: Millis,
) -> StoreResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO jobs (kind, payload, run_after) VALUES ($1, $2::jsonb, $3) RETURNING id",
    )
    .bind(kind)
    .bind(payload.to_string())
    .bind(run_after)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    Ok(id)
}

/// Leases the oldest due job in one statement; `FOR UPDATE SKIP LOCKED` keeps two workers
/// from taking the same job. A job whose lease ran out (its worker died) counts that as a
/// failed attempt.
pub(super) async fn claim_job(
    pool: &PgPool,
    now: Millis,
    lease_ms: i64,
) -> StoreResult<Option<Job>> {
    let row: Option<JobRow> = sqlx::query_as(
        "UPDATE jobs SET \
             lease_until = $1 + $2, \
             attempts = attempts + CASE WHEN lease_until IS NOT NULL THEN 1 ELSE 0 END, \
             last_error = CASE WHEN lease_until IS NOT NULL \
                 THEN 'lease expired before the job finished' ELSE last_error END \
         WHERE id = (SELECT id FROM jobs \
                     WHERE run_after <= $1 AND (lease_until IS NULL OR lease_until < $1) \
                     ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, kind, payload::text AS payload, attempts::bigint AS attempts, last_error",
    )
    .bind(now)
    .bind(lease_ms)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    row.map(JobRow::into_job).transpose()
}

/// Removes a finished job.
pub(super) async fn complete_job(pool: &PgPool, id: i64) -> StoreResult<()> {
    let result = sqlx::query("DELETE FROM jobs WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(db)?;
    found(result.rows_affected(), || format!("job {id}"))
}

/// Releases a failed job to run again at `run_after`, counting the attempt.
pub(super) async fn retry_job(
    pool: &PgPool,
    id: i64,
    error: &str,
    run_after: Millis,
) -> StoreResult<()> {
    let result = sqlx::query(
        "UPDATE jobs SET attempts = attempts + 1, last_error = $2, run_after = $3, \
         lease_until = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(run_after)
    .execute(pool)
    .await
    .map_err(db)?;
    found(result.rows_affected(), || format!("job {id}"))
}
