//! Tool approvals for gateway turns: an `approval_request` frame (with `components`: approve
//! and deny) goes to the node whose message the turn answers; its `approval_response` decides
//! when the responder may (the requester or an admin in `admin_users`, as the request's
//! approvers say). Every answer gets an `approval_result`; one that comes too late, twice, or
//! from someone not allowed changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use clara_core::engine::{ApprovalRequest, Approver, Decision};
use clara_core::llm::BoxFuture;
use serde_json::json;
use tokio::sync::oneshot;

use super::outbox::Outbox;
use super::turn::Shared;

/// The gateway's calls waiting for a node's answer.
#[derive(Default)]
pub struct Waiting(Mutex<HashMap<String, Pending>>);

struct Pending {
    request: ApprovalRequest,
    /// The connection that was asked: only its answers count.
    conn: u64,
    answer: oneshot::Sender<Decision>,
}

/// Asks through the gateway.
pub struct GatewayApprover(pub Arc<Shared>);

impl Approver for GatewayApprover {
    fn ask<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let shared = &self.0;
            let Some((conn, outbox, request_id)) = shared.route_of(request) else {
                return Decision::Unavailable("its gateway client is gone".to_owned());
            };
            let notices = shared
                .live
                .current()
                .config
                .clara
                .value
                .adapters
                .discord
                .notices
                .clone();
            let (answer, mut decided) = oneshot::channel();
            shared.waiting.lock().insert(
                request.id.clone(),
                Pending {
                    request: request.clone(),
                    conn,
                    answer,
                },
            );
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
                    if shared.waiting.lock().remove(&request.id).is_none()
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

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An `approval_response` from connection `conn`, by `user` (an admin or not).
    pub fn answer(
        &self,
        conn: u64,
        outbox: &Outbox,
        approval_id: &str,
        approve: bool,
        user: &str,
        is_admin: bool,
    ) {
        let decided = {
            let mut waiting = self.lock();
            let allowed = waiting
                .get(approval_id)
                .is_some_and(|p| p.conn == conn && p.request.may_decide(user, is_admin));
            allowed.then(|| waiting.remove(approval_id)).flatten()
        };
        let Some(pending) = decided else {
            outbox.send(result(approval_id, "refused", None));
            return;
        };
        let by = user.to_owned();
        let (decision, name) = if approve {
            (Decision::Approved { by }, "approved")
        } else {
            (Decision::Denied { by }, "denied")
        };
        let _ = pending.answer.send(decision);
        outbox.send(result(approval_id, name, Some(user)));
    }
}

/// The `approval_result` frame: `approved`, `denied`, `timed_out`, or `refused` (an answer
/// that changed nothing).
fn result(approval_id: &str, decision: &str, by: Option<&str>) -> serde_json::Value {
    json!({
        "type": "approval_result",
        "approval_id": approval_id,
        "decision": decision,
        "decided_by": by,
    })
}
