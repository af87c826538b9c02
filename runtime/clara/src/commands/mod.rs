//! One module per command.

pub mod chat;
pub mod migrate;
pub mod run;
pub mod schema;
pub mod validate;

use std::path::Path;

use clara_config::{ConfigSet, LoadOptions};

/// The root's config, or `None` after printing every problem (the caller exits 1). Secrets are
/// not required here; each command says what it needs.
fn load_or_report(root: &Path) -> Option<ConfigSet> {
    match clara_config::load(root, LoadOptions { offline: true }) {
        Ok(set) => {
            for warning in &set.warnings {
                eprintln!("warning: {warning}");
            }
            Some(set)
        }
        Err(err) => {
            for problem in err.problems() {
                eprintln!("{problem}");
            }
            eprintln!("{err}; run `clara validate` for details");
            None
        }
    }
}

/// When the default provider's key is not set: a message saying which variable to set, or how
/// to use a local server instead.
fn missing_provider_key(set: &ConfigSet, command: &str) -> Option<String> {
    let config = &set.clara.value;
    let name = config.defaults.provider.clone().or_else(|| {
        (config.providers.len() == 1)
            .then(|| config.providers.keys().next().cloned())
            .flatten()
    })?;
    let provider = config.providers.get(&name)?;
    let var = provider.api_key_env.as_ref()?;
    if set.env.get(var).is_some() {
        return None;
    }
    Some(format!(
        "{command} needs a language model, and the default provider `{name}` has no key.\n\
         Set {var} in the environment or in {root}/.env.\n\
         Or use a local OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio): add to clara.toml\n\n  \
         [providers.local]\n  kind = \"openai\"\n  base_url = \"http://127.0.0.1:11434/v1\"\n  model = \"llama3.2\"\n\n\
         and run with CLARA_DEFAULTS__PROVIDER=local (or set `provider = \"local\"` under [defaults]).",
        root = set.root.display(),
    ))
}
