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
        text.ends_with("plan: 5 files change; a running clara applies it on its next reload\n"),
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
