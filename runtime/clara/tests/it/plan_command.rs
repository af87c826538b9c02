//! `clara plan --against DIR`: an edit of each file kind reads as what it will do (applies live,
//! needs a restart, rejected at `file:line:col`), with prompt and step differences.

use std::fs;
use std::path::Path;
use std::process::Output;

use crate::support::{self, edit, repo_root};

fn plan(root: &Path) -> Output {
    support::clara(root)
        .args(["plan", "--against"])
        .arg(repo_root())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_unchanged_root_plans_nothing() {
    let root = support::shipped_root();
    let out = plan(root.path());
    assert!(out.status.success());
    assert_eq!(stdout(&out), "plan: nothing changes\n");
}

#[test]
fn edits_of_each_kind_say_what_they_will_do() {
    let root = support::shipped_root();
    let path = |rel: &str| root.path().join(rel);
    edit(
        &path("personas/clara.md"),
        "- Warm. You like",
        "- Warm! You like",
    );
    edit(
        &path("pipelines/chat.toml"),
        "history_messages = 20",
        "history_messages = 30",
    );
    edit(
        &path("pipelines/check_in.toml"),
        "[[steps]]\ntype = \"write_memory\"\nextract = false\n",
        "",
    );
    fs::copy(
        path("tools.d/roll_dice.toml"),
        path("tools.d/roll_more.toml"),
    )
    .unwrap();
    fs::remove_file(path("hooks/schedule.toml")).unwrap();
    let out = plan(root.path());
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with(
            "hooks/schedule.toml: removed, applies live\n\
             personas/clara.md: changed, applies live\n\
             pipelines/chat.toml: changed, applies live\n\
             pipelines/check_in.toml: changed, applies live\n\
             tools.d/roll_more.toml: added, applies live\n\
             \x20 persona clara: its prompt:\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "    - - Warm. You like the people you talk with and it shows, without gushing or flattery.\n    + - Warm! You like the people you talk with and it shows, without gushing or flattery.\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  pipeline chat: step 3 (build_context): `history_messages` changed\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  pipeline check_in: its steps:\n      build_context\n      llm_call\n    - write_memory\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  prompt cache: the cached start of prompts changes; each session's next turn writes it again:\n\
             \x20   - persona clara's prompt\n\
             \x20   - the tools offered (their names and definitions)\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with("plan: 5 files change; a running clara applies it on its next reload\n"),
        "{text}"
    );
}

#[test]
fn only_edits_of_the_cached_start_say_they_change_it() {
    let root = support::shipped_root();
    let chat = root.path().join("pipelines/chat.toml");
    edit(&chat, "## Current Context", "## Right now");
    let text = stdout(&plan(root.path()));
    assert!(text.contains("context_template"), "{text}");
    assert!(
        !text.contains("prompt cache"),
        "the context block comes after it:\n{text}"
    );
    edit(&chat, "KEY MEMORIES:", "WHAT MATTERS:");
    let text = stdout(&plan(root.path()));
    assert!(
        text.contains("  prompt cache: the cached start of prompts changes; each session's next turn writes it again:\n    - pipeline chat step 3 (build_context)\n"),
        "{text}"
    );
}

#[test]
fn a_change_that_needs_a_restart_says_why() {
    let root = support::shipped_root();
    edit(
        &root.path().join("clara.toml"),
        "bind = \"127.0.0.1:8787\"",
        "bind = \"127.0.0.1:8788\"",
    );
    edit(
        &root.path().join("pipelines/chat.toml"),
        "history_messages = 20",
        "history_messages = 30",
    );
    let out = plan(root.path());
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.starts_with(
            "clara.toml: changed, needs a restart\npipelines/chat.toml: changed, waits for that restart\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(
            "plan: 2 files change; the [status] section changed; that needs a restart of clara, so the running configuration stays in place\n"
        ),
        "{text}"
    );
}

#[test]
fn a_broken_edit_is_rejected_at_its_position() {
    let root = support::shipped_root();
    edit(
        &root.path().join("pipelines/chat.toml"),
        "max_rounds = 75",
        "max_roundz = 75",
    );
    let out = plan(root.path());
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with(
            "plan: rejected: the files do not load, so a running clara keeps its configuration\n  pipelines/chat.toml:"
        ),
        "{text}"
    );
    assert!(text.contains("unknown key `max_roundz`"), "{text}");
    let nowhere = support::clara(root.path())
        .args(["plan", "--against", "/nonexistent/clara-root"])
        .output()
        .unwrap();
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&nowhere.stderr).contains(
            "the configuration to compare with, in /nonexistent/clara-root, does not load"
        ),
        "{nowhere:?}"
    );
}

/// Waits (up to 20 s) until `check` holds.
fn wait_for(what: &str, check: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !check() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

#[test]
fn without_against_the_plan_is_against_what_clara_run_applied_and_run_logs_it() {
    let root = support::shipped_root();
    let plan_running = || support::clara(root.path()).arg("plan").output().unwrap();
    let out = plan_running();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "no applied configuration is kept in {}: `clara run` writes it when it starts and after every reload; or compare with a folder: --against DIR"
                .replace("{}", &root.path().join(".clara/applied").display().to_string())
                .as_str()
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut child = support::clara(root.path())
        .arg("run")
        .env("OPENROUTER_API_KEY", "sk-test")
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_STATUS__BIND", "127.0.0.1:0")
        // Watching off: the edit below stays pending until SIGHUP reloads it.
        .env("CLARA_RUNTIME__WATCH", "false")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let applied = root.path().join(".clara/applied");
    wait_for("the applied copy", || {
        applied.join("personas/clara.md").is_file()
    });
    assert!(
        !applied.join(".env").exists(),
        "the copy never holds secrets"
    );
    let out = plan_running();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "plan: nothing changes\n");

    edit(
        &root.path().join("personas/clara.md"),
        "- Warm. You like",
        "- Warm! You like",
    );
    let pending = stdout(&plan_running());
    assert!(
        pending.contains("personas/clara.md: changed, applies live\n")
            && pending.contains("    + - Warm! You like"),
        "{pending}"
    );
    #[allow(unsafe_code)]
    // SAFETY: sends a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    }
    wait_for("the reload to reach the copy", || {
        fs::read_to_string(applied.join("personas/clara.md"))
            .unwrap_or_default()
            .contains("- Warm! You like")
    });
    assert_eq!(stdout(&plan_running()), "plan: nothing changes\n");

    #[allow(unsafe_code)]
    // SAFETY: sends a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    // The reload logged the prompt change as `clara plan` shows it.
    assert!(stderr.contains("persona clara: its prompt"), "{stderr}");
    assert!(stderr.contains("+ - Warm! You like"), "{stderr}");
}
