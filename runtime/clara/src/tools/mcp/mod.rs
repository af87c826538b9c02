//! MCP servers as tools. Each `type = "mcp"` manifest names one server; its tools appear as
//! `server__tool`. [`McpServers`] owns the running servers across generations: a rebuild
//! keeps every server whose launch did not change, starts new ones and stops removed ones.

mod admin_tools;
mod connection;
mod granted_client;
pub mod install;
mod install_error;
mod manifest_file;
pub mod oauth_discovery;
pub mod registry;
mod server_build;
mod server_grants;
pub mod source;
mod supervisor;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clara_config::ConfigSet;
use clara_config::model::common::{glob_match, is_glob};
use clara_config::model::tool::{MCP_SEPARATOR, Runner, ToolManifest};
use clara_core::engine::{Tool, ToolContext, ToolError, ToolPolicy, ToolSource};
use clara_core::llm::{BoxFuture, ToolSpec};
use serde_json::Value;

pub use connection::{Launch, LaunchGrant};
pub use server_grants::{Finished, GrantError, Grants, PendingInstall};
pub use supervisor::Server;

use super::{policy, program_env};
use crate::errors::error_chain;

/// The running servers by manifest name, shared with the tools that manage them.
type Running = Arc<Mutex<BTreeMap<String, Arc<Server>>>>;

/// The MCP servers clara runs, by manifest name.
pub struct McpServers {
    client: reqwest::Client,
    running: Running,
}

impl McpServers {
    /// No servers yet; HTTP servers are reached through `client`.
    pub fn new(client: reqwest::Client) -> McpServers {
        McpServers {
            client,
            running: Running::default(),
        }
    }

    /// Brings the running servers in line with `set` and returns the tool sources of a
    /// generation built from it. A server whose launch is unchanged keeps running; a changed
    /// one is restarted; one whose manifest is gone or disabled is stopped.
    pub fn sync(&self, set: &ConfigSet, grants: Option<&Arc<Grants>>) -> Vec<Arc<dyn ToolSource>> {
        let mut wanted = BTreeMap::new();
        for (name, loaded) in &set.tools {
            let manifest = &loaded.value;
            if !manifest.enabled || !matches!(manifest.runner, Runner::Mcp { .. }) {
                continue;
            }
            match launch(set, name, manifest, grants) {
                Ok(launch) => {
                    wanted.insert(name.clone(), (launch, manifest));
                }
                Err(why) => tracing::warn!(tool = %name, "MCP server left out: {why}"),
            }
        }
        let mut running = self.running.lock().expect("no panics while held");
        running.retain(|name, server| {
            let keep = wanted
                .get(name)
                .is_some_and(|(launch, _)| launch == server.launch());
            if !keep {
                tracing::info!(server = %name, "stopping MCP server: its manifest changed or is gone");
                server.stop();
            }
            keep
        });
        let mut sources: Vec<Arc<dyn ToolSource>> = Vec::new();
        for (name, (launch, manifest)) in wanted {
            let server = running
                .entry(name.clone())
                .or_insert_with(|| Server::start(&name, launch, self.client.clone()))
                .clone();
            sources.push(Arc::new(McpToolSource::new(name, server, manifest)));
        }
        sources
    }

    /// The admin tools that manage the servers (`mcp_install`, `mcp_restart`, …), for a
    /// generation built from `set`.
    pub fn admin_tools(&self, set: &ConfigSet, grants: Option<Arc<Grants>>) -> Arc<dyn ToolSource> {
        Arc::new(admin_tools::AdminTools::new(
            set,
            &self.client,
            self.running.clone(),
            grants,
        ))
    }

    /// The grants of `set`'s OAuth servers, kept in `store` (`None` without a secret key).
    pub fn grants(
        &self,
        set: &ConfigSet,
        store: &Arc<dyn clara_core::store::Store>,
        clock: &Arc<dyn clara_core::engine::Clock>,
    ) -> Option<Arc<Grants>> {
        Grants::new(set, store.clone(), clock.clone()).map(Arc::new)
    }

    /// A running server by manifest name.
    pub fn server(&self, name: &str) -> Option<Arc<Server>> {
        self.running
            .lock()
            .expect("no panics while held")
            .get(name)
            .cloned()
    }

    /// Restarts server `name` at once; `false` when no such server runs.
    pub fn restart(&self, name: &str) -> bool {
        let server = self.server(name);
        if let Some(server) = &server {
            server.restart();
        }
        server.is_some()
    }

    /// Every server by manifest name, with its state and how many tools it lists.
    pub fn statuses(&self) -> Vec<(String, String, usize)> {
        self.running
            .lock()
            .expect("no panics while held")
            .iter()
            .map(|(name, server)| (name.clone(), server.describe(), server.tools().tools.len()))
            .collect()
    }

