//! Tool runners for `tools.d` manifests, and the fixed tool set of a generation: the built-in
//! memory and file tools plus every enabled command and HTTP manifest. MCP servers, whose
//! tools come and go, are run by [`mcp::McpServers`].

pub mod command;
pub mod files;
pub mod http;
pub mod mcp;

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::model::tool::{HttpAuth, Runner, ToolManifest};
use clara_config::{ConfigSet, Env};
use clara_core::engine::{Tool, ToolPolicy, memory_tools};
use clara_core::llm::ToolSpec;
use serde_json::{Value, json};

use command::{CommandSpec, CommandTool};
use files::FileStore;

use crate::connections::{self, Connector};
use http::{HttpSpec, HttpTool, UserAuth};

/// The fixed tools of a generation (everything but MCP servers), with what each manifest tool
/// was built from so the next generation can keep the unchanged ones.
pub struct ToolSet {
    /// Every tool, in order: memory, files, then manifests by name.
    pub tools: Vec<Arc<dyn Tool>>,
    manifests: BTreeMap<String, BuiltTool>,
}

struct BuiltTool {
    manifest: ToolManifest,
    secrets: Vec<Option<String>>,
    tool: Arc<dyn Tool>,
}

impl ToolSet {
    /// The tool built from the manifest `name`.
    pub fn manifest_tool(&self, name: &str) -> Option<Arc<dyn Tool>> {
        self.manifests.get(name).map(|b| b.tool.clone())
    }
}

/// Builds the fixed tools of `set`, keeping each manifest tool of `previous` whose manifest
/// and secrets are unchanged. HTTP tools share `client`. A manifest that cannot be built is
/// left out with a warning.
pub fn build(set: &ConfigSet, client: &reqwest::Client, previous: Option<&ToolSet>) -> ToolSet {
    // The memory tools only where memory is on: with it off nothing may be remembered.
    let mut tools = if set.clara.value.memory.enabled {
        memory_tools()
    } else {
        Vec::new()
    };
    tools.extend(file_store(set).tools());
    let connector = Arc::new(Connector::new(set, client.clone()));
    tools.extend(connections::tools(&connector));
    if set.clara.value.email.enabled {
        let presets = set
            .email_presets
            .iter()
            .map(|(name, preset)| (name.clone(), preset.value.clone()))
            .collect();
        tools.extend(crate::email::account_tools::account_tools(
            &connector,
            &set.clara.value.email,
        ));
        tools.extend(crate::email::rule_tools::rule_tools(presets));
    }
    let mut manifests = BTreeMap::new();
    for (name, loaded) in &set.tools {
        let manifest = &loaded.value;
        if !manifest.enabled {
            continue;
        }
        // A tool that calls as the user waits until its connection is set up, or the
        // operator's token it falls back on is.
        if let Runner::Http {
            auth: Some(auth), ..
        } = &manifest.runner
            && !connector.is_available(&auth.connection)
            && fallback_token(auth, &set.env).is_none()
        {
            continue;
        }
        let secrets = manifest_secrets(manifest, &set.env);
        let kept = previous
            .and_then(|p| p.manifests.get(name))
            .filter(|old| old.manifest == *manifest && old.secrets == secrets)
            .filter(|_| !holds_config(&manifest.runner))
            .map(|old| old.tool.clone());
        let built = match kept {
            Some(tool) => Ok(Some(tool)),
            None => tool(set, client, &connector, name, manifest),
        };
        match built {
            Ok(Some(tool)) => {
                tools.push(tool.clone());
                let manifest = manifest.clone();
                manifests.insert(
                    name.clone(),
                    BuiltTool {
                        manifest,
                        secrets,
                        tool,
                    },
                );
            }
            Ok(None) => {}
            Err(why) => tracing::warn!(tool = %name, "tool left out: {why}"),
        }
    }
    ToolSet { tools, manifests }
}

/// Whether a runner's tool holds parts of the configuration beside its manifest (the
/// connections, the file folders), so a reload rebuilds it rather than keeping it.
fn holds_config(runner: &Runner) -> bool {
    match runner {
        Runner::Http { auth, body, .. } => auth.is_some() || body.sends_file(),
        Runner::Command { user_files, .. } => *user_files,
        Runner::Mcp { .. } => false,
    }
}

/// The users' file folders, as `[files]` says.
fn file_store(set: &ConfigSet) -> FileStore {
    let files = &set.clara.value.files;
    FileStore::new(set.root.join(&files.dir), files.max_file_bytes)
}

