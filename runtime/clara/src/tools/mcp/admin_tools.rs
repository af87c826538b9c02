//! The admin-only built-in tools that manage MCP servers from the chat: install, uninstall,
//! enable, disable (each writes or edits a manifest in tools.d/, which hot reload applies),
//! restart, list, status and registry search — the same operations as `clara mcp`. Installing
//! and turning on wait for the asker's yes; servers from this machine's files and clara's own
//! secrets are for `clara mcp` at the machine only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clara_config::model::approval::{ApprovalMode, default_approval_timeout_secs};
use clara_config::model::mcp::McpConfig;
use clara_config::{ConfigSet, Env};
use clara_core::engine::{Tool, ToolContext, ToolError, ToolPolicy, ToolSource};
use clara_core::llm::{BoxFuture, ToolSpec};
use serde_json::{Value, json};

use super::Running;
use super::install::{Install, Installer, own_secrets};
use super::registry;
use super::server_grants::{GrantError, Grants};

#[derive(Clone, Copy)]
enum Action {
    Install,
    Uninstall,
    Enable,
    Disable,
    Restart,
    List,
    Status,
    Search,
    OAuthStart,
}

/// What every one of the tools works on: the root's files and the running servers.
struct Setting {
    root: PathBuf,
    config: McpConfig,
    env: Env,
    /// Whether a changed manifest applies by itself (`[runtime] watch`).
    watched: bool,
    /// Each MCP manifest.
    manifests: Vec<super::McpManifest>,
    client: reqwest::Client,
    running: Running,
    /// clara's own secret variables, never handed to a server installed from the chat.
    own_secrets: Vec<String>,
    /// The names of the root's tools, which an install may not take.
    tool_names: Vec<String>,
    /// Where OAuth servers' grants are kept (`None` without a secret key).
    grants: Option<Arc<Grants>>,
}

struct AdminTool {
    spec: ToolSpec,
    action: Action,
    setting: Arc<Setting>,
    policy: ToolPolicy,
}

/// The MCP tools of one generation, built from `set`.
pub(super) struct AdminTools(Arc<[Arc<dyn Tool>]>);

impl ToolSource for AdminTools {
    fn tools(&self) -> Arc<[Arc<dyn Tool>]> {
        self.0.clone()
    }
}

/// Only admins manage servers; what starts a server's code (installing, turning one on) waits
/// for the asker's own yes, so a prompt injected into the conversation cannot do it alone.
fn policy(action: Action) -> ToolPolicy {
    let confirm = matches!(action, Action::Install | Action::Enable);
    ToolPolicy {
        admin_only: true,
        approval: if confirm {
            ApprovalMode::Always
        } else {
            ApprovalMode::Never
        },
        approvers: vec!["requester".to_owned()],
        approval_timeout_secs: default_approval_timeout_secs(),
        ..ToolPolicy::default()
    }
}

