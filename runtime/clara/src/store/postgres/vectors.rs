//! Embeddings in Postgres: checking a vector's shape, and the per-dimension HNSW indexes.
//!
//! The `embedding` column has no fixed dimension because the model decides it, but an HNSW
//! index needs one. So the first time a vector of `n` dimensions is stored, the store creates
//! a partial expression index on `embedding::vector(n)` covering only rows with
//! `embedding_dims = n`; vector search uses the same expression and condition
//! ([`distance_expr`], [`dims_condition`]) so the planner can pick it.

use clara_core::store::{StoreError, StoreResult};
use pgvector::Vector;
use sqlx::AssertSqlSafe;

use super::PostgresStore;
use crate::store::db;

/// The most dimensions pgvector's `vector` type holds.
const MAX_DIMS: usize = 16_000;

/// The most dimensions pgvector can put in an HNSW index; longer vectors are searched by an
/// exact scan.
const MAX_HNSW_DIMS: i32 = 2_000;

/// A transaction-level advisory lock key serialising index creation, so two connections
/// storing the first vector of a dimension at once do not both try to create its index.
const INDEX_LOCK: i64 = 0x636c_6172_615f_686e; // "clara_hn"

/// A vector ready to bind, with its dimension; refuses shapes pgvector cannot store.
pub(super) fn to_vector(vector: &[f32]) -> StoreResult<(Vector, i32)> {
    if vector.is_empty() || vector.len() > MAX_DIMS {
        return Err(StoreError::Database(format!(
            "an embedding needs 1 to {MAX_DIMS} dimensions, this one has {}",
            vector.len()
        )));
    }
    let dims = i32::try_from(vector.len())
        .map_err(|_| StoreError::Database("embedding too long".to_owned()))?;
    Ok((Vector::from(vector.to_vec()), dims))
}

/// The index name for `dims`.
pub(super) fn index_name(dims: i32) -> String {
    format!("memories_hnsw_{dims}")
}

/// The indexed expression: cosine distance of the stored vector, cast to `dims` dimensions,
/// to `param` (e.g. `$1`). Only valid on rows matching [`dims_condition`].
pub(super) fn distance_expr(dims: i32, param: &str) -> String {
    format!("(embedding::vector({dims}) <=> {param})")
}

/// The condition of the partial index for `dims` (written out literally: a bound parameter
/// would keep the planner from matching the index).
pub(super) fn dims_condition(dims: i32) -> String {
    format!("embedding_dims = {dims}")
}

/// Makes sure the HNSW index for `dims` exists, creating it the first time (at most once per
/// process; `IF NOT EXISTS` and an advisory lock cover other processes).
pub(super) async fn ensure_index(store: &PostgresStore, dims: i32) -> StoreResult<()> {
    if dims > MAX_HNSW_DIMS || store.is_indexed(dims) {
        return Ok(());
    }
    let mut tx = store.pool.begin().await.map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(INDEX_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    // `dims` is an integer, so the statement holds nothing from outside.
    let create = format!(
        "CREATE INDEX IF NOT EXISTS {name} ON memories \
         USING hnsw ((embedding::vector({dims})) vector_cosine_ops) WHERE {condition}",
        name = index_name(dims),
        condition = dims_condition(dims),
    );
    sqlx::query(AssertSqlSafe(create))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    store.mark_indexed(dims);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_pgvector_cannot_store_are_refused() {
        assert!(to_vector(&[]).is_err());
        assert!(to_vector(&vec![0.0; MAX_DIMS + 1]).is_err());
        let (vector, dims) = to_vector(&[1.0, 2.0]).expect("fits");
        assert_eq!((vector.as_slice(), dims), (&[1.0, 2.0][..], 2));
    }

    #[test]
    fn index_and_query_use_the_same_expression() {
        assert_eq!(distance_expr(3, "$1"), "(embedding::vector(3) <=> $1)");
        assert_eq!(dims_condition(3), "embedding_dims = 3");
        assert_eq!(index_name(1536), "memories_hnsw_1536");
    }
}
