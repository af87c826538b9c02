//! The `tool_loop` step: bounds on tool rounds, result truncation, auto-continue.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::model::approval::{ApprovalMode, default_approval_timeout_secs, default_approvers};
use crate::model::common::{all_tools, yes};
use crate::model::prompts;

/// Options of the `tool_loop` step.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolLoopStep {
    /// The step's name, unique in its pipeline (default: its `type`). Work the step queues
    /// (memory extraction) finds it by this name, wherever a reload moves it.
    #[serde(default)]
    pub id: Option<String>,
    /// Tools this pipeline may use: names or globs. Intersected with the persona's list.
    #[serde(default = "all_tools")]
    pub tools: Vec<String>,
    /// Most model rounds with tool calls (`GATEWAY_MAX_TOOL_ITERATIONS`); then the model is
    /// asked to sum up.
    #[serde(default = "default_max_rounds")]
    #[schemars(range(min = 1))]
    pub max_rounds: u32,
    /// Most tool calls in one turn, across rounds.
    #[serde(default = "default_max_calls_per_turn")]
    #[schemars(range(min = 1))]
    pub max_calls_per_turn: u32,
    /// Longest tool result passed to the model, in characters (`GATEWAY_MAX_TOOL_RESULT_CHARS`).
    #[serde(default = "default_max_result_chars")]
    #[schemars(range(min = 100))]
    pub max_result_chars: u32,
    /// Appended to a cut result (tera template; `total_chars`, `shown_chars`).
    #[serde(default = "default_truncation_note")]
    pub truncation_note: String,
    /// Sent when the rounds are used up, asking the model to sum up.
    #[serde(default = "default_limit_reached_prompt")]
    pub limit_reached_prompt: String,
    /// Answer the model's own "shall I go ahead?" questions with a yes, a bounded number of
    /// times (`AUTO_CONTINUE_ENABLED`, `AUTO_CONTINUE_MAX`).
    #[serde(default)]
    pub auto_continue: AutoContinue,
    /// Approvals this pipeline asks for, by tool name or glob (`memory_forget = "always"`);
    /// where a tool's manifest asks too, the stricter mode holds.
    #[serde(default)]
    pub approvals: BTreeMap<String, ApprovalMode>,
    /// Who may approve the calls `approvals` holds: `requester`, `admins`, or user ids.
    #[serde(default = "default_approvers")]
    pub approvers: Vec<String>,
    /// Seconds to wait for an answer to those; none by then denies the call.
    #[serde(default = "default_approval_timeout_secs")]
    #[schemars(range(min = 1, max = 86400))]
    pub approval_timeout_secs: u32,
    /// The question an approver is asked; `{tool}` and `{arguments}` (JSON) are filled in.
    #[serde(default = "default_approval_question")]
    pub approval_question: String,
    /// What the model is told about a call that was not approved; `{tool}` and `{reason}`
    /// are filled in.
    #[serde(default = "default_approval_denied")]
    pub approval_denied: String,
}

impl Default for ToolLoopStep {
    fn default() -> Self {
        Self {
            id: None,
            tools: all_tools(),
            max_rounds: default_max_rounds(),
            max_calls_per_turn: default_max_calls_per_turn(),
            max_result_chars: default_max_result_chars(),
            truncation_note: default_truncation_note(),
            limit_reached_prompt: default_limit_reached_prompt(),
            auto_continue: AutoContinue::default(),
            approvals: BTreeMap::new(),
            approvers: default_approvers(),
            approval_timeout_secs: default_approval_timeout_secs(),
            approval_question: default_approval_question(),
            approval_denied: default_approval_denied(),
        }
    }
}

/// Automatic "yes, go ahead" to a model that stops to ask for permission.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoContinue {
    /// Turn it on.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Most automatic continuations per turn.
    #[serde(default = "default_auto_continue_max")]
    pub max: u32,
    /// Regular expressions (case-insensitive) matched against the end of the reply.
    #[serde(default = "default_auto_continue_patterns")]
    pub patterns: Vec<String>,
    /// How many trailing characters of the reply the patterns look at.
    #[serde(default = "default_auto_continue_tail_chars")]
    pub tail_chars: u32,
    /// The reply sent on the user's behalf.
    #[serde(default = "default_auto_continue_reply")]
    pub reply: String,
}

impl Default for AutoContinue {
    fn default() -> Self {
        Self {
            enabled: true,
            max: default_auto_continue_max(),
            patterns: default_auto_continue_patterns(),
            tail_chars: default_auto_continue_tail_chars(),
            reply: default_auto_continue_reply(),
        }
    }
}

fn default_max_rounds() -> u32 {
    75
}
fn default_max_calls_per_turn() -> u32 {
    200
}
fn default_max_result_chars() -> u32 {
    50_000
}
fn default_truncation_note() -> String {
    prompts::TRUNCATION_NOTE.to_owned()
}
fn default_limit_reached_prompt() -> String {
    prompts::LIMIT_REACHED.to_owned()
}
fn default_auto_continue_max() -> u32 {
    3
}
fn default_auto_continue_patterns() -> Vec<String> {
    // MyPalClara's list minus "let me know if" and "i can … if you like", which matched
    // ordinary sign-offs and made the model keep talking.
    [
        r"want me to .*\?",
        r"should i .*\?",
        r"shall i .*\?",
        r"would you like me to .*\?",
        r"ready to proceed\?",
        r"\bproceed\?",
        r"go ahead\?",
        r"do you want me to .*\?",
    ]
    .map(str::to_owned)
    .to_vec()
}
fn default_auto_continue_tail_chars() -> u32 {
    200
}
fn default_auto_continue_reply() -> String {
    "Yes, please proceed.".to_owned()
}

fn default_approval_question() -> String {
    "May I run `{tool}` with {arguments}?".to_owned()
}

fn default_approval_denied() -> String {
    "Not run: `{tool}` needs a person's approval, and {reason}. Tell the user it was not run."
        .to_owned()
}
