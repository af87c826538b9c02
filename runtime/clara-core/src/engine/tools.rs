//! Tools the model can call: the seam every runner implements, what a call may use, and who
//! may make it.

use std::sync::Arc;

use clara_config::model::approval::ApprovalMode;
use serde_json::Value;

use super::clock::Clock;
use super::sent_file::SentFiles;
use super::turn::Conversation;
use crate::llm::{BoxFuture, Embedder, ToolSpec};
use crate::store::Store;

/// What a tool call may use.
pub struct ToolContext<'a> {
    /// The user the turn is for; memory tools act on this user's memories only.
    pub user_id: &'a str,
    /// The store.
    pub store: &'a dyn Store,
    /// The embedder, when embeddings are on.
    pub embedder: Option<&'a dyn Embedder>,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// Fusion settings for memory search: (candidates per side, rrf k).
    pub search: (u32, u32),
    /// Where files sent into the conversation go; `None` when the call answers no message
    /// (a scheduled task, a hook, a direct call).
    pub files: Option<&'a SentFiles>,
    /// The conversation the call answers, on its platform; `None` as for `files`.
    pub place: Option<Place<'a>>,
}

/// Where a tool call was asked for.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    /// The platform (`discord`, `gateway`, `chat`).
    pub platform: &'a str,
    /// The conversation.
    pub conversation: &'a Conversation,
}

/// Who may use a tool, and how adapters show it running.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolPolicy {
    /// Only admins may use it.
    pub admin_only: bool,
    /// Only these user ids may use it; empty means everyone.
    pub allowed_users: Vec<String>,
    /// Status text while it runs, e.g. `Looking up issues`.
    pub label: Option<String>,
    /// Emoji shown with the label.
    pub emoji: Option<String>,
    /// When a call waits for a person's yes.
    pub approval: ApprovalMode,
    /// Who may give it: `requester`, `admins`, or user ids.
    pub approvers: Vec<String>,
    /// Seconds to wait for it.
    pub approval_timeout_secs: u32,
}

impl ToolPolicy {
    /// Whether `user_id` (an admin or not) may use the tool.
    pub fn allows(&self, user_id: &str, is_admin: bool) -> bool {
        (is_admin || !self.admin_only)
            && (self.allowed_users.is_empty() || self.allowed_users.iter().any(|u| u == user_id))
    }
}

/// The policy of a tool anyone may use.
static OPEN: ToolPolicy = ToolPolicy {
    admin_only: false,
    allowed_users: Vec::new(),
    label: None,
    emoji: None,
    approval: ApprovalMode::Never,
    approvers: Vec::new(),
    approval_timeout_secs: 0,
};

/// A tool failure, reported to the model as the tool's result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

/// A tool.
pub trait Tool: Send + Sync {
    /// Name, description and argument schema.
    fn spec(&self) -> &ToolSpec;

    /// Who may use it and how it is shown; by default anyone, with no label.
    fn policy(&self) -> &ToolPolicy {
        &OPEN
    }

    /// Runs one call.
    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}

/// Tools that change while a generation runs: an MCP server lists new tools, or restarts.
/// A turn asks for the current list each time it offers tools.
pub trait ToolSource: Send + Sync {
    /// The tools available now.
    fn tools(&self) -> Arc<[Arc<dyn Tool>]>;
}
