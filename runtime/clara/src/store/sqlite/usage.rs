//! The usage log: model calls inserted in batches, and sums by a grouping over a time range.

use clara_core::store::{Millis, StoreResult, UsageBy, UsageFilter, UsageRecord, UsageTotal, rank};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::store::db;

/// Records calls, in one statement.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    records: &[UsageRecord],
) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO model_usage (at, user_id, conversation, pipeline, purpose, provider, model, \
         tier, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_micros) ",
    );
    insert.push_values(records, |mut row, r| {
        row.push_bind(r.at)
            .push_bind(r.user_id.as_deref())
            .push_bind(r.conversation.as_deref())
            .push_bind(r.pipeline.as_deref())
            .push_bind(&r.purpose)
            .push_bind(&r.provider)
            .push_bind(&r.model)
            .push_bind(r.tier.as_deref())
            .push_bind(i64::from(r.input_tokens))
            .push_bind(i64::from(r.output_tokens))
            .push_bind(i64::from(r.cache_read_tokens))
            .push_bind(i64::from(r.cache_write_tokens))
            .push_bind(r.cost_micros);
    });
    insert.build().execute(conn).await.map_err(db)?;
    Ok(())
}

/// `SELECT` of the sums grouped by the key expression.
macro_rules! totals {
    ($key:literal) => {
        concat!(
            "SELECT ",
            $key,
            " AS key, COUNT(*), SUM(input_tokens), SUM(output_tokens), \
             SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_micros) \
             FROM model_usage WHERE at >= ?1 AND (?2 IS NULL OR at < ?2) GROUP BY 1"
        )
    };
}

/// Usage in the range summed by `by`, the most costly first.
pub(super) async fn totals(
    pool: &SqlitePool,
    by: UsageBy,
    since: Millis,
    until: Option<Millis>,
) -> StoreResult<Vec<UsageTotal>> {
    let sql = match by {
        UsageBy::User => totals!("COALESCE(user_id, '-')"),
        UsageBy::Channel => totals!("COALESCE(conversation, '-')"),
        UsageBy::Model => totals!("provider || '/' || model"),
        UsageBy::Pipeline => totals!("COALESCE(pipeline, '-')"),
        UsageBy::Purpose => totals!("purpose"),
        UsageBy::Day => totals!("strftime('%Y-%m-%d', at / 1000, 'unixepoch')"),
    };
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(sql)
        .bind(since)
        .bind(until)
        .fetch_all(pool)
        .await
        .map_err(db)?;
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    let mut totals: Vec<UsageTotal> = rows
        .into_iter()
        .map(
            |(key, calls, input, output, read, write, cost)| UsageTotal {
                key,
                calls: count(calls),
                input_tokens: count(input),
                output_tokens: count(output),
                cache_read_tokens: count(read),
                cache_write_tokens: count(write),
                cost_micros: cost,
            },
        )
        .collect();
    rank(&mut totals);
    Ok(totals)
}

/// Usage since `since` of the calls `filter` covers, summed.
pub(super) async fn spent(
    pool: &SqlitePool,
    filter: &UsageFilter,
    since: Millis,
) -> StoreResult<UsageTotal> {
    // Lists travel as JSON arrays: SQLite has no array parameters.
    let list = |names: &Option<Vec<String>>| {
        names
            .as_ref()
            .map(|n| serde_json::to_string(n).unwrap_or_default())
    };
    let (pipelines, purposes) = (list(&filter.pipelines), list(&filter.purposes));
    let (calls, input, output, read, write, cost): (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), \
         COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), \
         COALESCE(SUM(cost_micros), 0) FROM model_usage WHERE at >= ?1 \
         AND (?2 IS NULL OR user_id = ?2) AND (?3 IS NULL OR conversation = ?3) \
         AND (?4 IS NULL OR pipeline IN (SELECT value FROM json_each(?4))) \
         AND (?5 IS NULL OR purpose IN (SELECT value FROM json_each(?5)))",
    )
    .bind(since)
    .bind(filter.user_id.as_deref())
    .bind(filter.conversation.as_deref())
    .bind(pipelines)
    .bind(purposes)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    Ok(UsageTotal {
        key: String::new(),
        calls: count(calls),
        input_tokens: count(input),
        output_tokens: count(output),
        cache_read_tokens: count(read),
        cache_write_tokens: count(write),
        cost_micros: cost,
    })
}
