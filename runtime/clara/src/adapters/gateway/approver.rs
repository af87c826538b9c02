//! Tool approvals for gateway turns: an `approval_request` frame (with `components`: approve
//! and deny) goes to the node whose message the turn answers, and the call waits for its
//! answer (see `approvals`) or the timeout.

use std::sync::Arc;

use clara_core::engine::{ApprovalRequest, Approver, Decision};
use clara_core::llm::BoxFuture;
use serde_json::json;

use super::approvals::result;
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
            // However the call stops waiting (a decision, the timeout, a cancelled turn), a
            // later answer changes nothing.
            let mut ticket = shared.waiting.add(request, conn);
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
            match ticket.decision(request.timeout).await {
                Some(decision) => decision,
                None => {
                    outbox.send(result(&request.id, "timed_out", None));
                    Decision::TimedOut
                }
            }
        })
    }
}
