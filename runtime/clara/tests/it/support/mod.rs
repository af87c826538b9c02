//! Helpers shared by the integration tests: where things are, copying roots, and running the
//! real `clara` binary with nothing from this shell's environment but `PATH`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod clara_run;
pub mod console_site;
pub mod dovecot;
pub mod fake_discord;
pub mod fake_gmail;
pub mod fake_llm;
pub mod http_server;
pub mod mcp_hub;
pub mod moto;
pub mod oauth_mcp;
pub mod on_discord;
pub mod otlp_collector;

/// Starts clara as `clara run` does (adapters on; no scheduler or memory worker, no file
/// watching, memory off, the status endpoint on a free port), its default provider the fake
/// `model`, with `vars` (`CLARA_…` overrides and secrets) on top.
pub async fn start_run(
    root: &Path,
    model: &fake_llm::FakeLlm,
    vars: &[(&str, &str)],
) -> Result<clara::app::App, clara::app::StartError> {
    let base_url = model.base_url();
    let mut all: Vec<(&str, &str)> = vec![
        ("OPENROUTER_API_KEY", "test-key"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", &base_url),
        ("CLARA_STATUS__BIND", "127.0.0.1:0"),
        ("CLARA_MEMORY__ENABLED", "false"),
        ("CLARA_RUNTIME__WATCH", "false"),
    ];
    all.extend_from_slice(vars);
    let features = clara::app::Features {
        scheduler: false,
        jobs: false,
        adapters: true,
        connections: true,
    };
    clara::app::App::start(
        loader(root, &all),
        std::sync::Arc::new(clara_core::engine::SystemClock),
        features,
    )
    .await
}

/// The repository root (the shipped clara root).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The folder of `clara validate` fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate")
}

/// Copies `from` over `to`, recursively. An empty file named `NAME.remove` deletes `NAME`.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else if let Some(name) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".remove"))
        {
            fs::remove_file(to.join(name)).unwrap_or_else(|e| panic!("cannot remove {name}: {e}"));
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A private copy of the shipped root: its config files and folders, without data.
pub fn shipped_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo_root();
    fs::copy(repo.join("clara.toml"), dir.path().join("clara.toml")).unwrap();
    for folder in [
        "personas",
        "pipelines",
        "hooks",
        "tools.d",
        "email",
        "tests",
        "schema",
    ] {
        fs::create_dir_all(dir.path().join(folder)).unwrap();
        copy_tree(&repo.join(folder), &dir.path().join(folder));
    }
    dir
}

/// Replaces `from` with `to` in the file at `path`.
pub fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    fs::write(path, text.replace(from, to)).unwrap();
}

/// Adds `keys` (TOML lines) to the tool loop of `root`'s shipped chat pipeline.
pub fn tool_loop_keys(root: &Path, keys: &str) {
    let step = "type = \"tool_loop\"\n";
    edit(
        &root.join("pipelines/chat.toml"),
        step,
        &format!("{step}{keys}\n"),
    );
}

/// A temporary copy of the valid base root the fixtures build on.
pub fn base_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixtures().join("base"), dir.path());
    dir
}

/// A loader for `root` against exactly `vars` (no process environment, no `.env`), as a
/// running clara would reload it.
pub fn loader(root: &Path, vars: &[(&str, &str)]) -> clara::live::Loader {
    let env =
        clara_config::Env::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let root = root.to_owned();
    Box::new(move || clara_config::load_with_env(&root, env.clone()))
}

/// A direct message from `user` on the terminal adapter.
pub fn message(user: &str, text: &str) -> clara_core::engine::Incoming {
    use clara_core::engine::{Conversation, Incoming};
    Incoming::text("chat", user, user, Conversation::dm(user), text.to_owned())
}

/// The entry point of `@modelcontextprotocol/server-everything` (which `.ci/run` installs).
/// The tests that call it run only with `CLARA_TEST_TOOLS` set, so a missing server fails them.
pub fn everything_server() -> PathBuf {
    let path =
        repo_root().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.is_file(),
        "CLARA_TEST_TOOLS is set but the MCP server is not installed: npm install @modelcontextprotocol/server-everything (see .ci/run)"
    );
    path
}

/// The reference server over streamable HTTP on a free port of 127.0.0.1, once it listens;
/// its `/mcp` URL. Dropping the child stops it.
pub async fn everything_over_http() -> (tokio::process::Child, String) {
    let port = free_port();
    let server = tokio::process::Command::new("node")
        .arg(everything_server())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the HTTP server did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (server, format!("http://127.0.0.1:{port}/mcp"))
}

/// `clara --root ROOT …` with an empty environment apart from `PATH`.
pub fn clara(root: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clara"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--root")
        .arg(root);
    command
}

/// What a command printed, stdout then stderr: for assertions and their messages.
pub fn said(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The stdout of a command that must have succeeded (else the test fails with all it said).
pub fn ok(output: std::process::Output) -> String {
    assert!(output.status.success(), "{}", said(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A port free now on 127.0.0.1, for a server a test starts (or an address two processes
/// must agree on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What clara told the model besides the history in a chat request: its system messages, then
/// the new message, which the per-turn context block heads (blocks joined by `---` lines).
pub fn told(request: &serde_json::Value) -> String {
    let messages = request["messages"].as_array().unwrap();
    let last = messages.last().filter(|m| m["role"] == "user");
    messages
        .iter()
        .filter(|m| m["role"] == "system")
        .chain(last)
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n---\n")
}
