//! Memories, their audit history and their embeddings.

use clara_core::store::{Memory, MemoryChange, Millis, NewMemory, StoreResult};
use sqlx::{Connection, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::vector_index::{Change, VectorIndex, read_epoch};
use crate::store::rows::{ChangeRow, MemoryRow, change_select, memory_select, new_memory};
use crate::store::vector::to_blob;
use crate::store::{db, found};

/// Stores a memory and its `ADD` history entry in one transaction.
pub(super) async fn add_memory(
    conn: &mut SqliteConnection,
    index: &VectorIndex,
    new: NewMemory,
    now: Millis,
) -> StoreResult<Memory> {
    let (memory, embedding) = new_memory(new, now);
    let (model, blob) = match &embedding {
        Some((model, vector)) => (Some(model.as_str()), Some(to_blob(vector))),
        None => (None, None),
    };
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let (seq,): (i64,) = sqlx::query_as(
        "INSERT INTO memories (id, user_id, project, text, is_key, embedding, embedding_model, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING seq",
    )
    .bind(&memory.id)
    .bind(&memory.user_id)
    .bind(&memory.project)
    .bind(&memory.text)
    .bind(memory.is_key)
    .bind(&blob)
    .bind(model)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "INSERT INTO memory_history (memory_id, user_id, event, old_text, new_text, created_at) \
         VALUES (?1, ?2, 'ADD', NULL, ?3, ?4)",
    )
    .bind(&memory.id)
    .bind(&memory.user_id)
    .bind(&memory.text)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let change = Change::Stored {
        seq,
        updated_at: now,
        user: memory.user_id.clone(),
        project: memory.project.clone(),
        model: model.map(str::to_owned),
        embedding: blob,
    };
    commit_change(tx, index, change).await?;
    Ok(memory)
}

/// A `RETURNING` clause's view of a memory after a change.
type StoredRow = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
);

/// `RETURNING` columns matching [`StoredRow`].
const RETURNING_STORED: &str =
    " RETURNING seq, updated_at, user_id, project, embedding_model, embedding";

fn stored((seq, updated_at, user, project, model, embedding): StoredRow) -> Change {
    Change::Stored {
        seq,
        updated_at,
        user,
        project,
        model,
        embedding,
    }
}

/// Reads the epoch a one-row change in `tx` moved to, commits, and then tells the index.
async fn commit_change(
    mut tx: Transaction<'_, Sqlite>,
    index: &VectorIndex,
    change: Change,
) -> StoreResult<()> {
    let epoch = read_epoch(&mut tx).await?;
    tx.commit().await.map_err(db)?;
    index.apply(epoch, change);
    Ok(())
}

/// Rewrites a memory and records an `UPDATE`. Without a new embedding the old one is kept
/// only if the text is unchanged; otherwise it is cleared so the memory gets re-embedded.
pub(super) async fn update_memory(
    conn: &mut SqliteConnection,
    index: &VectorIndex,
    id: &str,
    text: &str,
    is_key: bool,
    embedding: Option<(&str, &[f32])>,
    now: Millis,
) -> StoreResult<()> {
    let (model, blob) = match embedding {
        Some((model, vector)) => (Some(model), Some(to_blob(vector))),
        None => (None, None),
    };
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let logged = sqlx::query(
        "INSERT INTO memory_history (memory_id, user_id, event, old_text, new_text, created_at) \
         SELECT id, user_id, 'UPDATE', text, ?2, ?3 FROM memories WHERE id = ?1",
    )
    .bind(id)
    .bind(text)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    found(logged.rows_affected(), || format!("memory {id}"))?;
    let row: StoredRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE memories SET \
             embedding = CASE WHEN ?4 IS NOT NULL THEN ?4 WHEN text = ?2 THEN embedding END, \
             embedding_model = CASE WHEN ?4 IS NOT NULL THEN ?5 WHEN text = ?2 \
                 THEN embedding_model END, \
             text = ?2, is_key = ?3, updated_at = ?6 \
         WHERE id = ?1{RETURNING_STORED}"
    )))
    .bind(id)
    .bind(text)
    .bind(is_key)
    .bind(blob)
    .bind(model)
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    commit_change(tx, index, stored(row)).await
}

/// Deletes a memory and records a `DELETE`; the history stays.
pub(super) async fn delete_memory(
    conn: &mut SqliteConnection,
    index: &VectorIndex,
    id: &str,
    now: Millis,
) -> StoreResult<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let logged = sqlx::query(
        "INSERT INTO memory_history (memory_id, user_id, event, old_text, new_text, created_at) \
         SELECT id, user_id, 'DELETE', text, NULL, ?2 FROM memories WHERE id = ?1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    found(logged.rows_affected(), || format!("memory {id}"))?;
    let (seq, user): (i64, String) =
        sqlx::query_as("DELETE FROM memories WHERE id = ?1 RETURNING seq, user_id")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
    commit_change(tx, index, Change::Removed { seq, user }).await
}

/// A memory by id.
pub(super) async fn memory(pool: &SqlitePool, id: &str) -> StoreResult<Option<Memory>> {
    let row: Option<MemoryRow> = sqlx::query_as(memory_select!("WHERE id = ?1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    Ok(row.map(Memory::from))
}

/// Every change to a memory, oldest first.
pub(super) async fn memory_history(pool: &SqlitePool, id: &str) -> StoreResult<Vec<MemoryChange>> {
    let rows: Vec<ChangeRow> = sqlx::query_as(change_select!("WHERE memory_id = ?1 ORDER BY id"))
        .bind(id)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    rows.into_iter().map(ChangeRow::into_change).collect()
}

/// Every live memory of `user`, oldest first.
pub(super) async fn memories_of(pool: &SqlitePool, user: &str) -> StoreResult<Vec<Memory>> {
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!("WHERE user_id = ?1 ORDER BY seq"))
        .bind(user)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    Ok(rows.into_iter().map(Memory::from).collect())
}

/// Each user with live memories and how many, by user id.
pub(super) async fn memory_users(pool: &SqlitePool) -> StoreResult<Vec<(String, u64)>> {
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
    pool: &SqlitePool,
    user: &str,
    limit: u32,
) -> StoreResult<Vec<Memory>> {
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!(
        "WHERE user_id = ?1 AND is_key = 1 ORDER BY updated_at DESC, seq DESC LIMIT +?2"
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
    pool: &SqlitePool,
    model: &str,
    limit: u32,
) -> StoreResult<Vec<Memory>> {
    // Runs after every reply: spelt as ranges so the model index answers it, where "is not
    // this model" would read every memory's row, vector and all, to find there is nothing
    // to do. (A missing model and a missing vector go together: the schema checks it.)
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!(
        "WHERE embedding_model IS NULL OR embedding_model < ?1 OR embedding_model > ?1 ",
        "ORDER BY +seq LIMIT +?2"
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
    conn: &mut SqliteConnection,
    index: &VectorIndex,
    id: &str,
    model: &str,
    vector: &[f32],
) -> StoreResult<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let row: Option<StoredRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE memories SET embedding = ?2, embedding_model = ?3 WHERE id = ?1{RETURNING_STORED}"
    )))
    .bind(id)
    .bind(to_blob(vector))
    .bind(model)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        return Err(clara_core::store::StoreError::NotFound(format!(
            "memory {id}"
        )));
    };
    commit_change(tx, index, stored(row)).await
}