    /// Waits (at most `limit`) until every server has finished its first start, so the first
    /// message sees their tools; a slow server's tools appear later on their own.
    pub async fn started(&self, limit: Duration) {
        let servers: Vec<Arc<Server>> = self
            .running
            .lock()
            .expect("no panics while held")
            .values()
            .cloned()
            .collect();
        let all = futures_util::future::join_all(servers.iter().map(|s| s.started()));
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("some MCP servers are still starting; their tools appear when ready");
        }
    }

    /// Stops every server and waits until they are gone.
    pub async fn shutdown(&self) {
        let servers: Vec<Arc<Server>> =
            std::mem::take(&mut *self.running.lock().expect("no panics while held"))
                .into_values()
                .collect();
        futures_util::future::join_all(servers.iter().map(|s| s.stopped())).await;
    }
}

/// An MCP manifest as the listings (`clara mcp list`, `mcp_list`, `/clara mcp status`, the
/// gateway's `mcp_list`) show it.
#[derive(Clone, Debug)]
pub struct McpManifest {
    /// Its name: its tools are `NAME__TOOL`.
    pub name: String,
    /// Whether it is on.
    pub enabled: bool,
    /// What it runs: the command and its arguments, or the URL.
    pub runs: String,
    /// Whether it is reached over streamable HTTP.
    pub http: bool,
    /// Whether it is authorized with OAuth (`oauth = true`).
    pub oauth: bool,
    /// Its file, relative to the root.
    pub file: String,
}

/// Every MCP manifest of `set`, by name.
pub fn manifests(set: &ConfigSet) -> Vec<McpManifest> {
    set.tools
        .iter()
        .filter_map(|(name, loaded)| {
            let Runner::Mcp {
                command,
                args,
                url,
                oauth,
                ..
            } = &loaded.value.runner
            else {
                return None;
            };
            let runs = match (command, url) {
                (Some(command), _) => format!("{command} {}", args.join(" ")).trim().to_owned(),
                (None, Some(url)) => url.clone(),
                (None, None) => String::new(),
            };
            Some(McpManifest {
                name: name.clone(),
                enabled: loaded.value.enabled,
                runs,
                http: command.is_none() && url.is_some(),
                oauth: *oauth,
                file: loaded.source.rel.clone(),
            })
        })
        .collect()
}

/// Starts the server `launch` describes once, lists its tools (name and description) within
/// `limit`, and stops it again: what an install checks before it writes a manifest. A server
/// that fails says why with the last lines it wrote to stderr (which only the operator or
/// admin asking sees: they may hold what the server was given).
pub async fn probe(
    launch: &Launch,
    client: &reqwest::Client,
    limit: Duration,
) -> Result<Vec<(String, String)>, String> {
    let opening = connection::open(launch, client)?;
    // The server and whatever it started go with its group, however the probe ends.
    let _group = crate::children::ProcessGroup::of(opening.pid);
    let said = opening.said_handle();
    let connected = match opening.handshake_within(limit).await {
        Ok(connected) => connected,
        Err(why) => {
            // A moment for the last lines of a server that died to arrive.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let said = said();
            return Err(if said.is_empty() {
                why
            } else {
                format!("{why}; it said: {said}")
            });
        }
    };
    let tools = connected
        .tools
        .iter()
        .map(|t| {
            let description = t.description.as_deref().unwrap_or_default();
            (t.name.to_string(), description.to_owned())
        })
        .collect();
    let _ = connected.service.cancel().await;
    Ok(tools)
}

/// How a manifest's server is started or reached, with its secrets filled in and, for an
/// OAuth server, its grant among `grants`.
pub fn launch(
    set: &ConfigSet,
    name: &str,
    manifest: &ToolManifest,
    grants: Option<&Arc<Grants>>,
) -> Result<Launch, String> {
    launch_in(&set.root, &set.env, name, manifest, grants)
}

/// How `manifest`'s server (named `name`) is started or reached from the root at `root`, with
/// the secrets `env` holds filled in.
pub(crate) fn launch_in(
    root: &std::path::Path,
    host: &clara_config::Env,
    name: &str,
    manifest: &ToolManifest,
    grants: Option<&Arc<Grants>>,
) -> Result<Launch, String> {
    let Runner::Mcp {
        command,
        args,
        env,
        working_dir,
        url,
        headers,
        secrets_env,
        oauth,
        ..
    } = &manifest.runner
    else {
        unreachable!("only mcp manifests are launched");
    };
    match (command, url) {
        (Some(program), _) => {
            let working_dir = root.join(working_dir.as_deref().unwrap_or("."));
            // A program given as a relative path (`.venv/bin/server`) is found from its
            // working directory, whatever clara's own is.
            let program = if program.contains('/') && std::path::Path::new(program).is_relative() {
                working_dir.join(program).to_string_lossy().into_owned()
            } else {
                program.clone()
            };
            Ok(Launch::Stdio {
                program,
                args: args.clone(),
                env: program_env(env, secrets_env, host),
                working_dir,
            })
        }
        (None, Some(url)) => {
            let mut vars = tera::Context::new();
            let secrets: BTreeMap<&str, &str> = secrets_env
                .iter()
                .filter_map(|name| Some((name.as_str(), host.get(name)?)))
                .collect();
            vars.insert("env", &secrets);
            let mut rendered = BTreeMap::new();
            for (name, template) in headers {
                let value = clara_config::template::render_once(template, &vars)
                    .map_err(|e| format!("header `{name}`: {}", error_chain(&e)))?;
                rendered.insert(name.clone(), value);
            }
            let grant = match (oauth, grants) {
                (false, _) => None,
                (true, Some(grants)) => Some(LaunchGrant {
                    grants: grants.clone(),
                    name: name.to_owned(),
                }),
                (true, None) => return Err(GrantError::NoKey(name.to_owned()).to_string()),
            };
            Ok(Launch::Http {
                url: url.clone(),
                headers: rendered,
                grant,
            })
        }
        (None, None) => Err("it has neither `command` nor `url`".to_owned()),
    }
}

