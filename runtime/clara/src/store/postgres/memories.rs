//! Memories, their audit history and their embeddings.

use clara_core::store::{Memory, MemoryChange, Millis, NewMemory, StoreResult};
use pgvector::Vector;
use sqlx::PgPool;

use super::PostgresStore;
use super::vectors::{ensure_index, to_vector};
use crate::store::rows::{ChangeRow, MemoryRow, change_select, memory_select, new_memory};
use crate::store::{db, found};

/// An embedding as bound: model, vector and dimension, or all `NULL`. Makes sure the HNSW
/// index for the vector's dimension exists before the vector is written.
async fn prepare(
    store: &PostgresStore,
    embedding: Option<(&str, &[f32])>,
) -> StoreResult<(Option<String>, Option<Vector>, Option<i32>)> {
    match embedding {
        Some((model, vector)) => {
            let (vector, dims) = to_vector(vector)?;
            ensure_index(store, dims).await?;
            Ok((Some(model.to_owned()), Some(vector), Some(dims)))
        }
        None => Ok((None, None, None)),
    }
}

/// Stores a memory and its `ADD` history entry in one transaction.
pub(super) async fn add_memory(
    store: &PostgresStore,
    new: NewMemory,
    now: Millis,
) -> StoreResult<Memory> {
    let (memory, embedding) = new_memory(new, now);
    let embedding = embedding.as_ref().map(|(m, v)| (m.as_str(), v.as_slice()));
    let (model, vector, dims) = prepare(store, embedding).await?;
    let mut tx = store.pool.begin().await.map_err(db)?;
    sqlx::query(
        "INSERT INTO memories (id, user_id, project, text, is_key, embedding, embedding_model, \
         embedding_dims, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(&memory.id)
    .bind(&memory.user_id)
    .bind(&memory.project)
    .bind(&memory.text)
    .bind(memory.is_key)
    .bind(vector)
    .bind(model)
    .bind(dims)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO memory_history (memory_id, user_id, event, old_text, new_text, created_at) \
         VALUES ($1, $2, 'ADD', NULL, $3, $4)",
    )
    .bind(&memory.id)
    .bind(&memory.user_id)
    .bind(&memory.text)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(memory)
}

/// Rewrites a memory and records an `UPDATE`. Without a new embedding the old one is kept
/// only if the text is unchanged; otherwise it is cleared so the memory gets re-embedded.
pub(super) async fn update_memory(
    store: &PostgresStore,
    id: &str,
    text: &str,
    is_key: bool,
    embedding: Option<(&str, &[f32])>,
    now: Millis,
) -> StoreResult<()> {
    let (model, vector, dims) = prepare(store, embedding).await?;
    let mut tx = store.pool.begin().await.map_err(db)?;
    // Locks the row, so the history's old text is the one this update replaces.
    let logged = sqlx::query(
        "INSERT INTO memory_history (memory_id, user_id, event, old_text, new_text, created_at) \
         SELECT id, user_id, 'UPDATE', text, $2, $3 FROM memories WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .bind(text)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    found(logged.rows_affected(), || format!("memory {id}"))?;
    // Every right-hand side sees the row as it was, so `text = $2` compares the old text.
    sqlx::query(
        "UPDATE memories SET \
             embedding = CASE WHEN $6::integer IS NOT NULL THEN $4 \
                 WHEN text = $2 THEN embedding END, \
             embedding_model = CASE WHEN $6::integer IS NOT NULL THEN $5 \
                 WHEN text = $2 THEN embedding_model END, \
             embedding_dims = CASE WHEN $6::integer IS NOT NULL THEN $6 \
                 WHEN text = $2 THEN embedding_dims END, \
             text = $2, is_key = $3, updated_at = $7 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(text)
    .bind(is_key)
    .bind(vector)
    .bind(model)
    .bind(dims)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)
}

/// Deletes a memory and records a `DELETE`; the history stays.
pub(super) async fn delete_memory(pool: &PgPool, id: &str, now: Millis) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    let logged = sqlx::query(
        "INSERT INTO memory_history (memory_id, user_id, event, old_text, new_text, created_at) \
         SELECT id, user_id, 'DELETE', text, NULL, $2 FROM memories WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    found(logged.rows_affected(), || format!("memory {id}"))?;
    sqlx::query("DELETE FROM memories WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)
}

/// A memory by id.
pub(super) async fn memory(pool: &PgPool, id: &str) -> StoreResult<Option<Memory>> {
    let row: Option<MemoryRow> = sqlx::query_as(memory_select!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    Ok(row.map(Memory::from))
}

/// Every change to a memory, oldest first.
pub(super) async fn memory_history(pool: &PgPool, id: &str) -> StoreResult<Vec<MemoryChange>> {
    let rows: Vec<ChangeRow> = sqlx::query_as(change_select!("WHERE memory_id = $1 ORDER BY id"))
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.into_iter().map(ChangeRow::into_change).collect()
}

/// Every live memory of `user`, oldest first.
pub(super) async fn memories_of(pool: &PgPool, user: &str) -> StoreResult<Vec<Memory>> {
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!("WHERE user_id = $1 ORDER BY seq"))
        .bind(user)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    Ok(rows.into_iter().map(Memory::from).collect())
}

/// Each user with live memories and how many, by user id.
pub(super) async fn memory_users(pool: &PgPool) -> StoreResult<Vec<(String, u64)>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT user_id, COUNT(*) FROM memories GROUP BY user_id ORDER BY user_id")
            .fetch_all(pool)
            .await
            .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(user, n)| (user, u64::try_from(n).unwrap_or(0)))
        .collect())
}

/// A user's key memories, most recently changed first.
pub(super) async fn key_memories(
    pool: &PgPool,
    user: &str,
    limit: u32,
) -> StoreResult<Vec<Memory>> {
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!(
        "WHERE user_id = $1 AND is_key ORDER BY updated_at DESC, seq DESC LIMIT $2"
    ))
    .bind(user)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().map(Memory::from).collect())
}

/// Memories (of every user) with no embedding from `model`, oldest first.
pub(super) async fn memories_to_embed(
    pool: &PgPool,
    model: &str,
    limit: u32,
) -> StoreResult<Vec<Memory>> {
    // Runs after every reply: spelt as ranges so the model index answers it, where "is not
    // this model" would read every memory's row, vector and all, to find there is nothing
    // to do. (A missing model and a missing vector go together: the schema checks it.)
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!(
        "WHERE embedding_model IS NULL OR embedding_model < $1 OR embedding_model > $1 ",
        "ORDER BY seq LIMIT $2"
    ))
    .bind(model)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().map(Memory::from).collect())
}

/// Stores a memory's embedding from `model` (replacing any other model's).
pub(super) async fn set_embedding(
    store: &PostgresStore,
    id: &str,
    model: &str,
    vector: &[f32],
) -> StoreResult<()> {
    let (vector, dims) = to_vector(vector)?;
    ensure_index(store, dims).await?;
    let result = sqlx::query(
        "UPDATE memories SET embedding = $2, embedding_model = $3, embedding_dims = $4 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(vector)
    .bind(model)
    .bind(dims)
    .execute(&store.pool)
    .await
    .map_err(db)?;
    found(result.rows_affected(), || format!("memory {id}"))
}
