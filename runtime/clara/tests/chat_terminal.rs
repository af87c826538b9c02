//! The terminal adapter's own behaviour, end to end with the real binary: a repeated line is
//! answered once with a notice, tool status lines on stderr, the configured channel, and a
//! store that fails mid-chat.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::fake_llm::{self, FakeLlm};
use support::{clara, shipped_root};

/// `clara chat` against the fake model with memory off, fed `lines` on stdin.
fn chat(root: &Path, fake: &FakeLlm, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = clara(root);
    command
        .arg("chat")
        .args(args)
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_MEMORY__ENABLED", "false")
        .envs(env.iter().copied());
    command
}

async fn feed(mut command: Command, lines: &str) -> Output {
    let lines = lines.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_line_twice_is_answered_once_with_a_notice() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Hello, Ann."]));
    fake.push(fake_llm::openai_stream(&["Something new."]));
    let out = feed(
        chat(root.path(), &fake, &["--user", "ann"], &[]),
        "hello there\nhello there\nsomething else\n",
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, Ann.\nSomething new.\n");
    assert!(
        text(&out.stderr)
            .contains("(the same message came in moments ago, so it is not answered twice)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fake.request_count(), 2, "the copy reached no model");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_tool_shows_a_status_line_on_stderr_unless_turned_off() {
    let root = shipped_root();
    for (setting, shown, ask) in [
        ("true", true, "roll a die"),
        ("false", false, "roll another"),
    ] {
        let fake = FakeLlm::start().await;
        fake.push(fake_llm::openai_tool_stream(
            &[("c1", "roll_dice", "{\"sides\": 6}")],
            5,
        ));
        fake.push(fake_llm::openai_stream(&["A four."]));
        let out = feed(
            chat(
                root.path(),
                &fake,
                &["-m", ask],
                &[("CLARA_ADAPTERS__CHAT__TOOL_STATUS", setting)],
            ),
            "",
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout),
            "A four.\n",
            "status never mixes into the reply: {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stderr).contains("🎲 Rolling dice…"),
            shown,
            "tool_status = {setting}: {}",
            text(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_channel_is_used_without_the_flag() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Hi, channel."]));
    let out = feed(
        chat(
            root.path(),
            &fake,
            &["-m", "hi"],
            &[("CLARA_ADAPTERS__CHAT__CHANNEL", "general")],
        ),
        "",
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let system: String = fake.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "system")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    assert!(system.contains("- Channel: #general"), "{system}");
    assert!(!system.contains("Private DM"), "{system}");
}
