//! The gateway's `mcp_*` frames: listing servers (their manifests, on or off, and how the
//! running ones are doing) and, for the users `[gateway] admin_users` names, installing,
//! removing, turning on and off and restarting them — through the same installer as
//! `clara mcp` and the chat tools.

use serde_json::{Value, json};

use super::turn::Shared;
use crate::tools::mcp::install::{Install, Installer, own_secrets};
use crate::tools::mcp::manifests;

/// A change a node asks for.
pub enum Change {
    /// `mcp_install`.
    Install {
        /// Where the server comes from.
        source: String,
        /// Its name, if the node gave one.
        name: Option<String>,
    },
    /// `mcp_uninstall`.
    Uninstall(String),
    /// `mcp_enable` (with `enabled = false`: off).
    Enable(String, bool),
    /// `mcp_restart`.
    Restart(String),
}

impl Change {
    fn kind(&self) -> &'static str {
        match self {
            Change::Install { .. } => "mcp_install",
            Change::Uninstall(_) => "mcp_uninstall",
            Change::Enable(..) => "mcp_enable",
            Change::Restart(_) => "mcp_restart",
        }
    }
}

/// `mcp_list_response`: every MCP manifest, on or off, with the running ones' state.
pub fn list(shared: &Shared, request_id: &str) -> Value {
    let generation = shared.live.current();
    let running = shared.live.mcp().statuses();
    let servers: Vec<Value> = manifests(&generation.config)
        .into_iter()
        .map(|m| {
            let state = running.iter().find(|(n, ..)| *n == m.name);
            let status = state.map_or_else(
                || if m.enabled { "starting" } else { "disabled" }.to_owned(),
                |(_, s, _)| s.clone(),
            );
            json!({
                "name": m.name,
                "status": status,
                "enabled": m.enabled,
                "connected": status == "running",
                "tool_count": state.map_or(0, |(_, _, tools)| *tools),
                "transport": if m.http { "streamable-http" } else { "stdio" },
                "source_type": "manifest",
                "last_error": status.strip_prefix("down (").and_then(|s| s.strip_suffix(')')),
            })
        })
        .collect();
    json!({ "type": "mcp_list_response", "request_id": request_id, "success": true, "servers": servers })
}

/// `mcp_status_response`: one server, or counts over all.
pub fn status(shared: &Shared, request_id: &str, server: Option<&str>) -> Value {
    let statuses = shared.live.mcp().statuses();
    match server {
        Some(name) => match statuses.iter().find(|(n, ..)| n == name) {
            Some((name, state, tools)) => json!({
                "type": "mcp_status_response", "request_id": request_id, "success": true,
                "server": { "name": name, "status": state, "connected": state == "running", "tool_count": tools },
            }),
            None => json!({
                "type": "mcp_status_response", "request_id": request_id, "success": false,
                "error": format!("no MCP server named `{name}` is running"),
            }),
        },
        None => {
            let generation = shared.live.current();
            let enabled = manifests(&generation.config)
                .iter()
                .filter(|m| m.enabled)
                .count();
            json!({
                "type": "mcp_status_response", "request_id": request_id, "success": true,
                "total": statuses.len(),
                "connected": statuses.iter().filter(|(_, s, _)| s == "running").count(),
                "enabled": enabled,
            })
        }
    }
}

/// The `…_response` to a change: done only when `admin` (who asked, when they are in
/// `admin_users`) is set; an install can take minutes, so the caller runs this beside the
/// connection's other frames.
pub async fn change(
    shared: &Shared,
    request_id: &str,
    change: Change,
    admin: Option<String>,
) -> Value {
    let kind = change.kind();
    let answer = |outcome: Result<Value, String>| {
        let mut frame = json!({"type": format!("{kind}_response"), "request_id": request_id});
        match outcome {
            Ok(Value::Object(fields)) => {
                frame["success"] = json!(true);
                for (key, value) in fields {
                    frame[key] = value;
                }
            }
            Ok(_) => frame["success"] = json!(true),
            Err(error) => {
                frame["success"] = json!(false);
                frame["error"] = json!(error);
            }
        }
        frame
    };
    let Some(asker) = admin else {
        return answer(Err(
            "only the users in [gateway] admin_users (as `requested_by`) may change MCP servers"
                .to_owned(),
        ));
    };
    let generation = shared.live.current();
    let set = &generation.config;
    let installer = Installer::new(
        &set.root,
        &set.clara.value.mcp,
        &set.env,
        shared.live.http_client().clone(),
    )
    .for_others(own_secrets(set))
    .beside(set)
    .authorizing(shared.live.mcp_grants(), &asker);
    let outcome = match change {
        Change::Install { source, name } => {
            let install = Install {
                source,
                name,
                ..Install::default()
            };
            installer
                .add(&install)
                .await
                .map(|installed| {
                    let tools: Vec<&str> =
                        installed.tools.iter().map(|(t, _)| t.as_str()).collect();
                    json!({"server_name": installed.name, "tools": tools})
                })
                .map_err(|e| e.to_string())
        }
        Change::Uninstall(name) => installer
            .remove(&name)
            .await
            .map(|said| json!({"server_name": name, "message": said}))
            .map_err(|e| e.to_string()),
        Change::Enable(name, enabled) => installer
            .set_enabled(&name, enabled)
            .map(|_| json!({"server_name": name, "enabled": enabled}))
            .map_err(|e| e.to_string()),
        Change::Restart(name) => {
            if shared.live.mcp().restart(&name) {
                Ok(json!({"server_name": name}))
            } else {
                Err(format!("no MCP server named `{name}` is running"))
            }
        }
    };
    answer(outcome)
}
