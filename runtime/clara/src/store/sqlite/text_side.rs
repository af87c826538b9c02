//! The full-text side of hybrid memory search: FTS5 matches of the query's words ranked by
//! bm25, ties broken by recency, within a bounded set whatever the size of the table.

use clara_core::store::fusion::{Ranked, TEXT_RANK_BUDGET, text_plan};
use clara_core::store::{StoreError, StoreResult};
use sqlx::{AssertSqlSafe, SqliteConnection};

use crate::store::db;

/// An FTS5 query matching any of `words`: `"w1" OR "w2" …`. Each word holds only letters
/// and digits (see [`terms`](clara_core::store::fusion::terms)), so quoting makes it a plain
/// string whatever the user typed.
fn fts5_query(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|t| format!("\"{t}\"")).collect();
    quoted.join(" OR ")
}

/// The statement ranking each scope's matches: one arm per scope, each the best `?3` of the
/// user's matches in its project (`?5`, `?6`, …; every project when null), joined by UNION
/// so a memory two scopes share comes once, best first overall. One snapshot, one round
/// trip, and each arm is what that search would rank alone.
///
/// With `recent`, the matches are only the user's newest `?4`, straight from the full-text
/// index's doclists (in rowid order), listed once for every arm: an arm that went on past
/// them to find enough of its project's would walk back through the user's whole history.
/// Otherwise each arm matches the words itself: no slower than one materialised list in the
/// scale bench, and a lone search builds none. Arms cost SQLite less than ranking one list
/// by two window functions (overall and within each project).
fn ranking_sql(scopes: usize, recent: bool) -> String {
    let arms: Vec<String> = (5..5 + scopes)
        .map(|project| {
            let in_project = format!("?{project} IS NULL OR project = ?{project}");
            let matches = if recent {
                format!("matches WHERE {in_project}")
            } else {
                format!("({MATCHES} AND ({in_project}))")
            };
            format!(
                "SELECT * FROM (SELECT seq, updated_at, project, score FROM {matches} \
                 {ORDER} LIMIT +?3)"
            )
        })
        .collect();
    let with = if recent {
        format!(
            "WITH matches AS MATERIALIZED \
             ({MATCHES} ORDER BY memories_fts.rowid DESC LIMIT +?4) "
        )
    } else {
        String::new()
    };
    format!("{with}{} {ORDER}", arms.join(" UNION "))
}

/// The user's full-text matches with their bm25 `score`. The covering index answers the
/// owner and project checks without reading the memory's row, which holds its vector and so
/// fills a page of its own. CROSS JOIN keeps SQLite from driving the join from `memories`
/// and running the full-text match once per row.
const MATCHES: &str = "SELECT m.seq, m.updated_at, m.project, bm25(memories_fts) AS score \
     FROM memories_fts CROSS JOIN memories m INDEXED BY memories_search \
         ON m.seq = memories_fts.rowid \
     WHERE memories_fts MATCH ?1 AND m.user_id = ?2";

/// Best bm25 first, ties to the most recently changed.
const ORDER: &str = "ORDER BY score, updated_at DESC, seq DESC";

/// Full-text candidates of `user`, best bm25 first, each with its project, ranking at most
/// about [`TEXT_RANK_BUDGET`] memories whatever the size of the table (see [`text_plan`]).
///
/// What comes back is each search's best `candidates` (in its project, when it wants one),
/// for each search to take its own; only those rows cross to this side. When even the
/// rarest word is common, the newest budget's worth of the user's matches are ranked, and a
/// search of a project takes the project's among them: a project with few of them is not
/// searched back through the user's whole history.
pub(super) async fn text_side(
    conn: &mut SqliteConnection,
    user: &str,
    projects: &[Option<&str>],
    words: Vec<String>,
    candidates: usize,
) -> StoreResult<Vec<(Ranked<i64>, Option<String>)>> {
    // Each count stops at one past the budget: a common word costs no more than a rare one.
    // Counted over every user's memories, as the full-text index is one for all.
    let counted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT value, (SELECT count(*) FROM (SELECT 1 FROM memories_fts \
             WHERE memories_fts MATCH '\"' || value || '\"' LIMIT ?2)) \
         FROM json_each(?1)",
    )
    .bind(serde_json::to_string(&words).map_err(|e| StoreError::Database(e.to_string()))?)
    .bind(TEXT_RANK_BUDGET as i64 + 1)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let Some(plan) = text_plan(counted, TEXT_RANK_BUDGET) else {
        return Ok(Vec::new());
    };
    let mut scopes = projects.to_vec();
    scopes.sort_unstable();
    scopes.dedup();
    // Built from fixed fragments and numbered parameters only; a handful of shapes, each
    // prepared once per connection. Without `recent` no arm names `?4`; SQLite still counts
    // it among the parameters (they run to the highest number), so binding it is harmless.
    let sql = ranking_sql(scopes.len(), plan.recent);
    let mut query = sqlx::query_as(AssertSqlSafe(sql))
        .bind(fts5_query(&plan.words))
        .bind(user)
        .bind(candidates as i64)
        .bind(TEXT_RANK_BUDGET as i64);
    for project in scopes {
        query = query.bind(project);
    }
    let rows: Vec<(i64, i64, Option<String>, f64)> = query.fetch_all(conn).await.map_err(db)?;
    Ok(rows
        .into_iter()
        .map(|(key, updated_at, project, _)| (Ranked { key, updated_at }, project))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clara_core::store::fusion::terms;

    #[test]
    fn punctuation_becomes_or_of_quoted_words() {
        assert_eq!(
            fts5_query(&terms(r#"what's "my" dog's NAME?? (AND) -x*"#)),
            r#""dog" OR "name" OR "x""#
        );
    }
}
