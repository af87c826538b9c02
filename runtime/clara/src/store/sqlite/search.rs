//! Hybrid memory search: FTS5 with bm25 on one side, cosine similarity over the vectors of the
//! query's model on the other (a shortlist from the in-memory index, rescored exactly), fused
//! by reciprocal rank.

use std::collections::HashMap;
use std::sync::PoisonError;

use futures_util::future::try_join;

use clara_core::store::fusion::{
    Ranked, by_similarity, each_in_fused_order, fuse, fused_keys, terms, together_or_each,
};
use clara_core::store::similarity::{cosine_with_norm, norm};
use clara_core::store::{Memory, MemoryQuery, ScoredMemory, StoreError, StoreResult};
use sqlx::{SqliteConnection, SqlitePool};

use super::text_side::text_side;
use super::vector_index::VectorIndex;
use crate::store::db;
use crate::store::rows::{MemoryRow, memory_select};
use crate::store::vector::from_blob_into;

/// Searches a user's memories; see [`clara_core::store::Memories::search_memories`].
pub(super) async fn search_memories(
    pool: &SqlitePool,
    index: &VectorIndex,
    query: &MemoryQuery<'_>,
) -> StoreResult<Vec<ScoredMemory>> {
    let mut found = search_shared(pool, index, std::slice::from_ref(query)).await?;
    Ok(found.pop().unwrap_or_default())
}

