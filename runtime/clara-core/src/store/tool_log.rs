//! The tool log: one row per tool call a model asked for, with what became of it and, for a
//! call that needed approval, the decision and who made it. Rate limits count it; a
//! `first_use` approval asks only when no approval of that tool for that user is in it.

use super::{Millis, Stamp, StoreResult};
use crate::llm::BoxFuture;

/// One tool call and what became of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCallRecord {
    /// When it was decided or ran.
    pub at: Millis,
    /// The turn that asked for it (`msg-…`).
    pub request_id: String,
    /// Whose message the turn answered.
    pub user_id: String,
    /// The conversation.
    pub conversation: String,
    /// The pipeline.
    pub pipeline: String,
    /// The tool.
    pub tool: String,
    /// `ok`, `error` (it ran and failed), `denied` (its approval was not given) or `limited`
    /// (a rate limit held it back).
    pub outcome: String,
    /// The approval it needed: `always` or `first_use`; `None` when it needed none.
    pub approval: Option<String>,
    /// Who could approve it, as [`approvers_key`] writes them: a `first_use` approval holds
    /// only for calls with the same approvers.
    pub approvers: Option<String>,
    /// `approved`, `denied`, `timed_out` or `unavailable` (no one could be asked).
    pub decision: Option<String>,
    /// Who approved or denied it.
    pub decided_by: Option<String>,
}

/// Every tool call, for rate limits, `first_use` approvals and the record of who approved what.
pub trait ToolLog: Send + Sync {
    /// Records one call; its id in the log.
    fn record_tool_call<'a>(
        &'a self,
        record: &'a ToolCallRecord,
    ) -> BoxFuture<'a, StoreResult<i64>>;

    /// Calls that ran (`ok` or `error`) at or after `since`, of `user_id`'s and/or in
    /// `conversation` (each `None` for any): the newest `up_to` of them, newest first.
    fn tool_call_stamps<'a>(
        &'a self,
        user_id: Option<&'a str>,
        conversation: Option<&'a str>,
        since: Millis,
        up_to: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Stamp>>>;

    /// Whether a call of `tool` for `user_id` was ever approved under `approvers` (an
    /// [`approvers_key`]).
    fn tool_approved<'a>(
        &'a self,
        user_id: &'a str,
        tool: &'a str,
        approvers: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// The latest calls, newest first, at most `limit`.
    fn recent_tool_calls(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<ToolCallRecord>>>;
}

/// Approvers as the tool log keeps them: sorted, comma-separated.
pub fn approvers_key(approvers: &[String]) -> String {
    let mut sorted: Vec<&str> = approvers.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(",")
}

/// Whether a call with this outcome ran, and so counts against a rate limit.
pub fn ran(outcome: &str) -> bool {
    matches!(outcome, "ok" | "error")
}
