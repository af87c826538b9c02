//! The MCP connection against a real server: `@modelcontextprotocol/server-everything` from
//! npm, which `.ci/run` installs. Without it the tests say so and pass locally; with `CI` set
//! a missing server fails them.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clara::tools::mcp::{McpConnection, StdioServer};
use serde_json::json;

/// The server's entry point, or `None` (after saying why) when it is not installed.
fn everything_server() -> Option<PathBuf> {
    let path = support::repo_root()
        .join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "server-everything is required in CI (.ci/run installs it)"
    );
    eprintln!("skipped: npm install @modelcontextprotocol/server-everything to run this test");
    None
}

async fn start(script: &Path) -> McpConnection {
    let env = BTreeMap::from([("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())]);
    McpConnection::start(StdioServer {
        program: "node",
        args: &[script.display().to_string(), "stdio".to_owned()],
        env: &env,
        working_dir: &std::env::temp_dir(),
    })
    .await
    .expect("the server starts")
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|status| !status.contains("State:\tZ"))
}

#[tokio::test]
async fn lists_and_calls_tools_and_reports_errors() {
    let Some(script) = everything_server() else {
        return;
    };
    let server = start(&script).await;
    let names: Vec<&str> = server.tools().iter().map(|t| t.name.as_ref()).collect();
    assert!(
        names.contains(&"echo") && names.contains(&"get-sum"),
        "{names:?}"
    );
    let limit = Duration::from_secs(10);
    assert_eq!(
        server
            .call("echo", &json!({"message": "hi from clara"}), limit)
            .await
            .unwrap(),
        "Echo: hi from clara"
    );
    assert_eq!(
        server
            .call("get-sum", &json!({"a": 2, "b": 40}), limit)
            .await
            .unwrap(),
        "The sum of 2 and 40 is 42."
    );
    let error = server
        .call("no-such-tool", &json!({}), limit)
        .await
        .unwrap_err();
    assert!(error.0.contains("not found"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn stopping_leaves_no_process_behind() {
    let Some(script) = everything_server() else {
        return;
    };
    let server = start(&script).await;
    let pid = server.pid().expect("a running child");
    assert!(alive(pid));
    server.stop().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server outlived stop()"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
