//! A connection to one MCP server over stdio, with the official `rmcp` client: start the
//! server as a child in its own process group, list its tools, call them, and stop it so that
//! nothing it started is left running (servers launched through `npx` are a grandchild).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use clara_core::engine::ToolError;
use rmcp::model::{CallToolRequestParams, ContentBlock, Tool as McpTool};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::process::Command;

use super::kill_process_group;

/// How long a server may take to start and answer `initialize` and `tools/list`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running MCP server and the tools it offered when it started.
pub struct McpConnection {
    client: RunningService<RoleClient, ()>,
    pid: Option<u32>,
    tools: Vec<McpTool>,
}

/// How to start a stdio server.
pub struct StdioServer<'a> {
    /// The program (e.g. `npx` or `node`).
    pub program: &'a str,
    /// Its arguments.
    pub args: &'a [String],
    /// Its whole environment (the caller decides what the server may see).
    pub env: &'a BTreeMap<String, String>,
    /// Where it runs.
    pub working_dir: &'a Path,
}

impl McpConnection {
    /// Starts the server, completes the MCP handshake and lists its tools.
    pub async fn start(server: StdioServer<'_>) -> Result<McpConnection, String> {
        let mut command = Command::new(server.program);
        command
            .args(server.args)
            .env_clear()
            .envs(server.env)
            .current_dir(server.working_dir);
        #[cfg(unix)]
        command.process_group(0);
        let (transport, stderr) = TokioChildProcess::builder(command)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", server.program))?;
        let pid = transport.id();
        if let Some(stderr) = stderr {
            // The server's own log lines go to ours, at debug level, instead of the terminal.
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(target: "mcp", "{line}");
                }
            });
        }
        let started = async {
            let client = ().serve(transport).await.map_err(|e| e.to_string())?;
            let tools = client
                .peer()
                .list_all_tools()
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((client, tools))
        };
        match tokio::time::timeout(START_TIMEOUT, started).await {
            Ok(Ok((client, tools))) => Ok(McpConnection { client, pid, tools }),
            Ok(Err(why)) => {
                kill_process_group(pid);
                Err(format!("the MCP server did not start: {why}"))
            }
            Err(_) => {
                kill_process_group(pid);
                Err(format!(
                    "the MCP server did not start within {START_TIMEOUT:?}"
                ))
            }
        }
    }

    /// The tools the server offered.
    pub fn tools(&self) -> &[McpTool] {
        &self.tools
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Calls one of the server's tools. A result the server marks as an error, or a failure
    /// to reach the server, is a [`ToolError`] the model reads.
    pub async fn call(
        &self,
        tool: &str,
        arguments: &Value,
        timeout: Duration,
    ) -> Result<String, ToolError> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Some(map) = arguments.as_object() {
            params = params.with_arguments(map.clone());
        }
        let result = tokio::time::timeout(timeout, self.client.peer().call_tool(params))
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
        if result.is_error == Some(true) {
            Err(ToolError(text))
        } else {
            Ok(text)
        }
    }

    /// Stops the server: closes the session, then kills whatever is left of its process
    /// group.
    pub async fn stop(self) {
        let pid = self.pid;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.cancel()).await;
        kill_process_group(pid);
    }
}
