//! `/clara mcp …`: the MCP servers and their state, for anyone; installing, removing, turning
//! on and off and restarting them, for admins; registry search. It goes through the same
//! installer as `clara mcp` and the chat tools. Slow work (an install, a search) is
//! acknowledged at once and answered when it is done.

use serde_json::{Value, json};
use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};

use super::bot::Bot;
use crate::tools::mcp::install::{Install, Installer, own_secrets};
use crate::tools::mcp::manifests;
use crate::tools::mcp::registry;

/// What the command asks.
pub enum McpRequest {
    /// Every server and its state.
    Status,
    /// Install from a source, under a name.
    Install(String, Option<String>),
    /// Remove a server.
    Uninstall(String),
    /// Turn a server on (`true`) or off.
    Enable(String, bool),
    /// Restart a server.
    Restart(String),
    /// Search the registries.
    Search(String),
}

/// The `mcp` group's definition, for registering `/clara`.
pub fn definition() -> Value {
    let server =
        json!({"type": 3, "name": "name", "description": "The server's name", "required": true});
    let sub = |name: &str, description: &str, options: Value| json!({"type": 1, "name": name, "description": description, "options": options});
    json!({"type": 2, "name": "mcp", "description": "MCP servers", "options": [
        sub("status", "The MCP servers and their state", json!([])),
        sub("install", "Install an MCP server (admins)", json!([
            {"type": 3, "name": "source", "description": "npm:PACKAGE, pypi:PACKAGE, github.com/OWNER/REPO, docker:IMAGE or an https:// URL", "required": true},
            {"type": 3, "name": "name", "description": "Its name (the source suggests one)", "required": false}
        ])),
        sub("uninstall", "Remove an MCP server (admins)", json!([server])),
        sub("enable", "Turn an MCP server on (admins)", json!([server])),
        sub("disable", "Turn an MCP server off (admins)", json!([server])),
        sub("restart", "Restart an MCP server (admins)", json!([server])),
        sub("search", "Search the MCP registry", json!([
            {"type": 3, "name": "query", "description": "What to look for", "required": true}
        ]))
    ]})
}

impl McpRequest {
    /// The request in the `mcp` group's options; `None` for one it does not know.
    pub fn parse(group: &CommandOptionValue) -> Option<McpRequest> {
        let CommandOptionValue::SubCommandGroup(subs) = group else {
            // `/clara mcp` as registered before it had subcommands.
            return matches!(group, CommandOptionValue::SubCommand(_))
                .then_some(McpRequest::Status);
        };
        let sub: &CommandDataOption = subs.first()?;
        let CommandOptionValue::SubCommand(options) = &sub.value else {
            return None;
        };
        let text = |key: &str| {
            options.iter().find_map(|o| match &o.value {
                CommandOptionValue::String(value) if o.name == key => Some(value.trim().to_owned()),
                _ => None,
            })
        };
        Some(match sub.name.as_str() {
            "status" => McpRequest::Status,
            "install" => McpRequest::Install(text("source")?, text("name")),
            "uninstall" => McpRequest::Uninstall(text("name")?),
            "enable" => McpRequest::Enable(text("name")?, true),
            "disable" => McpRequest::Enable(text("name")?, false),
            "restart" => McpRequest::Restart(text("name")?),
            "search" => McpRequest::Search(text("query")?),
            _ => return None,
        })
    }

    /// Whether only admins may ask it.
    pub fn changes_anything(&self) -> bool {
        !matches!(self, McpRequest::Status | McpRequest::Search(_))
    }

    /// Whether it takes long enough that Discord must be told to wait.
    pub fn is_slow(&self) -> bool {
        matches!(self, McpRequest::Install(..) | McpRequest::Search(_))
    }

    /// Does it, for `asker`, the person who asked.
    pub async fn answer(self, bot: &Bot, asker: &str) -> String {
        let generation = bot.live.current();
        let set = &generation.config;
        let client = bot.live.http_client().clone();
        let installer = Installer::new(&set.root, &set.clara.value.mcp, &set.env, client.clone())
            .for_others(own_secrets(set))
            .beside(set)
            .authorizing(bot.live.mcp_grants(), asker);
        let outcome = match self {
            McpRequest::Status => return status(bot),
            McpRequest::Install(source, name) => {
                let install = Install {
                    source,
                    name,
                    ..Install::default()
                };
                installer.add(&install).await.map(|installed| {
                    let tools: Vec<String> = installed
                        .tool_names()
                        .iter()
                        .map(|tool| format!("`{tool}`"))
                        .collect();
                    format!(
                        "Installed `{}` with {} tools: {}",
                        installed.name,
                        tools.len(),
                        tools.join(", ")
                    )
                })
            }
            McpRequest::Uninstall(name) => installer
                .remove(&name)
                .await
                .map(|said| format!("Done: {said}.")),
            McpRequest::Enable(name, on) => {
                let word = if on { "on" } else { "off" };
                installer
                    .set_enabled(&name, on)
                    .map(|changed| match changed {
                        true => format!("Turned `{name}` {word}."),
                        false => format!("`{name}` was already {word}."),
                    })
            }
            McpRequest::Restart(name) => {
                return if bot.live.mcp().restart(&name) {
                    format!("Restarting `{name}`.")
                } else {
                    format!("No MCP server `{name}` is running.")
                };
            }
            McpRequest::Search(query) => {
                let (found, failed) =
                    registry::search(&client, &set.clara.value.mcp, &set.env, &query, 5).await;
                return registry::describe(&found, &failed);
            }
        };
        outcome.unwrap_or_else(|e| format!("Not done: {e}"))
    }
}

/// Every MCP manifest, on or off, with the running ones' state.
fn status(bot: &Bot) -> String {
    let generation = bot.live.current();
    let running = bot.live.mcp().statuses();
    let lines: Vec<String> = manifests(&generation.config)
        .into_iter()
        .map(|m| {
            let name = &m.name;
            match running.iter().find(|(n, ..)| n == name) {
                Some((_, state, tools)) => format!("`{name}`: {state}, {tools} tools"),
                None if m.enabled => format!("`{name}`: starting"),
                None => format!("`{name}`: off"),
            }
        })
        .collect();
    if lines.is_empty() {
        "No MCP servers are installed.".to_owned()
    } else {
        lines.join("\n")
    }
}
