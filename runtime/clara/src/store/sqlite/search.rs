//! Hybrid memory search: FTS5 with bm25 on one side, cosine similarity over the vectors of the
//! query's model on the other (a shortlist from the in-memory index, rescored exactly), fused
//! by reciprocal rank.

use std::sync::PoisonError;

use clara_core::store::fusion::{
    Ranked, TEXT_RANK_BUDGET, by_similarity, fuse, in_fused_order, terms, text_plan,
};
use clara_core::store::similarity::{cosine_with_norm, norm};
use clara_core::store::{Memory, MemoryQuery, ScoredMemory, StoreError, StoreResult};
use sqlx::{SqliteConnection, SqlitePool};

use super::vector_index::VectorIndex;
use crate::store::db;
use crate::store::rows::{MemoryRow, memory_select};
use crate::store::vector::from_blob_into;

/// Searches a user's memories; see [`clara_core::store::Memories::search_memories`].
///
/// Each side contributes its best `max(candidates, limit)` memories. The text side counts
/// whenever the query has a word; the vector side counts when the query has an embedding
/// and at least one of the user's memories has a vector from the same model.
pub(super) async fn search_memories(
    pool: &SqlitePool,
    index: &VectorIndex,
    query: &MemoryQuery<'_>,
) -> StoreResult<Vec<ScoredMemory>> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    // One connection for the whole search: fewer pool round trips.
    let mut conn = pool.acquire().await.map_err(db)?;
    let candidates = query.candidates.max(query.limit);
    let mut sides = Vec::with_capacity(2);
    let words = terms(query.text);
    if !words.is_empty() {
        sides.push(text_side(&mut conn, query, words, candidates).await?);
    }
    if let Some((model, vector)) = query.embedding {
        let side = vector_side(&mut conn, index, query, model, vector, candidates).await?;
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
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    Ok(in_fused_order(
        fused,
        rows.into_iter().map(|row| (row.seq, Memory::from(row))),
    ))
}

/// An FTS5 query matching any of `words`: `"w1" OR "w2" …`. Each word holds only letters
/// and digits (see [`terms`]), so quoting makes it a plain string whatever the user typed.
fn fts5_query(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|t| format!("\"{t}\"")).collect();
    quoted.join(" OR ")
}

/// Full-text candidates, best bm25 first, ranking at most about [`TEXT_RANK_BUDGET`]
/// memories whatever the size of the table (see [`text_plan`]).
async fn text_side(
    conn: &mut SqliteConnection,
    query: &MemoryQuery<'_>,
    words: Vec<String>,
    candidates: u32,
) -> StoreResult<Vec<Ranked<i64>>> {
    let words = serde_json::to_string(&words).map_err(|e| StoreError::Database(e.to_string()))?;
    // Each count stops at one past the budget: a common word costs no more than a rare one.
    // Counted over every user's memories, as the full-text index is one for all.
    let counted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT value, (SELECT count(*) FROM (SELECT 1 FROM memories_fts \
             WHERE memories_fts MATCH '\"' || value || '\"' LIMIT ?2)) \
         FROM json_each(?1)",
    )
    .bind(words)
    .bind(TEXT_RANK_BUDGET as i64 + 1)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    // The covering index answers the owner check without reading the memory's row, which
    // holds its vector and so fills a page of its own.
    let Some(plan) = text_plan(counted, TEXT_RANK_BUDGET) else {
        return Ok(Vec::new());
    };
    let mut statement = if plan.recent {
        // The newest matches first, straight from the index's doclists, which are in rowid
        // order; only those are scored.
        sqlx::query_as(
            "SELECT seq, updated_at FROM (SELECT m.seq, m.updated_at, \
                 bm25(memories_fts) AS score FROM memories_fts \
             CROSS JOIN memories m INDEXED BY memories_search ON m.seq = memories_fts.rowid \
             WHERE memories_fts MATCH ?1 AND m.user_id = ?2 AND (?3 IS NULL OR m.project = ?3) \
             ORDER BY memories_fts.rowid DESC LIMIT ?5) \
             ORDER BY score, updated_at DESC, seq DESC LIMIT +?4",
        )
    } else {
        // CROSS JOIN keeps SQLite from driving the join from `memories` and running the
        // full-text match once per row.
        sqlx::query_as(
            "SELECT m.seq, m.updated_at FROM memories_fts \
             CROSS JOIN memories m INDEXED BY memories_search ON m.seq = memories_fts.rowid \
             WHERE memories_fts MATCH ?1 AND m.user_id = ?2 AND (?3 IS NULL OR m.project = ?3) \
             ORDER BY bm25(memories_fts), m.updated_at DESC, m.seq DESC LIMIT +?4",
        )
    }
    .bind(fts5_query(&plan.words))
    .bind(query.user_id)
    .bind(query.project)
    .bind(i64::from(candidates));
    if plan.recent {
        statement = statement.bind(TEXT_RANK_BUDGET as i64);
    }
    let rows: Vec<(i64, i64)> = statement.fetch_all(conn).await.map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(key, updated_at)| Ranked { key, updated_at })
        .collect())
}

