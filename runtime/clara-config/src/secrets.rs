//! What the environment must hold: every secret variable something enabled reads, what in the
//! config needs it, and whether `clara chat` needs it or only `clara run`. `clara validate`
//! prints these with their positions; `clara chat` and `clara run` say them at start.

use std::collections::BTreeMap;

use crate::doc::Seg;
use crate::model::steps::Step;
use crate::model::store::StoreConfig;
use crate::model::tool::Runner;
use crate::path;
use crate::problem::Problem;
use crate::set::{ConfigSet, Source};

/// A secret variable that something enabled reads and the environment does not hold.
#[derive(Clone, Debug, PartialEq)]
pub struct MissingSecret {
    /// The variable's name.
    pub var: String,
    /// What needs it, in words that name the config asking for it.
    pub needed_by: String,
    /// Only `clara run` reads it (the Discord token, a task's secret); `clara chat` works
    /// without it.
    pub run_only: bool,
    /// What would do instead of setting it, when something would.
    pub instead: Option<String>,
    /// Where the variable is named, with the whole message.
    pub problem: Problem,
}

impl ConfigSet {
    /// Every secret variable in use that is not set, in file order.
    pub fn missing_secrets(&self) -> Vec<MissingSecret> {
        let mut found = Missing {
            set: self,
            list: Vec::new(),
        };
        let source = &self.clara.source;
        let config = &self.clara.value;
        for (name, uses) in providers_in_use(self) {
            let Some(provider) = config.providers.get(&name) else {
                continue;
            };
            let needed_by = format!("provider `{name}`: {}", uses.join(", "));
            if let Some(var) = &provider.api_key_env {
                let at = path!["providers", name.as_str(), "api_key_env"];
                found.check(source, &at, var, &needed_by, false);
            }
            for (header, var) in &provider.headers_env {
                let at = path!["providers", name.as_str(), "headers_env", header.as_str()];
                found.check(source, &at, var, &needed_by, false);
            }
        }
        let discord = &config.adapters.discord;
        if discord.enabled {
            let at = path!["adapters", "discord", "token_env"];
            found.check(source, &at, &discord.token_env, "the Discord adapter", true);
            found.instead_of(
                &discord.token_env,
                "adapters.discord.enabled = false to run without Discord",
            );
        }
        // Beyond loopback the console asks everyone for its token; without one it is shut.
        let beyond_loopback = config
            .status
            .bind
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|addr| !addr.ip().is_loopback());
        if config.status.enabled && config.console.enabled && beyond_loopback {
            let at = path!["console", "token_env"];
            let needed_by = "the console (the status endpoint listens beyond loopback)";
            found.check(source, &at, &config.console.token_env, needed_by, true);
        }
        let telemetry = &config.telemetry;
        if telemetry.endpoint.is_some() {
            for (header, var) in &telemetry.headers_env {
                let at = path!["telemetry", "headers_env", header.as_str()];
                found.check(source, &at, var, "trace export ([telemetry])", true);
            }
        }
        let gateway = &config.adapters.gateway;
        if gateway.enabled
            && let Some(var) = &gateway.secret_env
        {
            let at = path!["adapters", "gateway", "secret_env"];
            found.check(source, &at, var, "the WebSocket gateway", true);
        }
        // A connection whose client id is set is meant to be on: say what else it needs.
        for (name, connection) in &config.connections {
            if self.env.get(&connection.client_id_env).is_none() {
                continue;
            }
            let needed_by = format!("connection `{name}`");
            if let Some(var) = &connection.client_secret_env {
                let at = path!["connections", name.as_str(), "client_secret_env"];
                found.check(source, &at, var, &needed_by, false);
            }
            let at = path!["runtime", "secret_key_env"];
            found.check(
                source,
                &at,
                &config.runtime.secret_key_env,
                &needed_by,
                false,
            );
        }
        let name = &config.defaults.store;
        if let Some(StoreConfig::Postgres { url_env, .. }) = config.stores.get(name) {
            let at = path!["stores", name.as_str(), "url_env"];
            found.check(source, &at, url_env, &format!("store `{name}`"), false);
        }
        for tool in self.tools.values().filter(|t| t.value.enabled) {
            let secrets = match &tool.value.runner {
                Runner::Command { secrets_env, .. }
                | Runner::Http { secrets_env, .. }
                | Runner::Mcp { secrets_env, .. } => secrets_env,
            };
            let needed_by = format!("tool `{}`", tool.name);
            for (i, var) in secrets.iter().enumerate() {
                let at = path!["runner", "secrets_env", i];
                found.check(&tool.source, &at, var, &needed_by, false);
            }
            // A tool that calls as the user needs its connection set up or, failing that, the
            // operator's token it falls back on.
            if let Runner::Http {
                auth: Some(auth), ..
            } = &tool.value.runner
                && let Some(var) = &auth.fallback_env
                && config
                    .connections
                    .get(&auth.connection)
                    .is_none_or(|c| self.env.get(&c.client_id_env).is_none())
            {
                let at = path!["runner", "auth", "fallback_env"];
                found.check(&tool.source, &at, var, &needed_by, false);
                let connection = &auth.connection;
                let instead = match config.connections.get(connection) {
                    Some(c) => format!("{} for users to connect `{connection}`", c.client_id_env),
                    None => format!("`[connections.{connection}]` for users to connect"),
                };
                found.instead_of(var, &instead);
            }
        }
        for file in self.hook_files.values() {
            let hooks = file
                .value
                .hooks
                .iter()
                .enumerate()
                .filter(|(_, h)| h.enabled);
            // Hooks fire in `clara chat` too; tasks run only in `clara run`.
            let hooks = hooks.map(|(i, h)| ("hooks", "hook", i, &h.webhook, &h.name, false));
            let tasks = file
                .value
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.enabled);
            let tasks = tasks.map(|(i, t)| ("tasks", "task", i, &t.webhook, &t.name, true));
            for (list, kind, i, webhook, name, run_only) in hooks.chain(tasks) {
                let Some(webhook) = webhook else { continue };
                let needed_by = format!("{kind} `{name}`");
                for (j, var) in webhook.secrets_env.iter().enumerate() {
                    let at = path![list, i, "webhook", "secrets_env", j];
                    found.check(&file.source, &at, var, &needed_by, run_only);
                }
            }
        }
        found.list
    }
}