/// Answers several searches; see [`clara_core::store::Memories::search_memories_together`].
pub(super) async fn search_memories_together(
    pool: &SqlitePool,
    index: &VectorIndex,
    queries: &[MemoryQuery<'_>],
) -> StoreResult<Vec<Vec<ScoredMemory>>> {
    together_or_each(queries, |queries| search_shared(pool, index, queries)).await
}

/// Searches that differ only in project and limit, in one pass: the words are counted once
/// and each project's matches ranked in one statement, the vector list scanned once, and the
/// rows read in one statement.
///
/// For each search, each side contributes its best `max(candidates, limit)` memories. The
/// text side counts whenever the query has a word; the vector side counts when the query has
/// an embedding and at least one of the user's memories has a vector from the same model.
async fn search_shared(
    pool: &SqlitePool,
    index: &VectorIndex,
    queries: &[MemoryQuery<'_>],
) -> StoreResult<Vec<Vec<ScoredMemory>>> {
    let Some(first) = queries.first() else {
        return Ok(Vec::new());
    };
    if queries.iter().all(|query| query.limit == 0) {
        return Ok(vec![Vec::new(); queries.len()]);
    }
    let projects: Vec<Option<&str>> = queries.iter().map(|query| query.project).collect();
    let candidates: Vec<usize> = queries
        .iter()
        .map(|query| query.candidates.max(query.limit) as usize)
        .collect();
    let most = candidates.iter().copied().max().unwrap_or(0);
    let words = terms(first.text)
        .into_iter()
        .filter(|_| most > 0)
        .collect::<Vec<_>>();
    // The two sides run at once, each on a connection of its own: the vector side's scan
    // and the text side's statements use different threads. Each gives its connection back
    // when done and none waits for a second while holding one, so searches that fill the
    // pool still all finish.
    let text = async {
        if words.is_empty() {
            return Ok(None);
        }
        let mut conn = pool.acquire().await.map_err(db)?;
        text_side(&mut conn, first.user_id, &projects, words, most)
            .await
            .map(Some)
    };
    let vector = async {
        let Some((model, vector)) = first.embedding.filter(|_| most > 0) else {
            return Ok(None);
        };
        let scopes: Vec<(Option<&str>, usize)> = projects
            .iter()
            .copied()
            .zip(candidates.iter().copied())
            .collect();
        let mut conn = pool.acquire().await.map_err(db)?;
        vector_side(&mut conn, index, first.user_id, &scopes, model, vector)
            .await
            .map(Some)
    };
    let (text, vector) = try_join(text, vector).await?;
    let mut sides: Vec<Vec<Vec<Ranked<i64>>>> = vec![Vec::with_capacity(2); queries.len()];
    if let Some(ranked) = text {
        for ((query_sides, candidates), project) in sides.iter_mut().zip(&candidates).zip(&projects)
        {
            let side = ranked
                .iter()
                .filter(|(_, of)| project.is_none_or(|wanted| of.as_deref() == Some(wanted)))
                .take(*candidates)
                .map(|(ranked, _)| ranked.clone())
                .collect();
            query_sides.push(side);
        }
    }
    for (query_sides, side) in sides.iter_mut().zip(vector.into_iter().flatten()) {
        if !side.is_empty() {
            query_sides.push(side);
        }
    }
    let fused: Vec<Vec<(i64, f32)>> = queries
        .iter()
        .zip(&sides)
        .map(|(query, sides)| fuse(sides, query.rrf_k, query.limit as usize))
        .collect();
    let seqs = fused_keys(&fused);
    if seqs.is_empty() {
        return Ok(vec![Vec::new(); queries.len()]);
    }
    let mut conn = pool.acquire().await.map_err(db)?;
    let seqs = serde_json::to_string(&seqs).map_err(|e| StoreError::Database(e.to_string()))?;
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!(
        "WHERE seq IN (SELECT value FROM json_each(?1))"
    ))
    .bind(seqs)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let memories = rows.into_iter().map(|row| (row.seq, Memory::from(row)));
    Ok(each_in_fused_order(fused, memories))
}

/// Scans reading more than this many bytes run on the blocking pool, so a long scan never
/// stalls the async workers: about 2,700 memories' codes at 1536 dimensions, or the sign
/// bits of 10k with their shortlist's codes (some 200 µs), which are not worth a hand-off.
const INLINE_SCAN_BYTES: usize = 4 << 20;

/// How many of a shortlist's best are rescored exactly, whatever the search's limit; the
/// rest keep their order by code. Codes alone put recall@10 at 0.98 in the memory_search
/// bench, rescoring 20 at 1.000. Each rescored memory is a 6 KB read that a turn's reader
/// rarely finds cached (its page cache starts over after each write): a turn's search of 50
/// once rescored 100 and spent over a millisecond reading them.
const RESCORED: usize = 20;

/// Vector candidates for each search, most similar first, among the user's memories
/// embedded by `model` (in the search's project, when it has one): shortlists from one pass
/// over the in-memory index, each head rescored by exact cosine similarity, their rows read
/// in one statement.
async fn vector_side(
    conn: &mut SqliteConnection,
    index: &VectorIndex,
    user: &str,
    wanted: &[(Option<&str>, usize)],
    model: &str,
    vector: &[f32],
) -> StoreResult<Vec<Vec<Ranked<i64>>>> {
    let list = index.list(conn, user, model).await?;
    let scan_bytes = list
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .scan_bytes(wanted);
    let shortlists = if scan_bytes <= INLINE_SCAN_BYTES {
        let guard = list.read().unwrap_or_else(PoisonError::into_inner);
        guard.shortlists(vector, wanted)
    } else {
        let vector = vector.to_vec();
        let owned: Vec<(Option<String>, usize)> = wanted
            .iter()
            .map(|&(project, k)| (project.map(str::to_owned), k))
            .collect();
        tokio::task::spawn_blocking(move || {
            let wanted: Vec<(Option<&str>, usize)> = owned
                .iter()
                .map(|(project, k)| (project.as_deref(), *k))
                .collect();
            let guard = list.read().unwrap_or_else(PoisonError::into_inner);
            guard.shortlists(&vector, &wanted)
        })
        .await
        .map_err(|e| StoreError::Database(format!("vector scan failed: {e}")))?
    };
    let heads: Vec<usize> = shortlists
        .iter()
        .map(|shortlist| RESCORED.min(shortlist.len()))
        .collect();
    let mut rescore: Vec<i64> = shortlists
        .iter()
        .zip(&heads)
        .flat_map(|(shortlist, head)| shortlist[..*head].iter().map(|(seq, _)| *seq))
        .collect();
    if rescore.is_empty() {
        return Ok(vec![Vec::new(); shortlists.len()]);
    }
    rescore.sort_unstable();
    rescore.dedup();
    let seqs = serde_json::to_string(&rescore).map_err(|e| StoreError::Database(e.to_string()))?;
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
    let mut exact: HashMap<i64, (f32, i64)> = HashMap::with_capacity(rows.len());
    for (seq, updated_at, blob) in rows {
        from_blob_into(&blob, &mut decoded);
        if decoded.len() != vector.len() {
            continue; // changed shape since the index saw it
        }
        exact.insert(
            seq,
            (cosine_with_norm(&decoded, vector, query_norm), updated_at),
        );
    }
    Ok(shortlists
        .into_iter()
        .zip(heads)
        .map(|(shortlist, head)| {
            let (head, tail) = shortlist.split_at(head);
            let scored = head
                .iter()
                .filter_map(|(key, _)| {
                    let &(similarity, updated_at) = exact.get(key)?;
                    Some((
                        similarity,
                        Ranked {
                            key: *key,
                            updated_at,
                        },
                    ))
                })
                .collect();
            let mut ranked = by_similarity(scored, head.len());
            ranked.extend(
                tail.iter()
                    .map(|&(key, updated_at)| Ranked { key, updated_at }),
            );
            ranked
        })
        .collect())
}
