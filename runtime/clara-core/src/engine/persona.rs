//! A persona as a turn uses it: its names, replies and tools, with its prompt compiled.

use clara_config::LoadedPersona;
use clara_config::model::common::Tier;

use super::EngineError;
use super::template::Template;

/// Who answers, built once per generation.
pub(crate) struct Persona {
    /// The `persona` variable of the prompt templates.
    pub display_name: String,
    /// What the user sees when a turn fails.
    pub error_reply: String,
    /// What the user sees when a budget refuses their turn.
    pub budget_reply: String,
    /// The tier when neither the message nor the step picks one.
    pub default_tier: Option<Tier>,
    /// The tools it may use (names or globs).
    pub tools: Vec<String>,
    /// Its system prompt; `None` when a pipeline names a persona that has no file.
    pub prompt: Option<Template>,
    /// Whether the prompt renders the same every turn of a session (it reads no per-turn
    /// variable), so it can sit in the cached start of the prompt.
    pub cacheable: bool,
}

impl Persona {
    pub(crate) fn build(name: &str, loaded: &LoadedPersona) -> Result<Persona, EngineError> {
        let file = &loaded.file.value;
        Ok(Persona {
            display_name: file.display_name.clone(),
            error_reply: file.error_reply.clone(),
            budget_reply: file.budget_reply.clone(),
            default_tier: file.default_tier,
            tools: file.tools.clone(),
            prompt: Some(Template::compile(
                format!("persona/{name}"),
                &loaded.prompt,
            )?),
            cacheable: clara_config::prompt_cache::first_per_turn(&loaded.prompt).is_none(),
        })
    }

    /// Stands in for a persona with no file: no prompt, no tools, a plain error reply.
    pub(crate) fn missing(error_reply: &str) -> Persona {
        Persona {
            display_name: String::new(),
            error_reply: error_reply.to_owned(),
            budget_reply: error_reply.to_owned(),
            default_tier: None,
            tools: Vec::new(),
            prompt: None,
            cacheable: true,
        }
    }
}
