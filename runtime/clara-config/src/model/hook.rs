//! Hook files (`hooks/*.toml|yaml`): event hooks and scheduled tasks. MyPalClara's
//! `hooks.yaml` (`hooks:`) and `scheduler.yaml` (`tasks:`) are valid hook files as they are.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{EventName, yes};

/// A hook file: any number of event hooks and scheduled tasks.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HookFile {
    /// Actions run when events fire.
    #[serde(default)]
    pub hooks: Vec<Hook>,
    /// Actions run on a schedule.
    #[serde(default)]
    pub tasks: Vec<Task>,
}

/// An action run when an event fires. Exactly one of `command`, `webhook`, `pipeline`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// Unique name within the root.
    pub name: String,
    /// Events that fire this hook.
    #[serde(default)]
    pub on: Vec<EventName>,
    /// One event that fires this hook (MyPalClara's form; `on` is the same as a list).
    #[serde(default)]
    pub event: Option<EventName>,
    /// MyPalClara's hook type; only `shell` is supported.
    #[serde(default, rename = "type")]
    pub kind: HookKind,
    /// Shell command. Event values arrive as `CLARA_*` environment variables, never pasted
    /// into the command text.
    #[serde(default)]
    pub command: Option<String>,
    /// POST the event as JSON to a URL.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    /// Run this pipeline (a file stem in `pipelines/`).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Where the pipeline's reply goes.
    #[serde(default)]
    pub deliver: Option<Delivery>,
    /// Seconds before the action is stopped (at most a day, 86400).
    #[serde(default = "default_hook_timeout")]
    #[schemars(range(min = 0.001, max = 86400.0))]
    pub timeout: f64,
    /// Working directory of a command, relative to the root. Defaults to `hooks/`.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Run this hook.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A line for humans.
    #[serde(default)]
    pub description: Option<String>,
    /// When several hooks share an event, higher ones start first (they then run side by
    /// side, up to `runtime.hook_concurrency`).
    #[serde(default)]
    pub priority: i32,
}

/// MyPalClara's hook types.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HookKind {
    /// A shell command.
    #[default]
    Shell,
    /// A Python callable (MyPalClara only; clara reports it as unsupported).
    Python,
}

/// An HTTP webhook.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// URL to POST the event JSON to.
    pub url: String,
    /// Extra headers (tera templates over `env`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Host environment variables available to header templates as `env.NAME`.
    #[serde(default)]
    pub secrets_env: Vec<String>,
}

/// Where a pipeline run by a hook or task posts its reply.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// The adapter to post through (`discord`, `chat`).
    pub adapter: String,
    /// Channel id to post in.
    #[serde(default)]
    pub channel: Option<String>,
    /// User id to send a direct message to.
    #[serde(default)]
    pub user: Option<String>,
}

/// An action run on a schedule. Exactly one of `command`, `webhook`, `pipeline`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Unique name within the root.
    pub name: String,
    /// How the task is scheduled.
    #[serde(default, rename = "type")]
    pub kind: TaskKind,
    /// For `cron`: a 5-field POSIX cron expression (`0 9 * * 1-5` is 09:00 Monday to Friday).
    #[serde(default)]
    pub cron: Option<String>,
    /// For `cron`: the IANA time zone. Defaults to `defaults.timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// For `interval`: seconds between runs (at most 366 days, 31622400).
    #[serde(default)]
    #[schemars(range(min = 0.001, max = 31622400.0))]
    pub interval: Option<f64>,
    /// For `one_shot`: when to run, RFC 3339 (`2026-12-01T09:00:00+01:00`).
    #[serde(default)]
    pub run_at: Option<String>,
    /// Seconds to wait before the first run (`one_shot` without `run_at`, or `interval`; at
    /// most 366 days, 31622400).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 31622400.0))]
    pub delay: Option<f64>,
    /// What to do about runs missed while clara was down.
    #[serde(default)]
    pub missed: MissedRuns,
    /// Shell command. Runs with `CLARA_TASK_NAME` in its environment.
    #[serde(default)]
    pub command: Option<String>,
    /// POST the task run as JSON to a URL.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    /// Run this pipeline (a file stem in `pipelines/`).
    #[serde(default)]
    pub pipeline: Option<String>,
    /// Where the pipeline's reply goes.
    #[serde(default)]
    pub deliver: Option<Delivery>,
    /// Seconds before the action is stopped (at most a day, 86400).
    #[serde(default = "default_task_timeout")]
    #[schemars(range(min = 0.001, max = 86400.0))]
    pub timeout: f64,
    /// Working directory of a command, relative to the root. Defaults to `hooks/`.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Run this task.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A line for humans.
    #[serde(default)]
    pub description: Option<String>,
}

/// How a task is scheduled.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Once, at `run_at` or after `delay`.
    OneShot,
    /// Every `interval` seconds.
    #[default]
    Interval,
    /// On a `cron` schedule.
    Cron,
}

/// What happens to runs that fell due while clara was not running.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissedRuns {
    /// Forget them; wait for the next due time.
    #[default]
    Skip,
    /// Run once at start-up if any were missed.
    RunOnce,
}

fn default_hook_timeout() -> f64 {
    30.0
}
fn default_task_timeout() -> f64 {
    300.0
}
