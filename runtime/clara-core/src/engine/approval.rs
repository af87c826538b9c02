//! Tool approvals as the engine asks for them: a call that needs a person's yes is put to the
//! adapter the message came from, which shows the question, takes the first answer from
//! someone allowed to give it, and says no when the time is up. Anything else fails closed.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use clara_config::model::approval::{ApprovalMode, may_decide};
use serde_json::Value;

use super::turn::Conversation;
use crate::llm::BoxFuture;

/// One tool call waiting for a decision.
#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalRequest {
    /// Unique per call: the turn's request id and the call's number (`msg-1a2b3c4d-2`).
    pub id: String,
    /// The adapter the message came from.
    pub platform: String,
    /// Where to ask.
    pub conversation: Conversation,
    /// Who sent the message.
    pub requester: String,
    /// Their display name.
    pub requester_name: String,
    /// The tool.
    pub tool: String,
    /// Its arguments, as checked against its schema.
    pub arguments: Value,
    /// `always` or `first_use`.
    pub mode: ApprovalMode,
    /// Who may decide: `requester`, `admins`, or user ids.
    pub approvers: Vec<String>,
    /// How long to wait before the answer is no.
    pub timeout: Duration,
    /// The question to show, filled in.
    pub question: String,
}

impl ApprovalRequest {
    /// Whether `user_id` (an admin or not) may approve or deny this call. Anyone else's
    /// answer changes nothing.
    pub fn may_decide(&self, user_id: &str, is_admin: bool) -> bool {
        may_decide(&self.approvers, &self.requester, user_id, is_admin)
    }
}

/// What became of an approval request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Someone allowed said yes.
    Approved {
        /// Who.
        by: String,
    },
    /// Someone allowed said no.
    Denied {
        /// Who.
        by: String,
    },
    /// No answer in time.
    TimedOut,
    /// No one could be asked (an adapter that cannot ask, a task, an error).
    Unavailable(String),
}

impl Decision {
    /// Whether the call may run.
    pub fn approved(&self) -> bool {
        matches!(self, Decision::Approved { .. })
    }

    /// `approved`, `denied`, `timed_out` or `unavailable`, as stored and sent in events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Approved { .. } => "approved",
            Decision::Denied { .. } => "denied",
            Decision::TimedOut => "timed_out",
            Decision::Unavailable(_) => "unavailable",
        }
    }

    /// Who decided, when a person did.
    pub fn decided_by(&self) -> Option<&str> {
        match self {
            Decision::Approved { by } | Decision::Denied { by } => Some(by),
            _ => None,
        }
    }
}

/// An adapter's way to ask for approval. It must return by the request's `timeout` with
/// [`Decision::TimedOut`], and count only answers from people the request allows.
pub trait Approver: Send + Sync {
    /// Asks, and waits for the decision.
    fn ask<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Decision>;
}

/// The approvers of the running adapters, by adapter name, shared by every generation.
#[derive(Default)]
pub struct Approvers(RwLock<BTreeMap<String, Arc<dyn Approver>>>);

impl Approvers {
    /// Makes `adapter`'s approver the one its messages' calls are put to.
    pub fn register(&self, adapter: &str, approver: Arc<dyn Approver>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(adapter.to_owned(), approver);
    }

    /// Makes `adapter`'s approver this one unless another is registered (a gateway node
    /// whose platform an adapter of this process also serves).
    pub fn register_if_absent(&self, adapter: &str, approver: Arc<dyn Approver>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(adapter.to_owned())
            .or_insert(approver);
    }

    /// Removes `adapter`'s approver (the adapter stopped).
    pub fn remove(&self, adapter: &str) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(adapter);
    }

    /// Asks through `request.platform`'s approver; without one the answer is no.
    pub(crate) async fn ask(&self, request: &ApprovalRequest) -> Decision {
        let approver = self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&request.platform)
            .cloned();
        match approver {
            Some(approver) => approver.ask(request).await,
            None => Decision::Unavailable(format!(
                "the `{}` adapter cannot ask for approval",
                request.platform
            )),
        }
    }
}
