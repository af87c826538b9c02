//! The gateway's tool approvals waiting for a node's `approval_response`: it decides when the
//! responder may (the requester or an admin in `admin_users`, as the request's approvers
//! say). Every answer gets an `approval_result`; one that comes too late, twice, or from
//! someone not allowed changes nothing.

use clara_core::engine::Decision;
use serde_json::json;

use super::outbox::Outbox;
use crate::adapters::awaiting::Awaiting;

/// The gateway's calls waiting for a node's answer, each with the connection that was asked:
/// only its answers count.
pub type Waiting = Awaiting<u64>;

/// An `approval_response` from connection `conn`, by `user` (an admin or not), answered with
/// an `approval_result`.
pub fn answer(
    waiting: &Waiting,
    conn: u64,
    outbox: &Outbox,
    approval_id: &str,
    approve: bool,
    user: &str,
    is_admin: bool,
) {
    let taken = waiting.take(approval_id, |request, asked| {
        *asked == conn && request.may_decide(user, is_admin)
    });
    let Some(taken) = taken else {
        outbox.send(result(approval_id, "refused", None));
        return;
    };
    let by = user.to_owned();
    let (decision, name) = if approve {
        (Decision::Approved { by }, "approved")
    } else {
        (Decision::Denied { by }, "denied")
    };
    taken.send(decision);
    outbox.send(result(approval_id, name, Some(user)));
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
