//! Environment checks (skipped by `--offline`): every secret variable that something enabled
//! needs is set.

use std::collections::BTreeSet;

use crate::doc::Seg;
use crate::env::Env;
use crate::loader::{Partial, Source};
use crate::model::steps::Step;
use crate::model::store::StoreConfig;
use crate::model::tool::Runner;
use crate::path;

use super::Report;

pub(crate) fn check(set: &Partial<'_>, env: &Env, report: &mut Report<'_>) {
    if let Some(clara) = set.clara {
        let source = &clara.source;
        let config = &clara.value;
        for name in providers_in_use(set) {
            let Some(provider) = config.providers.get(&name) else {
                continue;
            };
            let needed_by = format!("provider `{name}`");
            if let Some(var) = &provider.api_key_env {
                require(
                    report,
                    env,
                    source,
                    &path!["providers", name.as_str(), "api_key_env"],
                    var,
                    &needed_by,
                );
            }
            for (header, var) in &provider.headers_env {
                require(
                    report,
                    env,
                    source,
                    &path!["providers", name.as_str(), "headers_env", header.as_str()],
                    var,
                    &needed_by,
                );
            }
        }
        let discord = &config.adapters.discord;
        if discord.enabled {
            require(
                report,
                env,
                source,
                &path!["adapters", "discord", "token_env"],
                &discord.token_env,
                "the Discord adapter",
            );
        }
        let name = &config.defaults.store;
        if let Some(StoreConfig::Postgres { url_env, .. }) = config.stores.get(name) {
            require(
                report,
                env,
                source,
                &path!["stores", name.as_str(), "url_env"],
                url_env,
                &format!("store `{name}`"),
            );
        }
    }
    for tool in set.tools.values().filter(|t| t.value.enabled) {
        let secrets = match &tool.value.runner {
            Runner::Command { secrets_env, .. }
            | Runner::Http { secrets_env, .. }
            | Runner::Mcp { secrets_env, .. } => secrets_env,
        };
        for (i, var) in secrets.iter().enumerate() {
            require(
                report,
                env,
                &tool.source,
                &path!["runner", "secrets_env", i],
                var,
                &format!("tool `{}`", tool.name),
            );
        }
    }
    for file in set.hook_files.values().flatten() {
        let hooks = file
            .value
            .hooks
            .iter()
            .enumerate()
            .filter(|(_, h)| h.enabled)
            .map(|(i, h)| ("hooks", i, &h.webhook, &h.name));
        let tasks = file
            .value
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.enabled)
            .map(|(i, t)| ("tasks", i, &t.webhook, &t.name));
        for (list, i, webhook, name) in hooks.chain(tasks) {
            let Some(webhook) = webhook else { continue };
            for (j, var) in webhook.secrets_env.iter().enumerate() {
                require(
                    report,
                    env,
                    &file.source,
                    &path![list, i, "webhook", "secrets_env", j],
                    var,
                    &format!("`{name}`"),
                );
            }
        }
    }
}

/// Providers something enabled will call: the default, the ones pipelines and memory name,
/// embeddings, and the fallbacks of all of those.
fn providers_in_use(set: &Partial<'_>) -> BTreeSet<String> {
    let Some(clara) = set.clara else {
        return BTreeSet::new();
    };
    let config = &clara.value;
    let mut used = BTreeSet::new();
    let default = config.defaults.provider.clone().or_else(|| {
        (config.providers.len() == 1)
            .then(|| config.providers.keys().next().cloned())
            .flatten()
    });
    used.extend(default.clone());
    if config.memory.enabled {
        used.extend(config.memory.provider.clone().or(default));
    }
    if let Some(embeddings) = config
        .embeddings
        .as_ref()
        .filter(|e| e.enabled && config.memory.enabled)
    {
        used.insert(embeddings.provider.clone());
    }
    for pipeline in set.pipelines.values().flatten() {
        for step in &pipeline.value.steps {
            if let Step::LlmCall(call) = step {
                used.extend(call.provider.clone());
                used.extend(call.tool_provider.clone());
            }
        }
    }
    let mut pending: Vec<String> = used.iter().cloned().collect();
    while let Some(name) = pending.pop() {
        for next in config
            .providers
            .get(&name)
            .map(|p| p.fallback.clone())
            .unwrap_or_default()
        {
            if used.insert(next.clone()) {
                pending.push(next);
            }
        }
    }
    used
}

fn require(
    report: &mut Report<'_>,
    env: &Env,
    source: &Source,
    at: &[Seg],
    var: &str,
    needed_by: &str,
) {
    // A value that is not a variable name was reported (without repeating it) by `env_names`.
    if crate::env::is_variable_name(var) && env.get(var).is_none() {
        report.value(source, at, format!("environment variable `{var}` is not set (needed by {needed_by}); set it or pass --offline"));
    }
}
