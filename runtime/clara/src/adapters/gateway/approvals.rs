//! The gateway's tool approvals waiting for a node's `approval_response`: it decides when the
//! responder may (the requester or an admin in `admin_users`, as the request's approvers
//! say). Every answer gets an `approval_result`; one that comes too late, twice, or from
//! someone not allowed changes nothing.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use clara_core::engine::{ApprovalRequest, Decision};
use serde_json::json;
use tokio::sync::oneshot;

use super::outbox::Outbox;

/// The gateway's calls waiting for a node's answer.
#[derive(Default)]
pub struct Waiting(Mutex<HashMap<String, Pending>>);

struct Pending {
    request: ApprovalRequest,
    /// The connection that was asked: only its answers count.
    conn: u64,
    answer: oneshot::Sender<Decision>,
}

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `request`, asked of connection `conn`, among the waiting; its decision arrives on
    /// the receiver.
    pub fn wait(&self, request: &ApprovalRequest, conn: u64) -> oneshot::Receiver<Decision> {
        let (answer, decided) = oneshot::channel();
        self.lock().insert(
            request.id.clone(),
            Pending {
                request: request.clone(),
                conn,
                answer,
            },
        );
        decided
    }

    /// Stops waiting for approval `id`: `false` when an answer took it already.
    pub fn forget(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
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
pub fn result(approval_id: &str, decision: &str, by: Option<&str>) -> serde_json::Value {
    json!({
        "type": "approval_result",
        "approval_id": approval_id,
        "decision": decision,
        "decided_by": by,
    })
}
