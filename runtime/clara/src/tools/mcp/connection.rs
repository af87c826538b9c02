//! One connection to an MCP server with the official `rmcp` client, over stdio (the server is
//! our child, in its own process group) or streamable HTTP (with its OAuth grant when it has
//! one): the handshake, listing and calling tools, and a signal when the server says its tool
//! list changed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use clara_core::engine::ToolError;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{
    CallToolRequestParams, ClientConfig, ContentBlock, Implementation, Tool as RemoteTool,
};
use rmcp::service::{NotificationContext, Peer, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::TokioChildProcess;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::process::Command;
use tokio::sync::Notify;

use super::granted_client::{GrantUse, GrantedClient};
use super::server_grants::Grants;

/// How many of a starting server's last stderr lines explain why it failed.
const STDERR_KEPT: usize = 5;

/// How long a server may take to start and answer `initialize` and `tools/list`.
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything that decides which server process or endpoint a manifest means. Two manifests
/// with equal launches share one running server, so a reload that leaves it equal keeps the
/// server running.
#[derive(Clone, PartialEq, Eq)]
pub enum Launch {
    /// A child process speaking MCP on its stdin and stdout.
    Stdio {
        /// The program (e.g. `npx` or `node`).
        program: String,
        /// Its arguments.
        args: Vec<String>,
        /// Its whole environment.
        env: BTreeMap<String, String>,
        /// Where it runs.
        working_dir: PathBuf,
    },
    /// A streamable-HTTP endpoint.
    Http {
        /// The endpoint.
        url: String,
        /// Headers sent with every request, secrets already filled in.
        headers: BTreeMap<String, String>,
        /// The OAuth grant its requests carry (`oauth = true`).
        grant: Option<LaunchGrant>,
    },
}

/// The grant a server's requests carry: the manifest's name among the root's grants. Equal
/// while the name and the key that seals it stay the same.
#[derive(Clone)]
pub struct LaunchGrant {
    /// The grants.
    pub grants: Arc<Grants>,
    /// The manifest's name.
    pub name: String,
}

impl PartialEq for LaunchGrant {
    fn eq(&self, other: &LaunchGrant) -> bool {
        self.name == other.name && self.grants.key_id() == other.grants.key_id()
    }
}

impl Eq for LaunchGrant {}

impl Launch {
    /// What the logs may say about it (never the environment or headers: they hold secrets).
    pub fn describe(&self) -> String {
        match self {
            Launch::Stdio { program, args, .. } => format!("`{program} {}`", args.join(" ")),
            Launch::Http { url, .. } => format!("<{url}>"),
        }
    }
}

/// Tells the supervisor that the server announced a new tool list.
pub(super) struct Handler {
    tools_changed: Arc<Notify>,
}

impl ClientHandler for Handler {
    fn on_tool_list_changed(
        &self,
        _context: NotificationContext<RoleClient>,
    ) -> impl Future<Output = ()> + Send + '_ {
        self.tools_changed.notify_one();
        std::future::ready(())
    }

    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info = Implementation::new("clara", env!("CARGO_PKG_VERSION"));
        info
    }
}

/// A server that has been started (stdio) or addressed (HTTP) but has not shaken hands yet.
pub(super) struct Opening {
    transport: Transport,
    /// The child's process id, which leads its process group.
    pub pid: Option<u32>,
    /// The last lines the child wrote to stderr: why a server that dies at start died.
    said: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
}

enum Transport {
    Stdio(TokioChildProcess),
    Http(StreamableHttpClientTransport<GrantedClient>),
}

/// A server after the handshake.
pub(super) struct Connected {
    /// The running session; it ends when the server goes away.
    pub service: RunningService<RoleClient, Handler>,
    /// Wakes when the server says its tool list changed.
    pub tools_changed: Arc<Notify>,
    /// The tools it offered.
    pub tools: Vec<RemoteTool>,
}

