//! One module per command.

pub mod backup;
pub mod chat;
mod chat_approver;
mod chat_input;
mod chat_remote;
pub mod import;
pub mod init;
pub mod mcp;
pub mod memory;
mod memory_lines;
pub mod migrate;
mod observe;
pub mod plan;
mod progress;
pub mod replay;
mod replay_model;
mod replay_record;
mod replay_report;
mod replay_world;
pub mod run;
pub mod schema;
mod scratch;
pub mod test;
mod test_case;
mod test_cassette;
mod test_model;
mod test_report;
mod test_snapshot;
mod test_tools;
pub mod usage;
pub mod validate;

use std::path::Path;

use clara_config::ConfigSet;

/// The root's config, or `None` after printing every problem (the caller exits 1). Secrets are
/// not required here; each command says what it needs.
fn load_or_report(root: &Path) -> Option<ConfigSet> {
    match clara_config::load(root) {
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

/// Says what this command will miss from the environment before anything starts. Without the
/// default provider's key nothing can be answered: that is returned as the reason to stop, with
/// how to fix it. Anything else missing (memory's provider, a tool's token) is a warning, since
/// only the work that needs it fails. The Discord token is `clara run`'s own start-up check.
fn check_secrets(set: &ConfigSet, command: &str) -> Result<(), String> {
    if let Some(message) = missing_provider_key(set, command) {
        return Err(message);
    }
    for secret in set.missing_secrets().iter().filter(|m| !m.run_only) {
        eprintln!("warning: {}", secret.problem);
    }
    Ok(())
}

/// When the default provider's key is not set: a message saying which variable to set, or how
/// to use a local server instead.
fn missing_provider_key(set: &ConfigSet, command: &str) -> Option<String> {
    let config = &set.clara.value;
    let name = config.default_provider()?;
    let provider = config.providers.get(name)?;
    let var = provider.api_key_env.as_ref()?;
    if set.env.get(var).is_some() {
        return None;
    }
    Some(format!(
        "{command} needs a language model, and the default provider `{name}` has no key.\n\
         Set {var} in the environment or in {root}/.env, or use another provider:\n  \
         Anthropic:     set ANTHROPIC_API_KEY and CLARA_DEFAULTS__PROVIDER=anthropic\n  \
         a local server (Ollama, llama.cpp, vLLM, LM Studio): set CLARA_DEFAULTS__PROVIDER=local \
         ([providers.local] in clara.toml holds its address and model)\n\
         Memory follows the default provider. The README's \"Choosing a model provider\" has each \
         recipe in full, embeddings included.",
        root = set.root.display(),
    ))
}

/// `n` of `noun`, in the plural unless one: `1 task`, `2 tasks`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A stored time for people: `2026-12-03 03:00:00 UTC`.
fn when(at: clara_core::store::Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}
