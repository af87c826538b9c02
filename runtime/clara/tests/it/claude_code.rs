//! The shipped Claude Code tools, with a stub `claude` on PATH that answers like the real CLI
//! (`-p … --output-format json`): the task runs in the user's own working directory, each user
//! has theirs, and the result comes back with its turns and cost.

use std::os::unix::fs::PermissionsExt;

use clara_config::Env;
use clara_core::engine::{ManualClock, ToolContext};
use clara_core::store::InMemoryStore;
use serde_json::json;

use crate::support;

/// A `claude` that records its working directory and arguments in `log`.
fn stub_claude(folder: &std::path::Path, log: &std::path::Path) {
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "2.1.0 (Claude Code)"; exit 0; fi
{{ pwd; for a in "$@"; do echo "$a"; done; }} > "{log}"
echo '{{"type":"result","subtype":"success","is_error":false,"num_turns":3,"result":"Added tests in tests/test_utils.py; all 4 pass.","session_id":"s1","total_cost_usd":0.0123}}'
"#,
        log = log.display()
    );
    let path = folder.join("claude");
    std::fs::write(&path, script).expect("the stub is written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("executable");
}

#[tokio::test]
async fn claude_code_runs_the_task_in_the_users_own_working_directory() {
    let root = support::shipped_root();
    for name in [
        "claude_code",
        "claude_code_status",
        "claude_code_set_workdir",
        "claude_code_get_workdir",
    ] {
        support::edit(
            &root.path().join(format!("tools.d/{name}.toml")),
            "enabled = false",
            "enabled = true",
        );
    }
    let bin = tempfile::tempdir().expect("a folder for the stub");
    let log = bin.path().join("calls.log");
    stub_claude(bin.path(), &log);
    let project = tempfile::tempdir().expect("a project folder");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = Env::from_vars([
        ("OPENROUTER_API_KEY".to_owned(), "k".to_owned()),
        ("PATH".to_owned(), path),
        ("ANTHROPIC_API_KEY".to_owned(), "sk-ant-test".to_owned()),
    ]);
    let set = clara_config::load_with_env(root.path(), env).expect("the root validates");
    let tools = clara::tools::build(&set, &clara::tools::http_client(), None);
    let tool = |name: &str| {
        tools
            .manifest_tool(name)
            .unwrap_or_else(|| panic!("{name} is offered"))
    };
    let (store, clock) = (InMemoryStore::new(), ManualClock::new(0));
    let context = |user| ToolContext {
        user_id: user,
        store: &store,
        embedder: None,
        clock: &clock,
        search: (100, 60),
        files: None,
        place: None,
    };
    let call = |name: &'static str, user: &'static str, args: serde_json::Value| {
        let tool = tool(name);
        let context = context(user);
        async move { tool.call(&args, &context).await }
    };

    let status = call("claude_code_status", "ann", json!({}))
        .await
        .expect("a status");
    assert_eq!(
        status.trim(),
        "Claude Code 2.1.0 (Claude Code); signs in with an Anthropic API key; working directory: none set."
    );
    let refused = call("claude_code", "ann", json!({"task": "add tests"}))
        .await
        .unwrap_err();
    assert!(refused.0.contains("no working directory"), "{refused}");
    assert!(!log.exists(), "claude never ran");

    let dir = project.path().canonicalize().expect("a real path");
    let set_to = call("claude_code_set_workdir", "ann", json!({"path": dir}))
        .await
        .expect("set");
    assert_eq!(
        set_to.trim(),
        format!("Claude Code will work in {}.", dir.display())
    );
    let result = call(
        "claude_code",
        "ann",
        json!({"task": "Write unit tests for utils"}),
    )
    .await
    .expect("a result");
    assert_eq!(
        result.trim(),
        format!(
            "Added tests in tests/test_utils.py; all 4 pass.\n\n[Claude Code: in {}, 3 turns, $0.0123]",
            dir.display()
        )
    );
    let logged = std::fs::read_to_string(&log).expect("claude ran");
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(
        lines,
        [
            dir.to_str().unwrap(),
            "-p",
            "Write unit tests for utils",
            "--output-format",
            "json",
            "--max-turns",
            "10"
        ]
    );
    // Each user has their own working directory.
    let bobs = call("claude_code_get_workdir", "bob", json!({}))
        .await
        .expect("bob's");
    assert_eq!(bobs.trim(), "No working directory is set.");
    let anns = call("claude_code_get_workdir", "ann", json!({}))
        .await
        .expect("ann's");
    assert_eq!(
        anns.trim(),
        format!("Claude Code works in {}.", dir.display())
    );
    let missing = call(
        "claude_code_set_workdir",
        "bob",
        json!({"path": "/no/such/folder"}),
    )
    .await
    .unwrap_err();
    assert!(missing.0.contains("is not a directory"), "{missing}");
}
