//! What each event carries: one payload type per event, serialised once into the `data` that
//! hooks, webhooks and logs receive.

use clara_config::model::common::EventName;
use serde::Serialize;
use serde_json::Value;

use crate::store::Millis;

/// An event's payload; its variant is the event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    /// `gateway:startup`
    GatewayStartup(GatewayStartup),
    /// `gateway:shutdown`
    GatewayShutdown(GatewayShutdown),
    /// `adapter:connected`
    AdapterConnected(AdapterConnected),
    /// `adapter:disconnected`
    AdapterDisconnected(AdapterDisconnected),
    /// `session:start`
    SessionStart(SessionStart),
    /// `session:end`
    SessionEnd(SessionEnd),
    /// `session:timeout`
    SessionTimeout(SessionTimeout),
    /// `message:received`
    MessageReceived(MessageReceived),
    /// `message:sent`
    MessageSent(MessageSent),
    /// `message:cancelled`
    MessageCancelled(MessageCancelled),
    /// `message:failed`
    MessageFailed(MessageFailed),
    /// `tool:start`
    ToolStart(ToolStart),
    /// `tool:end`
    ToolEnd(ToolEnd),
    /// `tool:error`
    ToolError(ToolFailed),
    /// `tool:approval`
    ToolApproval(ToolApproval),
    /// `llm:usage`
    LlmUsage(LlmUsage),
    /// `budget:warning`
    BudgetWarning(BudgetSpending),
    /// `budget:exceeded`
    BudgetExceeded(BudgetSpending),
    /// `scheduler:task_run`
    SchedulerTaskRun(TaskStarted),
    /// `scheduler:task_error`
    SchedulerTaskError(TaskFailed),
    /// `email:alert`
    EmailAlert(EmailAlerted),
    /// `email:error`
    EmailError(EmailCheckFailed),
    /// `config:reloaded`
    ConfigReloaded(ConfigReloaded),
    /// `config:reload_failed`
    ConfigReloadFailed(ConfigReloadFailed),
}

impl EventData {
    /// The event this payload belongs to.
    pub fn name(&self) -> EventName {
        match self {
            EventData::GatewayStartup(_) => EventName::GatewayStartup,
            EventData::GatewayShutdown(_) => EventName::GatewayShutdown,
            EventData::AdapterConnected(_) => EventName::AdapterConnected,
            EventData::AdapterDisconnected(_) => EventName::AdapterDisconnected,
            EventData::SessionStart(_) => EventName::SessionStart,
            EventData::SessionEnd(_) => EventName::SessionEnd,
            EventData::SessionTimeout(_) => EventName::SessionTimeout,
            EventData::MessageReceived(_) => EventName::MessageReceived,
            EventData::MessageSent(_) => EventName::MessageSent,
            EventData::MessageCancelled(_) => EventName::MessageCancelled,
            EventData::MessageFailed(_) => EventName::MessageFailed,
            EventData::ToolStart(_) => EventName::ToolStart,
            EventData::ToolEnd(_) => EventName::ToolEnd,
            EventData::ToolError(_) => EventName::ToolError,
            EventData::ToolApproval(_) => EventName::ToolApproval,
            EventData::LlmUsage(_) => EventName::LlmUsage,
            EventData::BudgetWarning(_) => EventName::BudgetWarning,
            EventData::BudgetExceeded(_) => EventName::BudgetExceeded,
            EventData::SchedulerTaskRun(_) => EventName::SchedulerTaskRun,
            EventData::SchedulerTaskError(_) => EventName::SchedulerTaskError,
            EventData::EmailAlert(_) => EventName::EmailAlert,
            EventData::EmailError(_) => EventName::EmailError,
            EventData::ConfigReloaded(_) => EventName::ConfigReloaded,
            EventData::ConfigReloadFailed(_) => EventName::ConfigReloadFailed,
        }
    }

    /// The payload as JSON, the `data` of webhooks and templates.
    pub fn to_json(&self) -> Value {
        // Every payload is plain strings, numbers, lists and maps with string keys.
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The runtime has started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GatewayStartup {
    /// `runtime.node_id`, or the host name.
    pub node_id: String,
    /// The process id.
    pub pid: u32,
    /// How many hooks loaded.
    pub hooks_loaded: usize,
    /// How many scheduled tasks loaded.
    pub tasks_loaded: usize,
}

/// The runtime is shutting down.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GatewayShutdown {
    /// Why (`signal`, `end of input`).
    pub reason: String,
}

/// An adapter connected.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdapterConnected {
    /// `discord`, `chat`.
    pub adapter: String,
    /// The Discord shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// How it connected, for adapters with a connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Connected>,
    /// The platform adapter that connected to the gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Node>,
}

/// A platform adapter connected to the gateway.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// The id it registered with.
    pub node_id: String,
    /// Its platform (`discord`, `teams`, `cli`…).
    pub platform: String,
    /// The session id the gateway gave it.
    pub session_id: String,
}

/// How a connection came up.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Connected {
    /// The bot user's name, on a new session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Whether an earlier session was resumed.
    pub resumed: bool,
}

/// An adapter lost its connection (or the terminal closed).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdapterDisconnected {
    /// `discord`, `chat`.
    pub adapter: String,
    /// The Discord shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<u32>,
    /// Why, for adapters with a connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Disconnected>,
    /// The platform adapter that left the gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Node>,
}

/// Why a connection went down.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Disconnected {
    /// The close reason.
    pub reason: String,
}

