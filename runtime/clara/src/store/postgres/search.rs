//! Hybrid memory search: the generated `tsvector` column ranked with `ts_rank` on one side,
//! pgvector cosine distance over the HNSW index of the query's dimension on the other, fused
//! by reciprocal rank exactly like the SQLite store.

use futures_util::future::try_join;

use clara_core::store::fusion::{
    Ranked, TEXT_RANK_BUDGET, by_similarity, each_in_fused_order, fuse, fused_keys, terms,
    text_plan, together_or_each,
};
use clara_core::store::{Memory, MemoryQuery, ScoredMemory, StoreResult};
use sqlx::{AssertSqlSafe, PgPool};

use super::vectors::{dims_condition, distance_expr, to_vector};
use crate::store::db;
use crate::store::rows::{MemoryRow, memory_select};

/// Searches a user's memories; see [`clara_core::store::Memories::search_memories`].
pub(super) async fn search_memories(
    pool: &PgPool,
    ef_search: u32,
    query: &MemoryQuery<'_>,
) -> StoreResult<Vec<ScoredMemory>> {
    let mut found = search_shared(pool, ef_search, std::slice::from_ref(query)).await?;
    Ok(found.pop().unwrap_or_default())
}

/// Answers several searches; see [`clara_core::store::Memories::search_memories_together`].
pub(super) async fn search_memories_together(
    pool: &PgPool,
    ef_search: u32,
    queries: &[MemoryQuery<'_>],
) -> StoreResult<Vec<Vec<ScoredMemory>>> {
    together_or_each(queries, |queries| search_shared(pool, ef_search, queries)).await
}

/// Searches that differ only in project and limit, in one pass: the words are counted once,
/// each project's matches ranked and its nearest vectors found, and the rows read in one
/// statement. The text and vector sides run at once, each in a transaction of its own on a
/// connection of its own, planned for the actual user and words: a generic plan does not
/// know how many of the table's rows are this user's, or how common a word is, and falls
/// back to scanning the table (40 ms instead of 1 at 10k). Neither side holds a connection
/// while waiting for another, so searches that fill the pool still all finish.
///
/// Each side contributes its best `max(candidates, limit)` memories. The text side counts
/// whenever the query has a word; the vector side counts when the query has an embedding
/// and at least one of the user's memories has a vector from the same model (and of the
/// same dimension).
async fn search_shared(
    pool: &PgPool,
    ef_search: u32,
    queries: &[MemoryQuery<'_>],
) -> StoreResult<Vec<Vec<ScoredMemory>>> {
    let Some(first) = queries.first() else {
        return Ok(Vec::new());
    };
    if queries.iter().all(|query| query.limit == 0) {
        return Ok(vec![Vec::new(); queries.len()]);
    }
    // Each project searched (or every one) once, for the most candidates wanted of it.
    let mut scopes: Vec<(Option<&str>, u32)> = Vec::with_capacity(queries.len());
    for query in queries {
        let wanted = query.candidates.max(query.limit);
        match scopes
            .iter_mut()
            .find(|(project, _)| *project == query.project)
        {
            Some((_, most)) => *most = (*most).max(wanted),
            None => scopes.push((query.project, wanted)),
        }
    }
    let words = terms(first.text);
    let text = async {
        if words.is_empty() {
            return Ok(None);
        }
        text_side(pool, first.user_id, &scopes, words)
            .await
            .map(Some)
    };
    let vector = async {
        let Some((model, vector)) = first.embedding else {
            return Ok(None);
        };
        vector_side(pool, ef_search, first.user_id, &scopes, model, vector)
            .await
            .map(Some)
    };
    let (text, vector) = try_join(text, vector).await?;
    let fused: Vec<Vec<(i64, f32)>> = queries
        .iter()
        .map(|query| {
            let scope = scopes
                .iter()
                .position(|(project, _)| *project == query.project)
                .unwrap_or_default();
            let candidates = query.candidates.max(query.limit) as usize;
            let mut sides = Vec::with_capacity(2);
            if let Some(text) = &text {
                sides.push(text[scope].iter().take(candidates).cloned().collect());
            }
            if let Some(side) = vector.as_ref().map(|vector| &vector[scope])
                && !side.is_empty()
            {
                sides.push(side.iter().take(candidates).cloned().collect());
            }
            fuse(&sides, query.rrf_k, query.limit as usize)
        })
        .collect();
    let seqs = fused_keys(&fused);
    if seqs.is_empty() {
        return Ok(vec![Vec::new(); queries.len()]);
    }
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!("WHERE seq = ANY($1)"))
        .bind(seqs)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let memories = rows.into_iter().map(|row| (row.seq, Memory::from(row)));
    Ok(each_in_fused_order(fused, memories))
}

/// A tsquery matching any of `words`. Each word holds only letters and digits (see
/// [`terms`]), so none of them is tsquery syntax.
fn tsquery(words: &[String]) -> String {
    words.join(" | ")
}

/// Full-text candidates for each scope (a project, or every one, with how many it wants),
/// best `ts_rank` first, ranking at most about [`TEXT_RANK_BUDGET`] memories per scope
/// whatever the size of the table (see [`text_plan`]). The words are counted once for all.
async fn text_side(
    pool: &PgPool,
    user: &str,
    scopes: &[(Option<&str>, u32)],
    words: Vec<String>,
) -> StoreResult<Vec<Vec<Ranked<i64>>>> {
    let mut tx = pool
        .begin_with("BEGIN; SET LOCAL plan_cache_mode = force_custom_plan")
        .await
        .map_err(db)?;
    // Each count stops at one past the budget: a common word costs no more than a rare one.
    let counted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT w, (SELECT count(*) FROM (SELECT 1 FROM memories \
             WHERE text_search @@ to_tsquery('clara', w) AND user_id = $2 LIMIT $3) hits) \
         FROM unnest($1::text[]) AS w",
    )
    .bind(&words)
    .bind(user)
    .bind(TEXT_RANK_BUDGET as i64 + 1)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let Some(plan) = text_plan(counted, TEXT_RANK_BUDGET) else {
        tx.commit().await.map_err(db)?;
        return Ok(vec![Vec::new(); scopes.len()]);
    };
    let sql = if plan.recent {
        // The user's newest matches, found walking the primary key backwards; only those
        // are ranked, and a project's search takes its own among them (like SQLite's).
        "SELECT seq, updated_at FROM (SELECT seq, updated_at, project, \
             ts_rank(text_search, q) AS rank FROM memories, to_tsquery('clara', $1) AS q \
         WHERE text_search @@ q AND user_id = $2 ORDER BY seq DESC LIMIT $5) recent \
         WHERE $3::text IS NULL OR project = $3 \
         ORDER BY rank DESC, updated_at DESC, seq DESC LIMIT $4"
    } else {
        "SELECT seq, updated_at FROM memories, to_tsquery('clara', $1) AS q \
         WHERE text_search @@ q AND user_id = $2 AND ($3::text IS NULL OR project = $3) \
         ORDER BY ts_rank(text_search, q) DESC, updated_at DESC, seq DESC LIMIT $4"
    };
    let tsquery = tsquery(&plan.words);
    let mut ranked = Vec::with_capacity(scopes.len());
    for &(project, candidates) in scopes {
        let mut statement = sqlx::query_as(sql)
            .bind(&tsquery)
            .bind(user)
            .bind(project)
            .bind(i64::from(candidates));
        if plan.recent {
            statement = statement.bind(TEXT_RANK_BUDGET as i64);
        }
        let rows: Vec<(i64, i64)> = statement.fetch_all(&mut *tx).await.map_err(db)?;
        ranked.push(
            rows.into_iter()
                .map(|(key, updated_at)| Ranked { key, updated_at })
                .collect(),
        );
    }
    tx.commit().await.map_err(db)?;
    Ok(ranked)
}