/// Scans bigger than this many bytes of codes (about 2,700 memories of 1536 dimensions) run
/// on the blocking pool, so a long scan never stalls the async workers.
const INLINE_SCAN_BYTES: usize = 4 << 20;

/// The shortlist's head is rescored exactly: this many times the results wanted, and at
/// least [`MIN_RESCORED`]. Codes rank well enough that exact scores only matter where ranks
/// decide what is shown; the rest of the candidates keep their order by code. Each rescored
/// memory is a 6 KB read that rarely hits the page cache once a user has thousands, so the
/// head is kept as short as recall@10 allows (1.000 in the memory_search bench).
const RESCORE_FACTOR: usize = 2;
const MIN_RESCORED: usize = 20;

/// Vector candidates, most similar first, among the user's memories embedded by `model`:
/// a shortlist from the in-memory index, its head rescored by exact cosine similarity.
async fn vector_side(
    conn: &mut SqliteConnection,
    index: &VectorIndex,
    query: &MemoryQuery<'_>,
    model: &str,
    vector: &[f32],
    candidates: u32,
) -> StoreResult<Vec<Ranked<i64>>> {
    let list = index.list(conn, query.user_id, model).await?;
    let wanted = candidates as usize;
    let project = query.project.map(str::to_owned);
    let scan_bytes = list
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .scan_bytes();
    let shortlist = if scan_bytes <= INLINE_SCAN_BYTES {
        let guard = list.read().unwrap_or_else(PoisonError::into_inner);
        guard.shortlist(vector, project.as_deref(), wanted)
    } else {
        let vector = vector.to_vec();
        tokio::task::spawn_blocking(move || {
            let guard = list.read().unwrap_or_else(PoisonError::into_inner);
            guard.shortlist(&vector, project.as_deref(), wanted)
        })
        .await
        .map_err(|e| StoreError::Database(format!("vector scan failed: {e}")))?
    };
    if shortlist.is_empty() {
        return Ok(Vec::new());
    }
    let rescored = (query.limit as usize * RESCORE_FACTOR)
        .max(MIN_RESCORED)
        .min(shortlist.len());
    let (head, tail) = shortlist.split_at(rescored);
    let head: Vec<i64> = head.iter().map(|(seq, _)| *seq).collect();
    let seqs = serde_json::to_string(&head).map_err(|e| StoreError::Database(e.to_string()))?;
    let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, updated_at, embedding FROM memories \
         WHERE seq IN (SELECT value FROM json_each(?1)) AND embedding_model = ?2",
    )
    .bind(seqs)
    .bind(model)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let query_norm = norm(vector);
    let mut decoded = Vec::with_capacity(vector.len());
    let mut scored: Vec<(f32, Ranked<i64>)> = Vec::with_capacity(rows.len());
    for (key, updated_at, blob) in rows {
        from_blob_into(&blob, &mut decoded);
        if decoded.len() != vector.len() {
            continue; // changed shape since the index saw it
        }
        let similarity = cosine_with_norm(&decoded, vector, query_norm);
        scored.push((similarity, Ranked { key, updated_at }));
    }
    let mut ranked = by_similarity(scored, head.len());
    ranked.extend(
        tail.iter()
            .map(|&(key, updated_at)| Ranked { key, updated_at }),
    );
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_becomes_or_of_quoted_words() {
        assert_eq!(
            fts5_query(&terms(r#"what's "my" dog's NAME?? (AND) -x*"#)),
            r#""dog" OR "name" OR "x""#
        );
    }
}
