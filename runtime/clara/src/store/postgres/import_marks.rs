//! Import marks: which records of another system `clara import` brought in, and as what.

use clara_core::store::StoreResult;
use sqlx::PgPool;

use crate::store::db;

/// The clara id record `source_id` of `source` was imported as.
pub(super) async fn get(
    pool: &PgPool,
    source: &str,
    kind: &str,
    source_id: &str,
) -> StoreResult<Option<String>> {
    sqlx::query_scalar(
        "SELECT target_id FROM import_marks WHERE source = $1 AND kind = $2 AND source_id = $3",
    )
    .bind(source)
    .bind(kind)
    .bind(source_id)
    .fetch_optional(pool)
    .await
    .map_err(db)
}

/// Records it (the first mark stays).
pub(super) async fn mark(
    pool: &PgPool,
    source: &str,
    kind: &str,
    source_id: &str,
    target_id: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO import_marks (source, kind, source_id, target_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (source, kind, source_id) DO NOTHING",
    )
    .bind(source)
    .bind(kind)
    .bind(source_id)
    .bind(target_id)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}