/// Starts the child process (stdio) or prepares the HTTP transport.
// A marked unsafe site: the server is tied to clara's life with prctl in pre_exec.
#[allow(unsafe_code)]
pub(super) fn open(launch: &Launch, client: &reqwest::Client) -> Result<Opening, String> {
    match launch {
        Launch::Stdio {
            program,
            args,
            env,
            working_dir,
        } => {
            let mut command = Command::new(program);
            command
                .args(args)
                .env_clear()
                .envs(env)
                .current_dir(working_dir);
            #[cfg(unix)]
            command.process_group(0);
            #[cfg(target_os = "linux")]
            // SAFETY: prctl is async-signal-safe. If clara dies without stopping the server
            // (SIGKILL, a crash) the kernel kills it rather than leave it running; the tokio
            // worker thread that spawns it lives as long as the runtime.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let (transport, stderr) = TokioChildProcess::builder(command)
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start `{program}`: {e}"))?;
            let pid = transport.id();
            let said = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
            if let Some(stderr) = stderr {
                // The server's own log lines go to ours, at debug level, not to the terminal;
                // the last few are kept to explain a failed start.
                let kept = said.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncBufReadExt;
                    let mut lines = tokio::io::BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::debug!(target: "mcp", "{line}");
                        let mut kept = kept.lock().expect("no panics while held");
                        if kept.len() == STDERR_KEPT {
                            kept.pop_front();
                        }
                        kept.push_back(line.chars().take(300).collect());
                    }
                });
            }
            Ok(Opening {
                transport: Transport::Stdio(transport),
                pid,
                said,
            })
        }
        Launch::Http {
            url,
            headers,
            grant,
        } => {
            let mut custom = HashMap::new();
            for (name, value) in headers {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("`{name}` is not a valid header name"))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| format!("the value of header `{name}` is not valid"))?;
                custom.insert(name, value);
            }
            let config =
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom);
            let grant = grant
                .as_ref()
                .map(|g| Arc::new(GrantUse::new(g.grants.clone(), &g.name, url)));
            Ok(Opening {
                transport: Transport::Http(StreamableHttpClientTransport::with_client(
                    GrantedClient::new(client.clone(), grant),
                    config,
                )),
                pid: None,
                said: Arc::default(),
            })
        }
    }
}

impl Opening {
    /// Completes the MCP handshake and lists the tools, within [`START_TIMEOUT`].
    pub async fn handshake(self) -> Result<Connected, String> {
        self.handshake_within(START_TIMEOUT).await
    }

    /// What reads the last lines the child wrote to stderr, one after another, even after
    /// the handshake took this opening.
    pub fn said_handle(&self) -> impl Fn() -> String + use<> {
        let said = self.said.clone();
        move || {
            let said = said.lock().expect("no panics while held");
            said.iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" / ")
        }
    }

    /// Completes the MCP handshake and lists the tools, within `limit`.
    pub async fn handshake_within(self, limit: Duration) -> Result<Connected, String> {
        let tools_changed = Arc::new(Notify::new());
        let handler = Handler {
            tools_changed: tools_changed.clone(),
        };
        let started = async {
            let service = match self.transport {
                Transport::Stdio(t) => handler.serve(t).await,
                Transport::Http(t) => handler.serve(t).await,
            }
            .map_err(|e| e.to_string())?;
            let tools = list_tools(service.peer()).await?;
            Ok::<_, String>(Connected {
                service,
                tools_changed,
                tools,
            })
        };
        match tokio::time::timeout(limit, started).await {
            Ok(Ok(connected)) => Ok(connected),
            Ok(Err(why)) => Err(format!("the handshake failed: {why}")),
            Err(_) => Err(format!("no answer to the handshake within {limit:?}")),
        }
    }
}

/// Every tool the server offers now (all pages).
pub(super) async fn list_tools(peer: &Peer<RoleClient>) -> Result<Vec<RemoteTool>, String> {
    peer.list_all_tools()
        .await
        .map_err(|e| format!("cannot list tools: {e}"))
}

/// Calls one tool. A result the server marks as an error is a [`ToolError`] the model reads,
/// like a failure to reach the server.
pub(super) async fn call(
    peer: &Peer<RoleClient>,
    tool: &str,
    arguments: &Value,
    timeout: Duration,
) -> Result<String, ToolError> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Some(map) = arguments.as_object() {
        params = params.with_arguments(map.clone());
    }
    let result = tokio::time::timeout(timeout, peer.call_tool(params))
        .await
        .map_err(|_| ToolError(format!("the MCP server did not answer within {timeout:?}")))?
        .map_err(|e| ToolError(format!("the MCP server failed: {e}")))?;
    let mut parts: Vec<String> = result
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(text) => text.text.clone(),
            ContentBlock::Image(image) => format!("[image: {}]", image.mime_type),
            ContentBlock::Audio(audio) => format!("[audio: {}]", audio.mime_type),
            ContentBlock::Resource(_) => "[embedded resource]".to_owned(),
            ContentBlock::ResourceLink(link) => format!("[resource: {}]", link.uri),
            _ => "[content of a kind clara does not show]".to_owned(),
        })
        .collect();
    if parts.is_empty()
        && let Some(structured) = &result.structured_content
    {
        parts.push(structured.to_string());
    }
    let text = parts.join("\n");
    match (result.is_error == Some(true), text.is_empty()) {
        (true, true) => Err(ToolError("the tool failed without saying why".to_owned())),
        (true, false) => Err(ToolError(text)),
        (false, true) => Ok("The tool ran and returned nothing.".to_owned()),
        (false, false) => Ok(text),
    }
}
