//! [`ToolLog`] in memory: the calls in the order recorded.

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::tool_log::ran;
use crate::store::{Millis, Stamp, StoreResult, ToolCallRecord, ToolLog};

impl ToolLog for InMemoryStore {
    fn record_tool_call<'a>(
        &'a self,
        record: &'a ToolCallRecord,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        self.with(|state| {
            state.tool_calls.push(record.clone());
            Ok(state.tool_calls.len() as i64)
        })
    }

    fn tool_call_stamps<'a>(
        &'a self,
        user_id: Option<&'a str>,
        conversation: Option<&'a str>,
        since: Millis,
        up_to: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Stamp>>> {
        self.with(|state| {
            // A call's id is its place in the log, counted from 1.
            let mut stamps: Vec<Stamp> = (1i64..)
                .zip(&state.tool_calls)
                .filter(|(_, c)| {
                    c.at >= since
                        && ran(&c.outcome)
                        && user_id.is_none_or(|u| c.user_id == u)
                        && conversation.is_none_or(|v| c.conversation == v)
                })
                .map(|(id, c)| Stamp { at: c.at, id })
                .collect();
            stamps.sort_unstable_by(|a, b| b.cmp(a));
            stamps.truncate(up_to as usize);
            Ok(stamps)
        })
    }

    fn tool_approved<'a>(
        &'a self,
        user_id: &'a str,
        tool: &'a str,
        approvers: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.with(|state| {
            Ok(state.tool_calls.iter().any(|c| {
                c.user_id == user_id
                    && c.tool == tool
                    && c.decision.as_deref() == Some("approved")
                    && c.approvers.as_deref() == Some(approvers)
            }))
        })
    }

    fn recent_tool_calls(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<ToolCallRecord>>> {
        self.with(|state| {
            Ok(state
                .tool_calls
                .iter()
                .rev()
                .take(limit as usize)
                .cloned()
                .collect())
        })
    }
}
