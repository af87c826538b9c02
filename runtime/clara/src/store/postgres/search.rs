//! Hybrid memory search: the generated `tsvector` column ranked with `ts_rank` on one side,
//! pgvector cosine distance over the HNSW index of the query's dimension on the other, fused
//! by reciprocal rank exactly like the SQLite store.

use clara_core::store::fusion::{
    Ranked, TEXT_RANK_BUDGET, by_similarity, fuse, in_fused_order, terms, text_plan,
};
use clara_core::store::{Memory, MemoryQuery, ScoredMemory, StoreResult};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use super::vectors::{dims_condition, distance_expr, to_vector};
use crate::store::db;
use crate::store::rows::{MemoryRow, memory_select};

/// Searches a user's memories; see [`clara_core::store::Memories::search_memories`].
///
/// Each side contributes its best `max(candidates, limit)` memories. The text side counts
/// whenever the query has a word; the vector side counts when the query has an embedding
/// and at least one of the user's memories has a vector from the same model (and of the
/// same dimension).
pub(super) async fn search_memories(
    pool: &PgPool,
    ef_search: u32,
    query: &MemoryQuery<'_>,
) -> StoreResult<Vec<ScoredMemory>> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let candidates = query.candidates.max(query.limit);
    // One transaction for the whole search (the settings last for it only), planned for the
    // actual user and words: a
    // generic plan does not know how many of the table's rows are this user's, or how
    // common a word is, and falls back to scanning the table (40 ms instead of 1 at 10k).
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query(
        "SELECT set_config('hnsw.ef_search', $1, true), \
                set_config('plan_cache_mode', 'force_custom_plan', true)",
    )
    .bind(ef_search.to_string())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let mut sides = Vec::with_capacity(2);
    let words = terms(query.text);
    if !words.is_empty() {
        sides.push(text_side(&mut tx, query, words, candidates).await?);
    }
    if let Some((model, vector)) = query.embedding {
        let side = vector_side(&mut tx, query, model, vector, candidates).await?;
        if !side.is_empty() {
            sides.push(side);
        }
    }
    let fused = fuse(&sides, query.rrf_k, query.limit as usize);
    if fused.is_empty() {
        return Ok(Vec::new());
    }
    let seqs: Vec<i64> = fused.iter().map(|(seq, _)| *seq).collect();
    let rows: Vec<MemoryRow> = sqlx::query_as(memory_select!("WHERE seq = ANY($1)"))
        .bind(seqs)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(in_fused_order(
        fused,
        rows.into_iter().map(|row| (row.seq, Memory::from(row))),
    ))
}

/// A tsquery matching any of `words`. Each word holds only letters and digits (see
/// [`terms`]), so none of them is tsquery syntax.
fn tsquery(words: &[String]) -> String {
    words.join(" | ")
}

/// Full-text candidates, best `ts_rank` first, ranking at most about [`TEXT_RANK_BUDGET`]
/// memories whatever the size of the table (see [`text_plan`]).
async fn text_side(
    conn: &mut PgConnection,
    query: &MemoryQuery<'_>,
    words: Vec<String>,
    candidates: u32,
) -> StoreResult<Vec<Ranked<i64>>> {
    // Each count stops at one past the budget: a common word costs no more than a rare one.
    let counted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT w, (SELECT count(*) FROM (SELECT 1 FROM memories \
             WHERE text_search @@ to_tsquery('clara', w) AND user_id = $2 LIMIT $3) hits) \
         FROM unnest($1::text[]) AS w",
    )
    .bind(&words)
    .bind(query.user_id)
    .bind(TEXT_RANK_BUDGET as i64 + 1)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let Some(plan) = text_plan(counted, TEXT_RANK_BUDGET) else {
        return Ok(Vec::new());
    };
    let mut statement = if plan.recent {
        // The newest matches, found walking the primary key backwards; only those are ranked.
        sqlx::query_as(
            "SELECT seq, updated_at FROM (SELECT seq, updated_at, \
                 ts_rank(text_search, q) AS rank FROM memories, to_tsquery('clara', $1) AS q \
             WHERE text_search @@ q AND user_id = $2 AND ($3::text IS NULL OR project = $3) \
             ORDER BY seq DESC LIMIT $5) recent \
             ORDER BY rank DESC, updated_at DESC, seq DESC LIMIT $4",
        )
    } else {
        sqlx::query_as(
            "SELECT seq, updated_at FROM memories, to_tsquery('clara', $1) AS q \
             WHERE text_search @@ q AND user_id = $2 AND ($3::text IS NULL OR project = $3) \
             ORDER BY ts_rank(text_search, q) DESC, updated_at DESC, seq DESC LIMIT $4",
        )
    }
    .bind(tsquery(&plan.words))
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

/// Vector candidates, most similar first, among the user's memories embedded by `model` with
/// the query's dimension. The nearest rows come from the HNSW index (ordered by cosine
/// distance, with `hnsw.ef_search` set for this transaction only); they are ranked by
/// similarity, `1 - distance`, with ties broken like the SQLite side.
async fn vector_side(
    conn: &mut PgConnection,
    query: &MemoryQuery<'_>,
    model: &str,
    vector: &[f32],
    candidates: u32,
) -> StoreResult<Vec<Ranked<i64>>> {
    let (vector, dims) = to_vector(vector)?;
    let sql = vector_sql(dims);
    // Planned for this user (see `search_memories`): for a user with few of the table's
    // rows, an exact scan of their rows beats the HNSW index.
    let rows: Vec<(i64, i64, f64)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(vector)
        .bind(model)
        .bind(query.user_id)
        .bind(query.project)
        .bind(i64::from(candidates))
        .fetch_all(conn)
        .await
        .map_err(db)?;
    let scored: Vec<(f32, Ranked<i64>)> = rows
        .into_iter()
        .map(|(key, updated_at, distance)| (similarity(distance), Ranked { key, updated_at }))
        .collect();
    Ok(by_similarity(scored, candidates as usize))
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