/// One generation's view of a server: its manifest's filter, policy and limits over the
/// server's current tool list.
struct McpToolSource {
    name: String,
    server: Arc<Server>,
    filter: Vec<String>,
    policy: ToolPolicy,
    timeout: Duration,
    max_output_bytes: usize,
    built: Mutex<Built>,
}

/// The tools built from the server's list with this version.
struct Built {
    version: u64,
    tools: Arc<[Arc<dyn Tool>]>,
}

impl McpToolSource {
    fn new(name: String, server: Arc<Server>, manifest: &ToolManifest) -> McpToolSource {
        let Runner::Mcp { tools, .. } = &manifest.runner else {
            unreachable!("only mcp manifests have tool sources");
        };
        McpToolSource {
            name,
            server,
            filter: tools.clone(),
            policy: policy(manifest),
            timeout: clara_config::model::common::seconds(manifest.timeout),
            max_output_bytes: usize::try_from(manifest.max_output_bytes).unwrap_or(usize::MAX),
            built: Mutex::new(Built {
                version: 0,
                tools: Arc::from(Vec::new()),
            }),
        }
    }

    fn offered(&self, remote: &str) -> bool {
        self.filter.iter().any(|p| {
            if is_glob(p) {
                glob_match(p, remote)
            } else {
                p == remote
            }
        })
    }
}

impl ToolSource for McpToolSource {
    fn tools(&self) -> Arc<[Arc<dyn Tool>]> {
        let listed = self.server.tools();
        let mut built = self.built.lock().expect("no panics while held");
        if built.version == listed.version {
            return built.tools.clone();
        }
        let mut seen = std::collections::HashSet::new();
        let mut tools: Vec<Arc<dyn Tool>> = Vec::new();
        for remote in listed.tools.iter().filter(|t| self.offered(&t.name)) {
            let name = model_name(&self.name, &remote.name);
            if !seen.insert(name.clone()) {
                tracing::warn!(server = %self.name, tool = %remote.name, "left out: its name clashes with another tool of the server as `{name}`");
                continue;
            }
            let description = remote
                .description
                .as_deref()
                .or(remote.title.as_deref())
                .filter(|d| !d.trim().is_empty())
                .map_or_else(
                    || format!("`{}` from the MCP server `{}`.", remote.name, self.name),
                    str::to_owned,
                );
            tools.push(Arc::new(McpTool {
                spec: ToolSpec {
                    name,
                    description,
                    parameters: Value::Object((*remote.input_schema).clone()),
                },
                remote_name: remote.name.to_string(),
                policy: self.policy.clone(),
                server: self.server.clone(),
                timeout: self.timeout,
                max_output_bytes: self.max_output_bytes,
            }));
        }
        *built = Built {
            version: listed.version,
            tools: tools.into(),
        };
        built.tools.clone()
    }
}

/// `server__tool`, with characters a model API refuses in a tool name replaced by `_`, and at
/// most 64 characters.
fn model_name(server: &str, tool: &str) -> String {
    format!("{server}{MCP_SEPARATOR}{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// One tool of an MCP server.
struct McpTool {
    spec: ToolSpec,
    remote_name: String,
    policy: ToolPolicy,
    server: Arc<Server>,
    timeout: Duration,
    max_output_bytes: usize,
}

impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn policy(&self) -> &ToolPolicy {
        &self.policy
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        _context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let text = self
                .server
                .call(&self.remote_name, arguments, self.timeout)
                .await?;
            Ok(capped(text, self.max_output_bytes))
        })
    }
}

/// `text` cut to at most `cap` bytes (on a character boundary), with a note when cut.
fn capped(mut text: String, cap: usize) -> String {
    if text.len() <= cap {
        return text;
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!("\n[result cut at {cap} bytes]"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_keep_to_what_model_apis_accept() {
        assert_eq!(model_name("everything", "get-sum"), "everything__get-sum");
        assert_eq!(model_name("fs", "read.file/v2"), "fs__read_file_v2");
        assert_eq!(model_name("s", &"x".repeat(100)).len(), 64);
    }

    #[test]
    fn results_are_cut_on_a_character_boundary() {
        assert_eq!(capped("short".to_owned(), 10), "short");
        assert_eq!(capped("héllo".to_owned(), 2), "h\n[result cut at 2 bytes]");
    }
}
