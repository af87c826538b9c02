//! Persona files (`personas/NAME.toml`, optional `NAME.md`): who the assistant is.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Tier, all_tools};

/// A persona. Its name is the file stem (`personas/clara.toml` is persona `clara`).
/// The system prompt is a tera template: inline in `prompt`, in the file named by
/// `prompt_file`, or, when neither is set, in `NAME.md` beside this file.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Persona {
    /// The name the assistant goes by: the `persona` variable of the prompt templates.
    pub display_name: String,
    /// A line for humans: what this persona is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The system prompt, inline (a tera template).
    #[serde(default)]
    pub prompt: Option<String>,
    /// A file holding the system prompt (a tera template), relative to `personas/`.
    #[serde(default)]
    pub prompt_file: Option<String>,
    /// Tier used when a message carries no tier prefix (MyPalClara's `MODEL_TIER`). Left out:
    /// the provider's base model.
    #[serde(default)]
    pub default_tier: Option<Tier>,
    /// What the user sees when a turn fails (the LLM is down, a step broke).
    #[serde(default = "default_error_reply")]
    pub error_reply: String,
    /// What the user sees when a budget refuses their turn (a budget's own `reply` wins).
    #[serde(default = "default_budget_reply")]
    pub budget_reply: String,
    /// Tools this persona may use: names or globs (`memory_*`, `github__*`). `["*"]` is all.
    #[serde(default = "all_tools")]
    pub tools: Vec<String>,
}

fn default_budget_reply() -> String {
    "I've reached my spending limit for now, so I can't answer this one. \
     Your message is saved; try again later."
        .to_owned()
}

fn default_error_reply() -> String {
    "Sorry, something went wrong on my side and I couldn't answer that. \
     Your message is saved, so please try again in a moment."
        .to_owned()
}
