//! MCP servers as tools, against real servers: `@modelcontextprotocol/server-everything` from
//! npm (over stdio and streamable HTTP), and a small server on the official SDK whose tool list
//! grows. `.ci/run` installs both; without them the tests say so and pass locally, and with
//! `CI` set a missing server fails them.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clara::tools::mcp::McpServers;
use clara_config::{ConfigSet, Env};
use clara_core::engine::{ManualClock, Tool, ToolContext, ToolSource};
use clara_core::store::Store;
use serde_json::{Value, json};

fn growing_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/growing_server.mjs")
}

/// A root with the shipped files and `manifests` as `tools.d/NAME.yaml`.
fn root_with(manifests: &[(&str, String)]) -> tempfile::TempDir {
    let root = support::shipped_root();
    for (name, text) in manifests {
        std::fs::write(root.path().join(format!("tools.d/{name}.yaml")), text).unwrap();
    }
    root
}

fn stdio_manifest(script: &Path, extra: &str) -> String {
    format!(
        "description: test server\ntimeout: 10\n{extra}\nrunner:\n  type: mcp\n  command: node\n  args: [\"{}\", \"stdio\"]\n",
        script.display()
    )
}

fn load(root: &Path, env: &[(&str, &str)]) -> ConfigSet {
    let env = Env::from_vars(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    clara_config::load_with_env(root, env).unwrap_or_else(|problems| panic!("{problems:?}"))
}

/// Every tool the sources offer now, by name.
fn tools(sources: &[Arc<dyn ToolSource>]) -> Vec<Arc<dyn Tool>> {
    sources.iter().flat_map(|s| s.tools().to_vec()).collect()
}

fn names(sources: &[Arc<dyn ToolSource>]) -> Vec<String> {
    tools(sources)
        .iter()
        .map(|t| t.spec().name.clone())
        .collect()
}

fn find(sources: &[Arc<dyn ToolSource>], name: &str) -> Arc<dyn Tool> {
    tools(sources)
        .into_iter()
        .find(|t| t.spec().name == name)
        .unwrap_or_else(|| panic!("no tool `{name}` in {:?}", names(sources)))
}

/// Calls a tool the way the tool loop does.
async fn call(set: &ConfigSet, tool: &dyn Tool, arguments: Value) -> Result<String, String> {
    let store: Arc<dyn Store> = clara::store::open_default(set, clara::store::Access::ReadWrite)
        .await
        .unwrap();
    let clock = ManualClock::new(0);
    let context = ToolContext {
        user_id: "u",
        store: store.as_ref(),
        embedder: None,
        clock: &clock,
        search: (10, 60),
        files: None,
        place: None,
    };
    tool.call(&arguments, &context).await.map_err(|e| e.0)
}

/// Waits until `check` holds, failing after ten seconds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the process exists at all (a zombie counts: it was never reaped).
fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn servers() -> McpServers {
    McpServers::new(clara::tools::http_client())
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn a_servers_tools_are_offered_as_server_tool_and_called() {
    let script = support::everything_server();
    let manifest = format!(
        "description: test server\ntimeout: 10\nlabel: Asking\nrunner:\n  type: mcp\n  command: node\n  args: [\"{}\", stdio]\n  env: {{GREETING: hello}}\n  secrets_env: [SHARED]\n  tools: [echo, \"get-*\"]\n",
        script.display()
    );
    let root = root_with(&[("everything", manifest)]);
    let set = load(root.path(), &[("SHARED", "s3cret"), ("PRIVATE", "hidden")]);
    let mcp = servers();
    let sources = mcp.sync(&set, None);
    mcp.started(Duration::from_secs(30)).await;
    let offered = names(&sources);
    assert!(
        offered.contains(&"everything__echo".to_owned())
            && offered.contains(&"everything__get-sum".to_owned())
            && offered.contains(&"everything__get-env".to_owned()),
        "{offered:?}"
    );
    assert!(
        !offered.iter().any(|n| n.contains("toggle")),
        "only the manifest's names and globs are offered: {offered:?}"
    );
    let echo = find(&sources, "everything__echo");
    assert_eq!(echo.policy().label.as_deref(), Some("Asking"));
    assert_eq!(echo.spec().parameters["type"], "object");
    assert_eq!(
        call(&set, echo.as_ref(), json!({"message": "hi from clara"})).await,
        Ok("Echo: hi from clara".to_owned())
    );
    let sum = find(&sources, "everything__get-sum");
    assert_eq!(
        call(&set, sum.as_ref(), json!({"a": 2, "b": 40})).await,
        Ok("The sum of 2 and 40 is 42.".to_owned())
    );

    // The server sees PATH, the manifest's env and the named secret, nothing else of ours.
    let env = find(&sources, "everything__get-env");
    let seen: Value =
        serde_json::from_str(&call(&set, env.as_ref(), json!({})).await.unwrap()).unwrap();
    assert_eq!(seen["GREETING"], "hello");
    assert_eq!(seen["SHARED"], "s3cret");
    assert!(seen.get("PRIVATE").is_none(), "{seen}");

    // A tool the server does not have is the server's own error, given to the model.
    let server = mcp.server("everything").unwrap();
    let unknown = server
        .call("no-such-tool", &json!({}), Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(unknown.0.contains("not found"), "{unknown}");
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
#[allow(unsafe_code)] // the SAFETY comments below say why
async fn a_server_that_dies_is_restarted_and_its_tools_work_again() {
    let script = support::everything_server();
    let root = root_with(&[("everything", stdio_manifest(&script, ""))]);
    let set = load(root.path(), &[]);
    let mcp = servers();
    let sources = mcp.sync(&set, None);
    mcp.started(Duration::from_secs(30)).await;
    let server = mcp.server("everything").unwrap();
    let first = server.pid().expect("running");

    // SAFETY: signals only the server's own process group.
    unsafe {
        libc::killpg(first as i32, libc::SIGKILL);
    }
    // Once clara has seen it die, a call waits for the restart (within its timeout). (A
    // call that meets the death itself fails: the server may have acted before it died.)
    eventually("clara sees the server die", || server.pid() != Some(first)).await;
    let echo = find(&sources, "everything__echo");
    assert_eq!(
        call(&set, echo.as_ref(), json!({"message": "back"})).await,
        Ok("Echo: back".to_owned())
    );
    let second = server.pid().expect("running again");
    assert_ne!(first, second);
    eventually("the dead server is reaped", || !exists(first)).await;
    mcp.shutdown().await;
    eventually("the restarted server is gone after shutdown", || {
        !exists(second)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn unchanged_servers_are_kept_and_changed_or_removed_ones_stopped() {
    let script = support::everything_server();
    let root = root_with(&[("everything", stdio_manifest(&script, ""))]);
    let manifest = root.path().join("tools.d/everything.yaml");
    let mcp = servers();
    let _ = mcp.sync(&load(root.path(), &[]), None);
    mcp.started(Duration::from_secs(30)).await;
    let first = mcp.server("everything").unwrap().pid().unwrap();

    // A reload with the same launch (only the label changed) keeps the running server.
    support::edit(&manifest, "timeout: 10", "timeout: 10\nlabel: Renamed");
    let sources = mcp.sync(&load(root.path(), &[]), None);
    assert_eq!(mcp.server("everything").unwrap().pid(), Some(first));
    assert_eq!(
        find(&sources, "everything__echo").policy().label.as_deref(),
        Some("Renamed")
    );

    // A changed launch replaces it.
    support::edit(&manifest, "type: mcp", "type: mcp\n  env: {MODE: two}");
    let _ = mcp.sync(&load(root.path(), &[]), None);
    mcp.started(Duration::from_secs(30)).await;
    let second = mcp.server("everything").unwrap().pid().unwrap();
    assert_ne!(first, second);
    eventually("the replaced server is gone", || !exists(first)).await;

    // Removing the manifest stops the server and leaves no process, not even a zombie.
    let old = mcp.sync(&load(root.path(), &[]), None);
    std::fs::remove_file(&manifest).unwrap();
    let remaining = mcp.sync(&load(root.path(), &[]), None);
    assert!(remaining.is_empty());
    assert!(mcp.server("everything").is_none());
    eventually("the removed server is gone", || !exists(second)).await;
    // A turn still holding the old generation gets an honest error.
    let echo = find(&old, "everything__echo");
    let error = call(
        &load(root.path(), &[]),
        echo.as_ref(),
        json!({"message": "x"}),
    )
    .await
    .unwrap_err();
    assert!(error.contains("stopped"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn the_tool_list_follows_the_servers_announcements() {
    support::everything_server(); // the SDK comes with it
    let root = root_with(&[("growing", stdio_manifest(&growing_server(), ""))]);
    let set = load(root.path(), &[]);
    let mcp = servers();
    let sources = mcp.sync(&set, None);
    mcp.started(Duration::from_secs(30)).await;
    assert_eq!(names(&sources), ["growing__grow"]);
    let grow = find(&sources, "growing__grow");
    assert_eq!(
        call(&set, grow.as_ref(), json!({})).await,
        Ok("growing".to_owned())
    );
    eventually("the new tool is listed", || {
        names(&sources).contains(&"growing__grown".to_owned())
    })
    .await;
    let grown = find(&sources, "growing__grown");
    assert_eq!(
        call(&set, grown.as_ref(), json!({})).await,
        Ok("I grew".to_owned())
    );
    mcp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn a_streamable_http_server_is_reached_by_url() {
    let (mut http_server, url) = support::everything_over_http().await;
    let manifest = format!(
        "description: over HTTP\ntimeout: 10\nrunner:\n  type: mcp\n  url: {url}\n  headers: {{X-Token: \"{{{{ env.TOKEN }}}}\"}}\n  secrets_env: [TOKEN]\n  tools: [echo]\n"
    );
    let root = root_with(&[("remote", manifest)]);
    let set = load(root.path(), &[("TOKEN", "t0ken")]);
    let mcp = servers();
    let sources = mcp.sync(&set, None);
    mcp.started(Duration::from_secs(30)).await;
    assert_eq!(names(&sources), ["remote__echo"]);
    let echo = find(&sources, "remote__echo");
    assert_eq!(
        call(&set, echo.as_ref(), json!({"message": "over http"})).await,
        Ok("Echo: over http".to_owned())
    );
    mcp.shutdown().await;
    http_server.kill().await.unwrap();
}