/// Vector candidates for each scope, most similar first, among the user's memories embedded
/// by `model` with the query's dimension. The nearest rows come from the HNSW index (ordered
/// by cosine distance, with `hnsw.ef_search` set for this transaction only); they are ranked
/// by similarity, `1 - distance`, with ties broken like the SQLite side.
async fn vector_side(
    pool: &PgPool,
    ef_search: u32,
    user: &str,
    scopes: &[(Option<&str>, u32)],
    model: &str,
    vector: &[f32],
) -> StoreResult<Vec<Vec<Ranked<i64>>>> {
    let (vector, dims) = to_vector(vector)?;
    let sql = vector_sql(dims);
    let mut tx = pool
        .begin_with(AssertSqlSafe(format!(
            "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan; \
             SET LOCAL hnsw.ef_search = {ef_search}"
        )))
        .await
        .map_err(db)?;
    let mut ranked = Vec::with_capacity(scopes.len());
    for &(project, candidates) in scopes {
        // Planned for this user: for a user with few of the table's rows, an exact scan of
        // their rows beats the HNSW index.
        let rows: Vec<(i64, i64, f64)> = sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(&vector)
            .bind(model)
            .bind(user)
            .bind(project)
            .bind(i64::from(candidates))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        let scored: Vec<(f32, Ranked<i64>)> = rows
            .into_iter()
            .map(|(key, updated_at, distance)| (similarity(distance), Ranked { key, updated_at }))
            .collect();
        ranked.push(by_similarity(scored, candidates as usize));
    }
    tx.commit().await.map_err(db)?;
    Ok(ranked)
}

/// The vector query for `dims` dimensions: `$1` vector, `$2` model, `$3` user, `$4` project
/// (or `NULL`), `$5` candidates. The ORDER BY expression and the dimension condition match
/// the partial HNSW index for `dims`, so the planner can use it.
pub(super) fn vector_sql(dims: i32) -> String {
    let distance = distance_expr(dims, "$1");
    format!(
        "SELECT seq, updated_at, {distance} AS distance FROM memories \
         WHERE {condition} AND embedding_model = $2 AND user_id = $3 \
             AND ($4::text IS NULL OR project = $4) \
         ORDER BY {distance} LIMIT $5",
        condition = dims_condition(dims),
    )
}

/// Cosine similarity in -1..=1 from pgvector's cosine distance; a zero vector (distance NaN)
/// counts as 0, like the SQLite side.
fn similarity(distance: f64) -> f32 {
    if distance.is_nan() {
        0.0
    } else {
        ((1.0 - distance) as f32).clamp(-1.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsquery_ors_the_cleaned_words() {
        assert_eq!(
            tsquery(&terms(r#"what's "my" dog's NAME?? (AND) -x*"#)),
            "dog | name | x"
        );
    }

    #[test]
    fn similarity_is_one_minus_distance() {
        assert_eq!(similarity(0.0), 1.0);
        assert_eq!(similarity(2.0), -1.0);
        assert!((similarity(0.25) - 0.75).abs() < 1e-6);
        assert_eq!(similarity(f64::NAN), 0.0);
    }
}
