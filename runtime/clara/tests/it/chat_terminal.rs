//! The terminal adapter's own behaviour, end to end with the real binary: a repeated line is
//! answered once with a notice, tool status lines on stderr, the configured channel, and a
//! store that fails mid-chat.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, shipped_root};

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
async fn the_status_line_is_the_configured_text() {
    let root = shipped_root();
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
            &["-m", "roll a die"],
            &[(
                "CLARA_ADAPTERS__CHAT__TOOL_STATUS_LINE",
                "[{step}] {label} {emoji}",
            )],
        ),
        "",
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("[1] Rolling dice 🎲"),
        "{}",
        text(&out.stderr)
    );
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
    // The context block heads the new message.
    let system: String = fake.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    assert!(system.contains("- Channel: #general"), "{system}");
    assert!(!system.contains("Private DM"), "{system}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_fails_mid_chat_is_reported_and_later_lines_are_still_read() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Hello."]));
    let mut command = chat(root.path(), &fake, &["--user", "ann"], &[]);
    let db = root.path().join("data/clara.db");
    let out = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader};
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdin.write_all(b"first\n").unwrap();
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        stdin.write_all(b"second\nthird\n").unwrap();
        drop(stdin);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        let output = child.wait_with_output().unwrap();
        (first, rest, output)
    })
    .await
    .unwrap();
    let (first, rest, output) = out;
    assert_eq!(first, "Hello.\n");
    assert_eq!(rest, "", "no reply claims a message was saved");
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("error: the message could not be handled"))
            .count(),
        2,
        "both later lines were read and reported: {stderr}"
    );
    assert!(
        stderr.contains("was deleted or replaced while clara was running"),
        "{stderr}"
    );
    assert_eq!(fake.request_count(), 1);
}
