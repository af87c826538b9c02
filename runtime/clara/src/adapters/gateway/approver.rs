//! Tool approvals for gateway turns: an `approval_request` frame (with `components`: approve
//! and deny) goes to the node whose message the turn answers, and the call waits for its
//! answer (see `approvals`) or the timeout.

use std::sync::Arc;

use clara_core::engine::{ApprovalRequest, Approver, Decision};
use clara_core::llm::BoxFuture;
use serde_json::json;

use super::approvals::{Waiting, result};
use super::turn::Shared;

/// Asks through the gateway.
pub struct GatewayApprover(pub Arc<Shared>);

impl Approver for GatewayApprover {
    fn ask<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let shared = &self.0;
            let Some((conn, outbox, request_id)) = shared.route_of(request) else {
                return Decision::Unavailable("its gateway client is gone".to_owned());
            };
            let generation = shared.live.current();
            let notices = &generation.config.clara.value.adapters.discord.notices;
            let mut decided = shared.waiting.wait(request, conn);
            // However the call stops waiting (a decision, the timeout, a cancelled turn), a
            // later answer changes nothing.
            let _unwait = Unwait(&shared.waiting, &request.id);
            outbox.send(json!({
                "type": "approval_request",
                "request_id": request_id,
                "approval_id": request.id,
                "tool_name": request.tool,
                "arguments": request.arguments,
                "question": request.question,
                "approvers": request.approvers,
                "timeout_secs": request.timeout.as_secs(),
                "components": [
                    {"label": notices.approve_button, "style": "success", "action": "approve"},
                    {"label": notices.deny_button, "style": "danger", "action": "deny"},
                ],
            }));
            match tokio::time::timeout(request.timeout, &mut decided).await {
                Ok(Ok(decision)) => decision,
                _ => {
                    // An answer that took the request at the last moment decides.
                    if !shared.waiting.forget(&request.id)
                        && let Ok(decision) = decided.await
                    {
                        return decision;
                    }
                    outbox.send(result(&request.id, "timed_out", None));
                    Decision::TimedOut
                }
            }
        })
    }
}

/// Takes a request out of the waiting when dropped.
struct Unwait<'a>(&'a Waiting, &'a str);

impl Drop for Unwait<'_> {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}
