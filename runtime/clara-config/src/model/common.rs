//! Small vocabulary types shared by several file kinds: tiers, tool-call modes, events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A model tier. Each provider maps tiers to models; `mid` is the everyday default.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The most capable (and most expensive) model, e.g. an Opus-class model.
    High,
    /// The balanced everyday model, e.g. a Sonnet-class model.
    Mid,
    /// The fast, cheap model, e.g. a Haiku-class model. Never used for tool-bound calls.
    Low,
}

impl Tier {
    /// The tier's name as written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::High => "high",
            Tier::Mid => "mid",
            Tier::Low => "low",
        }
    }
}

/// How tools are offered to a model and how its calls are read back.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ToolCallMode {
    /// The API's own tool format (OpenAI `tools` / Anthropic `tool_use`).
    #[default]
    Native,
    /// Tools described in the system prompt; calls parsed from `<function_calls>` blocks in the
    /// reply text. For models or proxies without native tool support.
    Xml,
}

/// An event that hooks can subscribe to. MyPalClara's names, plus the reload events.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventName {
    /// The runtime has started.
    #[serde(rename = "gateway:startup")]
    GatewayStartup,
    /// The runtime is shutting down.
    #[serde(rename = "gateway:shutdown")]
    GatewayShutdown,
    /// An adapter (Discord, terminal) connected.
    #[serde(rename = "adapter:connected")]
    AdapterConnected,
    /// An adapter lost its connection.
    #[serde(rename = "adapter:disconnected")]
    AdapterDisconnected,
    /// A conversation session started.
    #[serde(rename = "session:start")]
    SessionStart,
    /// A conversation session ended.
    #[serde(rename = "session:end")]
    SessionEnd,
    /// A session ended because it was idle longer than the idle timeout.
    #[serde(rename = "session:timeout")]
    SessionTimeout,
    /// A user's message arrived (and was stored).
    #[serde(rename = "message:received")]
    MessageReceived,
    /// A reply was sent.
    #[serde(rename = "message:sent")]
    MessageSent,
    /// A running turn was cancelled (stop phrase, shutdown).
    #[serde(rename = "message:cancelled")]
    MessageCancelled,
    /// A turn failed. When the message had been stored, the user got the persona's error
    /// reply; before that, the adapter reports the failure.
    #[serde(rename = "message:failed")]
    MessageFailed,
    /// A tool call started.
    #[serde(rename = "tool:start")]
    ToolStart,
    /// A tool call finished.
    #[serde(rename = "tool:end")]
    ToolEnd,
    /// A tool call failed.
    #[serde(rename = "tool:error")]
    ToolError,
    /// A scheduled task ran.
    #[serde(rename = "scheduler:task_run")]
    SchedulerTaskRun,
    /// A scheduled task failed.
    #[serde(rename = "scheduler:task_error")]
    SchedulerTaskError,
    /// A changed config was loaded and is now live.
    #[serde(rename = "config:reloaded")]
    ConfigReloaded,
    /// A changed config was invalid; the previous one keeps running.
    #[serde(rename = "config:reload_failed")]
    ConfigReloadFailed,
}

impl EventName {
    /// Every event, in the order of the contract.
    pub const ALL: [EventName; 18] = [
        EventName::GatewayStartup,
        EventName::GatewayShutdown,
        EventName::AdapterConnected,
        EventName::AdapterDisconnected,
        EventName::SessionStart,
        EventName::SessionEnd,
        EventName::SessionTimeout,
        EventName::MessageReceived,
        EventName::MessageSent,
        EventName::MessageCancelled,
        EventName::MessageFailed,
        EventName::ToolStart,
        EventName::ToolEnd,
        EventName::ToolError,
        EventName::SchedulerTaskRun,
        EventName::SchedulerTaskError,
        EventName::ConfigReloaded,
        EventName::ConfigReloadFailed,
    ];

    /// The event's wire name, e.g. `message:received`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::GatewayStartup => "gateway:startup",
            EventName::GatewayShutdown => "gateway:shutdown",
            EventName::AdapterConnected => "adapter:connected",
            EventName::AdapterDisconnected => "adapter:disconnected",
            EventName::SessionStart => "session:start",
            EventName::SessionEnd => "session:end",
            EventName::SessionTimeout => "session:timeout",
            EventName::MessageReceived => "message:received",
            EventName::MessageSent => "message:sent",
            EventName::MessageCancelled => "message:cancelled",
            EventName::MessageFailed => "message:failed",
            EventName::ToolStart => "tool:start",
            EventName::ToolEnd => "tool:end",
            EventName::ToolError => "tool:error",
            EventName::SchedulerTaskRun => "scheduler:task_run",
            EventName::SchedulerTaskError => "scheduler:task_error",
            EventName::ConfigReloaded => "config:reloaded",
            EventName::ConfigReloadFailed => "config:reload_failed",
        }
    }
}

/// `true`, for `#[serde(default = ...)]`.
/// `text` with each `{name}` replaced by its value: the placeholders of user-facing lines
/// (greetings, notices), which are plain text rather than templates.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{name}}}"), value)
    })
}

pub(crate) fn yes() -> bool {
    true
}

/// The "every tool" policy used when a persona or pipeline does not restrict tools.
pub(crate) fn all_tools() -> Vec<String> {
    vec!["*".to_owned()]
}

/// Whether a tool `name` matches a policy `pattern` (`*` any run of characters, `?` one).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn matches(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|skip| matches(rest, &n[skip..])),
            Some(('?', rest)) => !n.is_empty() && matches(rest, &n[1..]),
            Some((c, rest)) => n.first() == Some(c) && matches(rest, &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

/// Whether a policy entry is a glob rather than one exact name.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// A duration written in seconds, as a [`std::time::Duration`]. Validation bounds every such
/// field; this never panics on what slips past it (a negative, NaN or huge value becomes the
/// nearest duration that exists).
pub fn seconds(value: f64) -> std::time::Duration {
    if value.is_nan() || value <= 0.0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::try_from_secs_f64(value).unwrap_or(std::time::Duration::MAX)
}
