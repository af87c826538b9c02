//! Hybrid memory search: FTS5 with bm25 on one side, brute-force cosine similarity over the
//! vectors of the query's model on the other, fused by reciprocal rank.

use std::collections::HashMap;

use clara_core::store::{Memory, MemoryQuery, ScoredMemory, StoreError, StoreResult};
use sqlx::SqlitePool;

use super::db;
use super::memories::{MemoryRow, memory_select};
use crate::store::fusion::{Ranked, fts5_query, fuse};
use crate::store::vector::{cosine_with_norm, from_blob_into, norm};

/// Searches a user's memories; see [`clara_core::store::Store::search_memories`].
///
/// Each side contributes its best `max(candidates, limit)` memories. The text side counts
/// whenever the query has a word; the vector side counts when the query has an embedding
/// and at least one of the user's memories has a vector from the same model.
pub(super) async fn search_memories(
    pool: &SqlitePool,
    query: &MemoryQuery<'_>,
) -> StoreResult<Vec<ScoredMemory>> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let candidates = query.candidates.max(query.limit);
    let mut sides = Vec::with_capacity(2);
    if let Some(fts) = fts5_query(query.text) {
        sides.push(text_side(pool, query, &fts, candidates).await?);
    }
    if let Some((model, vector)) = query.embedding {
        let side = vector_side(pool, query, model, vector, candidates).await?;
        if !side.is_empty() {
            sides.push(side);
        }
    }
    let fused = fuse(&sides, query.rrf_k, query.limit as usize);
    if fused.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<i64> = fused.iter().map(|(seq, _)| *seq).collect();
    let seqs = serde_json::to_string(&seqs).map_err(|e| StoreError::Database(e.to_string()))?;
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!(
        "WHERE seq IN (SELECT value FROM json_each(?1))"
    ))
    .bind(seqs)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut rows: HashMap<i64, MemoryRow> = rows.into_iter().map(|row| (row.seq, row)).collect();
    Ok(fused
        .into_iter()
        .filter_map(|(seq, score)| {
            rows.remove(&seq).map(|row| ScoredMemory {
                memory: Memory::from(row),
                score,
            })
        })
        .collect())
}

/// Full-text candidates, best bm25 first.
async fn text_side(
    pool: &SqlitePool,
    query: &MemoryQuery<'_>,
    fts: &str,
    candidates: u32,
) -> StoreResult<Vec<Ranked<i64>>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT m.seq, m.updated_at FROM memories_fts \
         JOIN memories m ON m.seq = memories_fts.rowid \
         WHERE memories_fts MATCH ?1 AND m.user_id = ?2 AND (?3 IS NULL OR m.project = ?3) \
         ORDER BY bm25(memories_fts), m.updated_at DESC, m.seq DESC LIMIT ?4",
    )
    .bind(fts)
    .bind(query.user_id)
    .bind(query.project)
    .bind(i64::from(candidates))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(key, updated_at)| Ranked { key, updated_at })
        .collect())
}

/// Vector candidates, most similar first, among the user's memories embedded by `model`.
async fn vector_side(
    pool: &SqlitePool,
    query: &MemoryQuery<'_>,
    model: &str,
    vector: &[f32],
    candidates: u32,
) -> StoreResult<Vec<Ranked<i64>>> {
    let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, updated_at, embedding FROM memories \
         WHERE user_id = ?1 AND (?2 IS NULL OR project = ?2) AND embedding_model = ?3",
    )
    .bind(query.user_id)
    .bind(query.project)
    .bind(model)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let query_norm = norm(vector);
    let mut decoded = Vec::with_capacity(vector.len());
    let mut scored: Vec<(f32, Ranked<i64>)> = Vec::with_capacity(rows.len());
    for (key, updated_at, blob) in rows {
        from_blob_into(&blob, &mut decoded);
        if decoded.len() != vector.len() {
            continue; // a broken or foreign vector; never compare different shapes
        }
        let similarity = cosine_with_norm(&decoded, vector, query_norm);
        scored.push((similarity, Ranked { key, updated_at }));
    }
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.1.updated_at.cmp(&a.1.updated_at))
            .then(b.1.key.cmp(&a.1.key))
    });
    scored.truncate(candidates as usize);
    Ok(scored.into_iter().map(|(_, ranked)| ranked).collect())
}
