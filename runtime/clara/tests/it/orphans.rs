//! `kill -9` at a bad moment leaves nothing behind: a command tool mid-call, a hook's shell
//! and an MCP server, each with a child of its own, all die with clara.

#![cfg(target_os = "linux")]

use crate::support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{self, FakeLlm};

/// A shell line that records its own pid and a child's in `NAME.pid` / `NAME-child.pid`,
/// then waits on the child.
fn hanging(root: &Path, name: &str) -> String {
    let dir = root.display();
    format!("echo $$ > {dir}/{name}.pid; sleep 300 & echo $! > {dir}/{name}-child.pid; wait")
}

fn pid(root: &Path, file: &str) -> Option<i32> {
    std::fs::read_to_string(root.join(file))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Running, and not a zombie waiting for a parent to reap it.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(state != "Z")
        })
        .unwrap_or(false)
}

fn wait_until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Kills clara with SIGKILL and asserts every recorded process is gone soon after.
fn kill_and_check(mut clara: Child, root: &Path, names: &[&str]) {
    let pids: Vec<(String, i32)> = names
        .iter()
        .flat_map(|name| [format!("{name}.pid"), format!("{name}-child.pid")])
        .map(|file| {
            let pid = pid(root, &file).unwrap_or_else(|| panic!("{file} was written"));
            (file, pid)
        })
        .collect();
    for (file, pid) in &pids {
        assert!(alive(*pid), "{file} runs before the kill");
    }
    clara.kill().unwrap();
    clara.wait().unwrap();
    wait_until(
        "every child to die with clara",
        Duration::from_secs(5),
        || pids.iter().all(|(_, pid)| !alive(*pid)),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_tool_and_its_children_die_with_clara() {
    let root = support::shipped_root();
    std::fs::write(
        root.path().join("tools.d/hang.toml"),
        format!(
            "description = \"Hang.\"\ntimeout = 600\n\n[runner]\ntype = \"command\"\nprogram = \"sh\"\nargs = [\"-c\", {:?}]\nstdin = \"none\"\n",
            hanging(root.path(), "tool")
        ),
    )
    .unwrap();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(&[("c1", "hang", "{}")], 5));
    let clara = support::clara(root.path())
        .args(["chat", "-m", "hang for me"])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_MEMORY__ENABLED", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let path = root.path().to_owned();
    tokio::task::spawn_blocking(move || {
        wait_until("the tool to start", Duration::from_secs(20), || {
            pid(&path, "tool-child.pid").is_some()
        });
        kill_and_check(clara, &path, &["tool"]);
    })
    .await
    .unwrap();
}

#[test]
fn a_hook_and_an_mcp_server_with_their_children_die_with_clara() {
    let root = support::shipped_root();
    std::fs::write(
        root.path().join("hooks/hang.yaml"),
        format!(
            "hooks:\n  - name: hang\n    event: gateway:startup\n    timeout: 600\n    command: '{}'\n",
            hanging(root.path(), "hook")
        ),
    )
    .unwrap();
    std::fs::write(
        root.path().join("tools.d/stuck.toml"),
        format!(
            "[runner]\ntype = \"mcp\"\ncommand = \"sh\"\nargs = [\"-c\", {:?}]\n",
            hanging(root.path(), "mcp")
        ),
    )
    .unwrap();
    let clara = support::clara(root.path())
        .arg("run")
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_STATUS__BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the hook and the server to start",
        Duration::from_secs(20),
        || {
            pid(root.path(), "hook-child.pid").is_some()
                && pid(root.path(), "mcp-child.pid").is_some()
        },
    );
    kill_and_check(clara, root.path(), &["hook", "mcp"]);
}
