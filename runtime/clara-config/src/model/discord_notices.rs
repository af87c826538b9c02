//! `[adapters.discord.notices]`: the small lines the Discord adapter posts about its own work
//! (a queued message, a backlog, a stopped reply), with today's wording as defaults. Each may
//! hold `{placeholders}`; an empty text posts nothing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Discord adapter's own lines.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscordNotices {
    /// Replied to a message that waits behind another turn (with `queue_notices`).
    /// `{position}` is its place in the queue.
    #[serde(default = "default_queued")]
    pub queued: String,
    /// Posted when a queued message's turn starts (with `queue_notices`). `{waited}` is the
    /// wait in seconds.
    #[serde(default = "default_starting")]
    pub starting: String,
    /// Posted before an active channel's backlog is answered in one turn. `{count}` messages,
    /// `{waited}` seconds.
    #[serde(default = "default_catching_up")]
    pub catching_up: String,
    /// Added below a reply that a stop phrase cut short.
    #[serde(default = "default_stopped")]
    pub stopped: String,
    /// The status line while a tool runs (with `tool_status`). `{emoji}` and `{label}` are the
    /// tool's (its manifest's `status`), `{step}` its number in the turn.
    #[serde(default = "default_tool_status")]
    pub tool_status: String,
    /// The message asking for a tool approval, above its buttons. `{question}` is the tool
    /// loop's `approval_question`, `{requester}` a mention of who asked.
    #[serde(default = "default_approval")]
    pub approval: String,
    /// The approve button's label.
    #[serde(default = "default_approve_button")]
    pub approve_button: String,
    /// The deny button's label.
    #[serde(default = "default_deny_button")]
    pub deny_button: String,
    /// Added below the question once someone approved; `{by}` mentions them.
    #[serde(default = "default_approved")]
    pub approved: String,
    /// Added below the question once someone denied; `{by}` mentions them.
    #[serde(default = "default_denied")]
    pub denied: String,
    /// Added below the question when no one answered in time.
    #[serde(default = "default_approval_timed_out")]
    pub approval_timed_out: String,
    /// Told (privately) to someone who may not decide, or who clicked too late.
    #[serde(default = "default_approval_not_yours")]
    pub approval_not_yours: String,
    /// The label of the button under a reply that holds a connection link (`{title}`: the
    /// connection's title).
    #[serde(default = "default_connect_button")]
    pub connect_button: String,
    /// Posted when files a tool sent (`send_local_file`) could not be attached; `{names}` are
    /// the files, `{reason}` what Discord said.
    #[serde(default = "default_files_failed")]
    pub files_failed: String,
}

impl Default for DiscordNotices {
    fn default() -> Self {
        Self {
            queued: default_queued(),
            starting: default_starting(),
            catching_up: default_catching_up(),
            stopped: default_stopped(),
            tool_status: default_tool_status(),
            approval: default_approval(),
            approve_button: default_approve_button(),
            deny_button: default_deny_button(),
            approved: default_approved(),
            denied: default_denied(),
            approval_timed_out: default_approval_timed_out(),
            approval_not_yours: default_approval_not_yours(),
            connect_button: default_connect_button(),
            files_failed: default_files_failed(),
        }
    }
}

fn default_approval() -> String {
    "🔐 {requester} — {question}".to_owned()
}
fn default_approve_button() -> String {
    "Approve".to_owned()
}
fn default_deny_button() -> String {
    "Deny".to_owned()
}
fn default_approved() -> String {
    "-# ✅ Approved by {by}.".to_owned()
}
fn default_denied() -> String {
    "-# ❌ Denied by {by}: not run.".to_owned()
}
fn default_approval_timed_out() -> String {
    "-# ⌛ No answer in time: not run.".to_owned()
}
fn default_approval_not_yours() -> String {
    "This request isn't yours to decide, or it is no longer waiting.".to_owned()
}
fn default_connect_button() -> String {
    "Connect {title}".to_owned()
}
fn default_files_failed() -> String {
    "-# ⚠️ {names} could not be attached: {reason}".to_owned()
}
fn default_queued() -> String {
    "-# ⏳ I'm working on something else right now. Your message is queued (position {position})."
        .to_owned()
}
fn default_starting() -> String {
    "-# ▶️ Starting your queued message (waited {waited}s)…".to_owned()
}
fn default_catching_up() -> String {
    "-# 📨 Catching up on {count} messages (waited {waited}s)…".to_owned()
}
fn default_stopped() -> String {
    "-# 🛑 stopped".to_owned()
}
fn default_tool_status() -> String {
    "-# {emoji} {label}… (step {step})".to_owned()
}
