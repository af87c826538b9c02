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

/// Defines [`EventName`] from one table: each event's variant and wire name are written once,
/// and the enum, its serde names, [`EventName::ALL`] and [`EventName::as_str`] all come from it.
macro_rules! event_names {
    ($( $(#[doc = $doc:literal])* $variant:ident = $wire:literal, )*) => {
        /// An event that hooks can subscribe to. MyPalClara's names, plus the reload events.
        #[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventName {
            $( $(#[doc = $doc])* #[serde(rename = $wire)] $variant, )*
        }

        impl EventName {
            /// Every event, in the order of the contract.
            pub const ALL: &'static [EventName] = &[$(EventName::$variant),*];

            /// The event's wire name, e.g. `message:received`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventName::$variant => $wire,)*
                }
            }
        }
    };
}

event_names! {
    /// The runtime has started.
    GatewayStartup = "gateway:startup",
    /// The runtime is shutting down.
    GatewayShutdown = "gateway:shutdown",
    /// An adapter (Discord, terminal) connected.
    AdapterConnected = "adapter:connected",
    /// An adapter lost its connection.
    AdapterDisconnected = "adapter:disconnected",
    /// A conversation session started.
    SessionStart = "session:start",
    /// A conversation session ended.
    SessionEnd = "session:end",
    /// A session ended because it was idle longer than the idle timeout.
    SessionTimeout = "session:timeout",
    /// A user's message arrived (and was stored).
    MessageReceived = "message:received",
    /// A reply was sent.
    MessageSent = "message:sent",
    /// A running turn was cancelled (stop phrase, shutdown).
    MessageCancelled = "message:cancelled",
    /// A turn failed. When the message had been stored, the user got the persona's error
    /// reply; before that, the adapter reports the failure.
    MessageFailed = "message:failed",
    /// A tool call started.
    ToolStart = "tool:start",
    /// A tool call finished.
    ToolEnd = "tool:end",
    /// A tool call failed.
    ToolError = "tool:error",
    /// A tool call that needed approval was approved, denied, timed out or could not be
    /// asked about.
    ToolApproval = "tool:approval",
    /// A model call ended: its tokens and cost were recorded.
    LlmUsage = "llm:usage",
    /// A budget's spending passed its `warn_at` share (once per budget, scope and window).
    BudgetWarning = "budget:warning",
    /// A model call would have passed a budget's cap: it was warned about, downgraded or
    /// refused, as the budget says.
    BudgetExceeded = "budget:exceeded",
    /// A scheduled task ran.
    SchedulerTaskRun = "scheduler:task_run",
    /// A scheduled task failed.
    SchedulerTaskError = "scheduler:task_error",
    /// New mail in a watched inbox matched one of its user's rules: an alert was recorded.
    EmailAlert = "email:alert",
    /// A watched inbox could not be checked; it is tried again later.
    EmailError = "email:error",
    /// A changed config was loaded and is now live.
    ConfigReloaded = "config:reloaded",
    /// A changed config was invalid; the previous one keeps running.
    ConfigReloadFailed = "config:reload_failed",
}

/// `text` with each `{name}` replaced by its value: the placeholders of user-facing lines
/// (greetings, notices), which are plain text rather than templates.
pub fn fill(text: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(text.to_owned(), |text, (name, value)| {
        text.replace(&format!("{{{name}}}"), value)
    })
}

/// `text` cut to at most `max_chars` characters, with `…` after a cut: the shape of a long value
/// shown in a line meant for people.
pub fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A size for people: `512 bytes`, `12.5 KB`, `3.1 MB` (1 KB = 1024 bytes).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KB", "MB", "GB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    format!("{size:.1} {}", UNITS[unit])
}

/// Why `pattern` is not a regular expression, in one line (`invalid regular expression:
/// unclosed group`); `None` when it is one.
pub fn regex_problem(pattern: &str) -> Option<String> {
    let error = regex::Regex::new(pattern).err()?.to_string();
    let last = error.lines().last().unwrap_or("invalid").trim();
    let reason = last.strip_prefix("error: ").unwrap_or(last);
    Some(format!("invalid regular expression: {reason}"))
}

/// `true`, for `#[serde(default = ...)]`.
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

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(super::human_size(512), "512 bytes");
        assert_eq!(super::human_size(12_800), "12.5 KB");
        assert_eq!(super::human_size(3 * 1024 * 1024 + 100_000), "3.1 MB");
        assert_eq!(super::human_size(5 << 40), "5120.0 GB");
    }
}