impl AdminTools {
    /// The tools for `set`'s root, over the servers in `running`.
    pub(super) fn new(
        set: &ConfigSet,
        client: &reqwest::Client,
        running: Running,
        grants: Option<Arc<Grants>>,
    ) -> AdminTools {
        let setting = Arc::new(Setting {
            root: set.root.clone(),
            config: set.clara.value.mcp.clone(),
            env: set.env.clone(),
            watched: set.clara.value.runtime.watch,
            manifests: super::manifests(set),
            client: client.clone(),
            running,
            own_secrets: own_secrets(set),
            tool_names: set.tools.keys().cloned().collect(),
            grants,
        });
        let name = |n: &str| json!({"type": "string", "description": n});
        let tool = |action, name: &str, description: &str, parameters: Value| {
            Arc::new(AdminTool {
                spec: ToolSpec {
                    name: name.to_owned(),
                    description: description.to_owned(),
                    parameters,
                },
                action,
                setting: setting.clone(),
                policy: policy(action),
            }) as Arc<dyn Tool>
        };
        let one = |what: &str| json!({"type": "object", "required": ["name"], "properties": {"name": name(what)}});
        AdminTools(Arc::from(vec![
            tool(
                Action::Install,
                "mcp_install",
                "Installs an MCP server (admins only): fetches and builds it, starts it once to list its tools, then writes its manifest; its tools are offered as NAME__TOOL.",
                json!({"type": "object", "required": ["source"], "properties": {
                    "source": {"type": "string", "description": "npm:PACKAGE, pypi:PACKAGE, github.com/OWNER/REPO, docker:IMAGE, a path on this machine, or an https:// URL (streamable HTTP)."},
                    "name": {"type": "string", "description": "The server's name (letters, digits, _ and -); the source suggests one."},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Settings for the server, written into its manifest. Never put keys or passwords here."},
                    "secrets_env": {"type": "array", "items": {"type": "string"}, "description": "Names of variables in clara's environment to pass to the server (for its keys)."},
                    "args": {"type": "array", "items": {"type": "string"}, "description": "More arguments for the server."},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Headers for an https:// server, as templates over env: {\"Authorization\": \"Bearer {{ env.KEY }}\"} with KEY in secrets_env."}}}),
            ),
            tool(
                Action::Uninstall,
                "mcp_uninstall",
                "Removes an MCP server (admins only): its manifest and what was built for it.",
                one("The server's name, as mcp_list shows it."),
            ),
            tool(
                Action::Enable,
                "mcp_enable",
                "Turns an installed MCP server on (admins only).",
                one("The server's name."),
            ),
            tool(
                Action::Disable,
                "mcp_disable",
                "Turns an MCP server off, keeping its manifest (admins only).",
                one("The server's name."),
            ),
            tool(
                Action::Restart,
                "mcp_restart",
                "Restarts a running MCP server (admins only).",
                one("The server's name."),
            ),
            tool(
                Action::List,
                "mcp_list",
                "Lists the MCP servers in tools.d/: on or off, what each runs, and how it is doing.",
                json!({"type": "object", "properties": {}}),
            ),
            tool(
                Action::Status,
                "mcp_status",
                "Says how the running MCP servers are doing: state and tool count.",
                json!({"type": "object", "properties": {"name": name("Only this server.")}}),
            ),
            tool(
                Action::OAuthStart,
                "mcp_oauth_start",
                "Gives a one-time link (valid 10 minutes) that authorizes an installed MCP server which uses OAuth (admins only): the admin opens it and allows access; the server then restarts with it. Pass the link on as it is.",
                one("The server's name."),
            ),
            tool(
                Action::Search,
                "mcp_search",
                "Searches the MCP registry (and Smithery's, when a key is set) for servers to install, with the source to install each from.",
                json!({"type": "object", "required": ["query"], "properties": {
                    "query": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 30}}}),
            ),
        ]))
    }
}

impl AdminTool {
    async fn run(&self, arguments: &Value, asker: &str) -> Result<String, ToolError> {
        let s = &self.setting;
        let installer = Installer::new(&s.root, &s.config, &s.env, s.client.clone())
            .for_others(s.own_secrets.clone())
            .taking_none_of(&s.tool_names)
            .authorizing(s.grants.clone(), asker);
        let text = |key: &str| arguments.get(key).and_then(Value::as_str).map(str::trim);
        let name = text("name").filter(|n| !n.is_empty());
        let needs_name = || name.ok_or_else(|| ToolError("say which server (`name`)".to_owned()));
        let failed = |e: super::install::InstallError| ToolError(e.to_string());
        let applies = if s.watched {
            "It applies within a moment."
        } else {
            "It applies when clara reloads its files (file watching is off: restart clara)."
        };
        match self.action {
            Action::Install => {
                let strings = |key: &str| -> Vec<String> {
                    arguments
                        .get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                };
                let map = |key: &str| -> BTreeMap<String, String> {
                    arguments
                        .get(key)
                        .and_then(Value::as_object)
                        .into_iter()
                        .flatten()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                        .collect()
                };
                let install = Install {
                    source: text("source").unwrap_or_default().to_owned(),
                    name: name.map(str::to_owned),
                    env: map("env"),
                    secrets_env: strings("secrets_env"),
                    args: strings("args"),
                    headers: map("headers"),
                };
                let installed = installer.add(&install).await.map_err(failed)?;
                let tools = installed.tool_names();
                Ok(format!(
                    "Installed `{}` (tools.d/{}.toml) with {} tools: {}. {applies}",
                    installed.name,
                    installed.name,
                    tools.len(),
                    tools.join(", ")
                ))
            }
            Action::Uninstall => {
                let removed = installer.remove(needs_name()?).await.map_err(failed)?;
                Ok(format!("Done: {removed}. {applies}"))
            }
            Action::Enable | Action::Disable => {
                let on = matches!(self.action, Action::Enable);
                let name = needs_name()?;
                let word = if on { "on" } else { "off" };
                Ok(match installer.set_enabled(name, on).map_err(failed)? {
                    true => format!("Turned {name} {word}. {applies}"),
                    false => format!("{name} was already {word}."),
                })
            }
            Action::Restart => {
                let name = needs_name()?;
                let server = s
                    .running
                    .lock()
                    .expect("no panics while held")
                    .get(name)
                    .cloned();
                match server {
                    Some(server) => {
                        server.restart();
                        Ok(format!("Restarting {name}."))
                    }
                    None => Err(ToolError(format!("no MCP server `{name}` is running"))),
                }
            }
            Action::List => {
                if s.manifests.is_empty() {
                    return Ok("No MCP servers are installed.".to_owned());
                }
                let running = s.running.lock().expect("no panics while held");
                Ok(s.manifests
                    .iter()
                    .map(|m| {
                        let state = match (m.enabled, running.get(&m.name)) {
                            (false, _) => "off".to_owned(),
                            (true, Some(server)) => server.describe(),
                            (true, None) => "on, not started".to_owned(),
                        };
                        format!("{} ({state}): {}", m.name, m.runs)
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            Action::Status => {
                let running = s.running.lock().expect("no panics while held");
                let lines: Vec<String> = running
                    .iter()
                    .filter(|(n, _)| name.is_none_or(|only| only == n.as_str()))
                    .map(|(n, server)| {
                        format!(
                            "{n}: {}, {} tools",
                            server.describe(),
                            server.tools().tools.len()
                        )
                    })
                    .collect();
                Ok(match (lines.is_empty(), name) {
                    (true, Some(name)) => format!("No MCP server `{name}` is running."),
                    (true, None) => "No MCP servers are running.".to_owned(),
                    (false, _) => lines.join("\n"),
                })
            }
            Action::OAuthStart => {
                let name = needs_name()?;
                let url = s
                    .manifests
                    .iter()
                    .find(|m| m.name == name && m.oauth && m.http)
                    .map(|m| m.runs.clone())
                    .ok_or_else(|| {
                        ToolError(format!(
                            "no MCP server `{name}` with `oauth = true` is in tools.d"
                        ))
                    })?;
                let grants = s
                    .grants
                    .as_ref()
                    .ok_or_else(|| ToolError(GrantError::NoKey(name.to_owned()).to_string()))?;
                let link = grants
                    .link_for(name, &url, asker)
                    .await
                    .map_err(|e| ToolError(e.to_string()))?;
                Ok(format!(
                    "Open this link to authorize `{name}` (it works once, for 10 minutes): {link}"
                ))
            }
            Action::Search => {
                let query = text("query").unwrap_or_default();
                let limit = arguments.get("limit").and_then(Value::as_u64).unwrap_or(10);
                let limit = u32::try_from(limit.clamp(1, 30)).unwrap_or(10);
                let (found, why) =
                    registry::search(&s.client, &s.config, &s.env, query, limit).await;
                Ok(registry::describe(&found, &why))
            }
        }
    }
}

impl Tool for AdminTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn policy(&self) -> &ToolPolicy {
        &self.policy
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(self.run(arguments, context.user_id))
    }
}