/// The operator's token an HTTP tool sends for users who have not connected, when set.
fn fallback_token(auth: &HttpAuth, env: &Env) -> Option<String> {
    let name = auth.fallback_env.as_deref()?;
    env.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The values of the host variables a manifest reads.
fn manifest_secrets(manifest: &ToolManifest, env: &Env) -> Vec<Option<String>> {
    let names = match &manifest.runner {
        Runner::Command { secrets_env, .. }
        | Runner::Http { secrets_env, .. }
        | Runner::Mcp { secrets_env, .. } => secrets_env,
    };
    names
        .iter()
        .map(|n| env.get(n).map(str::to_owned))
        .collect()
}

/// A client for HTTP tools, MCP servers and webhooks. Building one loads the TLS roots, which
/// costs more than a whole reload, so a running clara builds one and shares it.
pub fn http_client() -> reqwest::Client {
    crate::llm::http::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("clara/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with only a user agent always builds")
}

fn tool(
    set: &ConfigSet,
    client: &reqwest::Client,
    connector: &Arc<Connector>,
    name: &str,
    manifest: &ToolManifest,
) -> Result<Option<Arc<dyn Tool>>, String> {
    let spec = ToolSpec {
        name: name.to_owned(),
        description: manifest.description.clone().unwrap_or_default(),
        parameters: manifest.parameters.clone().map_or_else(
            || json!({ "type": "object", "properties": {} }),
            Value::Object,
        ),
    };
    let policy = policy(manifest);
    let timeout = clara_config::model::common::seconds(manifest.timeout);
    let max_output_bytes = usize::try_from(manifest.max_output_bytes).unwrap_or(usize::MAX);
    match &manifest.runner {
        Runner::Command {
            program,
            args,
            stdin,
            shell,
            working_dir,
            env,
            secrets_env,
            user_files,
        } => {
            let tool = CommandTool::new(CommandSpec {
                spec,
                policy,
                program,
                args,
                stdin: *stdin,
                shell: *shell,
                working_dir: set.root.join(working_dir.as_deref().unwrap_or(".")),
                env,
                secrets_env,
                host: &set.env,
                timeout,
                max_output_bytes,
                user_files: user_files.then(|| file_store(set)),
            })?;
            Ok(Some(Arc::new(tool)))
        }
        Runner::Http {
            method,
            url,
            headers,
            query,
            body,
            extract,
            secrets_env,
            auth,
        } => {
            let tool = HttpTool::new(HttpSpec {
                spec,
                policy,
                client: client.clone(),
                method: *method,
                url,
                headers,
                query,
                body: *body,
                extract: extract.as_deref(),
                secrets_env,
                host: &set.env,
                auth: auth.as_ref().map(|auth| UserAuth {
                    connector: connector.clone(),
                    connection: auth.connection.clone(),
                    fallback: fallback_token(auth, &set.env),
                }),
                files: body.sends_file().then(|| file_store(set)),
                timeout,
                max_output_bytes,
            })?;
            Ok(Some(Arc::new(tool)))
        }
        Runner::Mcp { .. } => Ok(None),
    }
}

/// Who may use a manifest's tools, and how they are shown.
fn policy(manifest: &ToolManifest) -> ToolPolicy {
    ToolPolicy {
        admin_only: manifest.admin_only,
        allowed_users: manifest.allowed_users.clone(),
        label: manifest.label.clone(),
        emoji: manifest.emoji.clone(),
        approval: manifest.approval,
        approvers: manifest.approvers.clone(),
        approval_timeout_secs: manifest.approval_timeout_secs,
    }
}

/// The whole environment of a program clara starts (a command tool or an MCP server): `PATH`,
/// the manifest's `env`, and the host variables `secrets_env` names — nothing else of ours.
pub(crate) fn program_env(
    env: &BTreeMap<String, String>,
    secrets_env: &[String],
    host: &Env,
) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    // The environment clara read (a `.env` may set it), else the process's own.
    let path = host
        .get("PATH")
        .map(str::to_owned)
        .or_else(|| std::env::var("PATH").ok());
    if let Some(path) = path {
        all.insert("PATH".to_owned(), path);
    }
    all.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
    for name in secrets_env {
        if let Some(value) = host.get(name) {
            all.insert(name.clone(), value.to_owned());
        }
    }
    all
}