/// A session started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionStart {
    /// The new session.
    pub session_id: String,
    /// The session it follows, if any.
    pub previous_session_id: Option<String>,
}

/// A session ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionEnd {
    /// The session.
    pub session_id: String,
    /// Why (`timeout`).
    pub reason: String,
}

/// A session ended because it was idle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionTimeout {
    /// The session.
    pub session_id: String,
    /// How long it was idle.
    pub idle_minutes: i64,
}

/// A user's message was stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageReceived {
    /// Its stored id.
    pub message_id: i64,
    /// Its session.
    pub session_id: String,
    /// Its length in characters.
    pub chars: usize,
}

/// A reply was sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageSent {
    /// Its length in characters.
    pub chars: usize,
    /// The tier it was written on.
    pub tier: Option<String>,
}

/// A turn was cancelled.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageCancelled {
    /// Why (`stop_phrase`).
    pub reason: String,
    /// Whether a turn was running (as the adapter saw it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was_running: Option<bool>,
    /// How many queued messages were dropped (as the adapter saw it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared: Option<usize>,
}

/// A turn failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageFailed {
    /// What went wrong.
    pub error: String,
    /// Whether the user's message had been stored (and the persona's error reply sent).
    pub stored: bool,
}

/// A tool call started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolStart {
    /// The tool.
    pub tool: String,
    /// Its number among the turn's calls, from 1.
    pub step: u32,
    /// The arguments it runs with.
    pub arguments: Value,
    /// The status text to show.
    pub label: String,
    /// The emoji to show with it.
    pub emoji: Option<String>,
}

/// A tool call finished.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolEnd {
    /// The tool.
    pub tool: String,
    /// Its number among the turn's calls.
    pub step: u32,
    /// The result's length in characters.
    pub chars: usize,
}

/// A model call ended; its usage is in the usage log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LlmUsage {
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// What the call was for: `turn`, `classifier`, `memory`, `summary`, `task`.
    pub purpose: String,
    /// Prompt tokens at the full rate.
    pub input_tokens: u32,
    /// Reply tokens.
    pub output_tokens: u32,
    /// Prompt tokens read from the prompt cache.
    pub cache_read_tokens: u32,
    /// Prompt tokens written to the prompt cache.
    pub cache_write_tokens: u32,
    /// What it cost, in millionths of a US dollar.
    pub cost_micros: i64,
}

/// What became of a tool call that needed approval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolApproval {
    /// The tool.
    pub tool: String,
    /// Its number among the turn's calls.
    pub step: u32,
    /// `always` or `first_use`.
    pub mode: String,
    /// `approved`, `denied`, `timed_out` or `unavailable`.
    pub decision: String,
    /// Who approved or denied it.
    pub decided_by: Option<String>,
}

/// Where a budget stands: what it caps, for whom, what is spent, and what was done.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetSpending {
    /// The budget's name: its `[budgets]` key, or `PIPELINE.STEP.NAME` for a step's.
    pub budget: String,
    /// `user`, `channel`, `persona`, `pipeline` or `everyone`.
    pub per: String,
    /// Whose spending: the user, conversation, persona or pipeline (`*` for everyone).
    pub scope: String,
    /// `turn`, `hour`, `day` or `month`.
    pub window: String,
    /// Tokens spent in the window (including calls still running).
    pub tokens: u64,
    /// The token cap, when the budget has one.
    pub tokens_limit: Option<u64>,
    /// Millionths of a dollar spent in the window (including calls still running).
    pub cost_micros: i64,
    /// The dollar cap in millionths, when the budget has one.
    pub cost_limit_micros: Option<i64>,
    /// For `budget:exceeded`: `warn`, `downgrade` or `refuse`; for `budget:warning`: `warn`.
    pub action: String,
    /// What the call was for: `turn`, `classifier`, `memory`, `summary`, `task`.
    pub purpose: String,
}

/// A tool call failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolFailed {
    /// The tool.
    pub tool: String,
    /// Its number among the turn's calls.
    pub step: u32,
    /// What the model is told.
    pub error: String,
}

/// A scheduled task started a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskStarted {
    /// The task.
    pub task_name: String,
    /// `interval`, `cron` or `one_shot`.
    pub task_type: String,
    /// The run's due time.
    pub due_at: Millis,
}

/// A scheduled task failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskFailed {
    /// The task.
    pub task_name: String,
    /// `interval`, `cron` or `one_shot`.
    pub task_type: String,
    /// What went wrong.
    pub error: String,
}

/// New mail matched a rule: what the alert says (the message's text is left out).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EmailAlerted {
    /// The inbox's address.
    pub account: String,
    /// The sender as shown.
    pub sender: String,
    /// The subject.
    pub subject: String,
    /// The rule that matched.
    pub rule: String,
    /// Its importance.
    pub importance: String,
    /// The conditions that held.
    pub matched: Vec<String>,
}

/// A watched inbox could not be checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EmailCheckFailed {
    /// The inbox's address.
    pub account: String,
    /// What went wrong.
    pub error: String,
    /// Checks in a row that failed.
    pub failures: u32,
}

/// A changed config is live.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigReloaded {
    /// Files only in the new set.
    pub added: Vec<String>,
    /// Files whose content changed.
    pub changed: Vec<String>,
    /// Files only in the old set.
    pub removed: Vec<String>,
}

/// A changed config did not go live; the previous one keeps running.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConfigReloadFailed {
    /// `invalid`, `needs_restart` or `build`.
    pub reason: String,
    /// What went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Every problem, as `file:line:col: message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<String>>,
}
