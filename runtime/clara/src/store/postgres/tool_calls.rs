//! The tool log: one insert per tool call, counts for rate limits, and the approvals given.

use clara_core::store::{Millis, StoreResult, ToolCallRecord};
use sqlx::PgPool;

use crate::store::db;

/// Records one call.
pub(super) async fn record(pool: &PgPool, r: &ToolCallRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tool_calls (at, request_id, user_id, conversation, pipeline, tool, outcome, \
         approval, decision, decided_by, approvers) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

/// Calls that ran since `since`, of a user's and/or in a conversation.
pub(super) async fn count(
    pool: &PgPool,
    user_id: Option<&str>,
    conversation: Option<&str>,
    since: Millis,
) -> StoreResult<u64> {
    // One statement per scope, so each reads its index (`tool_calls_user_at`,
    // `tool_calls_conversation_at`) from `since` on.
    macro_rules! counted {
        ($scope:literal) => {
            concat!(
                "SELECT COUNT(*) FROM tool_calls WHERE ",
                $scope,
                " AND at >= $1 AND outcome IN ('ok', 'error')"
            )
        };
    }
    let sql = match (user_id, conversation) {
        (Some(_), Some(_)) => counted!("user_id = $2 AND conversation = $3"),
        (Some(_), None) => counted!("user_id = $2 AND $3::TEXT IS NULL"),
        (None, Some(_)) => counted!("conversation = $3 AND $2::TEXT IS NULL"),
        (None, None) => counted!("$2::TEXT IS NULL AND $3::TEXT IS NULL"),
    };
    let n: i64 = sqlx::query_scalar(sql)
        .bind(since)
        .bind(user_id)
        .bind(conversation)
        .fetch_one(pool)
        .await
        .map_err(db)?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// Whether a call of `tool` for `user_id` was ever approved under `approvers`.
pub(super) async fn approved(
    pool: &PgPool,
    user_id: &str,
    tool: &str,
    approvers: &str,
) -> StoreResult<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM tool_calls WHERE user_id = $1 AND tool = $2 AND decision = 'approved' \
         AND approvers = $3 LIMIT 1",
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
pub(super) async fn recent(pool: &PgPool, limit: u32) -> StoreResult<Vec<ToolCallRecord>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT at, request_id, user_id, conversation, pipeline, tool, outcome, approval, \
         decision, decided_by, approvers FROM tool_calls ORDER BY id DESC LIMIT $1",
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