struct Missing<'a> {
    set: &'a ConfigSet,
    list: Vec<MissingSecret>,
}

impl Missing<'_> {
    /// Says what would do instead of setting `var`, if it was just found missing.
    fn instead_of(&mut self, var: &str, instead: &str) {
        if let Some(last) = self.list.last_mut().filter(|m| m.var == var) {
            last.instead = Some(instead.to_owned());
        }
    }

    fn check(&mut self, source: &Source, at: &[Seg], var: &str, needed_by: &str, run_only: bool) {
        // A value that is not a variable name is reported (without repeating it) by the checks.
        if !crate::env::is_variable_name(var) || self.set.env.get(var).is_some() {
            return;
        }
        let message = format!("environment variable `{var}` is not set (needed by {needed_by})");
        self.list.push(MissingSecret {
            var: var.to_owned(),
            needed_by: needed_by.to_owned(),
            run_only,
            instead: None,
            problem: Problem::at(&source.rel, source.doc.value_at(at), message),
        });
    }
}

/// The providers something enabled will call, each with what calls it: the default, the ones
/// memory, embeddings and pipelines name, and the fallbacks of all of those.
fn providers_in_use(set: &ConfigSet) -> BTreeMap<String, Vec<String>> {
    let config = &set.clara.value;
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |name: Option<&str>, what: String| {
        if let Some(name) = name {
            used.entry(name.to_owned()).or_default().push(what);
        }
    };
    add(config.default_provider(), "the default provider".to_owned());
    if config.memory.enabled {
        let what = match config.memory.provider {
            Some(_) => "memory extraction ([memory] provider)",
            None => "memory extraction",
        };
        add(config.memory_provider(), what.to_owned());
        if config.embeddings.as_ref().is_some_and(|e| e.enabled) {
            add(config.embeddings_provider(), "embeddings".to_owned());
        }
    }
    for (name, pipeline) in &set.pipelines {
        for step in &pipeline.value.steps {
            if let Step::LlmCall(call) = step {
                add(call.provider.as_deref(), format!("pipeline `{name}`"));
                add(
                    call.tool_provider.as_deref(),
                    format!("pipeline `{name}` (tool calls)"),
                );
            }
        }
    }
    let mut pending: Vec<String> = used.keys().cloned().collect();
    while let Some(name) = pending.pop() {
        for next in config
            .providers
            .get(&name)
            .map(|p| p.fallback.clone())
            .unwrap_or_default()
        {
            let uses = used.entry(next.clone()).or_default();
            if uses.is_empty() {
                pending.push(next.clone());
            }
            uses.push(format!("fallback of `{name}`"));
        }
    }
    for uses in used.values_mut() {
        uses.dedup();
    }
    used
}
