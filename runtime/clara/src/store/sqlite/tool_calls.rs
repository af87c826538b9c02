//! The tool log: one insert per tool call, the calls rate limits count, and the approvals
//! given.

use clara_core::store::{Millis, Stamp, StoreResult, ToolCallRecord};
use sqlx::{SqliteConnection, SqlitePool};

use crate::store::db;

/// Records one call; its id.
pub(super) async fn record(conn: &mut SqliteConnection, r: &ToolCallRecord) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO tool_calls (at, request_id, user_id, conversation, pipeline, tool, outcome, \
         approval, decision, decided_by, approvers) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
    )
    .bind(r.at)
    .bind(&r.request_id)
    .bind(&r.user_id)
    .bind(&r.conversation)
    .bind(&r.pipeline)
    .bind(&r.tool)
    .bind(&r.outcome)
    .bind(r.approval.as_deref())
    .bind(r.decision.as_deref())
    .bind(r.decided_by.as_deref())
    .bind(r.approvers.as_deref())
    .fetch_one(conn)
    .await
    .map_err(db)
}

/// The newest calls that ran since `since`, of a user's and/or in a conversation, newest
/// first.
pub(super) async fn stamps(
    pool: &SqlitePool,
    user_id: Option<&str>,
    conversation: Option<&str>,
    since: Millis,
    up_to: u32,
) -> StoreResult<Vec<Stamp>> {
    // One statement per scope, so each reads its index (`tool_calls_user_at`,
    // `tool_calls_conversation_at`) from `since` on.
    macro_rules! stamps {
        ($scope:literal) => {
            concat!(
                "SELECT at, id FROM tool_calls WHERE ",
                $scope,
                " AND at >= ?1 AND outcome IN ('ok', 'error') \
                 ORDER BY at DESC, id DESC LIMIT ?4"
            )
        };
    }
    let sql = match (user_id, conversation) {
        (Some(_), Some(_)) => stamps!("user_id = ?2 AND conversation = ?3"),
        (Some(_), None) => stamps!("user_id = ?2 AND ?3 IS NULL"),
        (None, Some(_)) => stamps!("conversation = ?3 AND ?2 IS NULL"),
        (None, None) => stamps!("?2 IS NULL AND ?3 IS NULL"),
    };
    let rows: Vec<(Millis, i64)> = sqlx::query_as(sql)
        .bind(since)
        .bind(user_id)
        .bind(conversation)
        .bind(i64::from(up_to))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    Ok(rows.into_iter().map(|(at, id)| Stamp { at, id }).collect())
}

/// Whether a call of `tool` for `user_id` was ever approved under `approvers`.
pub(super) async fn approved(
    pool: &SqlitePool,
    user_id: &str,
    tool: &str,
    approvers: &str,
) -> StoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM tool_calls WHERE user_id = ?1 AND tool = ?2 AND decision = 'approved' \
         AND approvers = ?3 LIMIT 1",
    )
    .bind(user_id)
    .bind(tool)
    .bind(approvers)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(found.is_some())
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The latest calls, newest first.
pub(super) async fn recent(pool: &SqlitePool, limit: u32) -> StoreResult<Vec<ToolCallRecord>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT at, request_id, user_id, conversation, pipeline, tool, outcome, approval, \
         decision, decided_by, approvers FROM tool_calls ORDER BY id DESC LIMIT ?1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                at,
                request_id,
                user_id,
                conversation,
                pipeline,
                tool,
                outcome,
                approval,
                decision,
                decided_by,
                approvers,
            )| {
                ToolCallRecord {
                    at,
                    request_id,
                    user_id,
                    conversation,
                    pipeline,
                    tool,
                    outcome,
                    approval,
                    decision,
                    decided_by,
                    approvers,
                }
            },
        )
        .collect())
}
