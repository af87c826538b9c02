//! Tool approvals in `clara chat`, end to end against the fake model server: a call the
//! pipeline asks about is put to the person on the next input line; `y` runs it, anything else
//! denies it, and a `-m` message has no one to ask, so the call is not made. Every decision is
//! in the tool log with who made it.

use std::path::Path;
use std::process::Output;

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, shipped_root, tool_loop_keys};

/// The shipped root, with the chat pipeline asking before every dice roll.
fn asking_root() -> tempfile::TempDir {
    let root = shipped_root();
    tool_loop_keys(root.path(), "approvals = { roll_dice = \"always\" }");
    root
}

fn roll() -> fake_llm::Reply {
    fake_llm::openai_tool_stream(&[("c1", "roll_dice", r#"{"sides": 6}"#)], 5)
}

async fn chat(root: &Path, fake: &FakeLlm, args: &[&str], input: &'static str) -> Output {
    let mut command = clara(root);
    command
        .arg("chat")
        .args(args)
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_MEMORY__ENABLED", "false")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// What the model was told about its tool call, in request `index`.
fn tool_result(fake: &FakeLlm, index: usize) -> String {
    let requests = fake.requests();
    let messages = requests[index].body["messages"].as_array().unwrap().clone();
    let last = messages.last().unwrap();
    assert_eq!(last["role"], "tool");
    last["content"].as_str().unwrap().to_owned()
}

async fn logged(root: &Path) -> Vec<(String, Option<String>, Option<String>)> {
    let env = clara_config::Env::from_vars([("OPENROUTER_API_KEY".to_owned(), "k".to_owned())]);
    let set = clara_config::load_with_env(root, env).unwrap();
    let store = clara::store::open_default(&set, clara::store::Access::ReadOnly)
        .await
        .unwrap();
    let calls = store.recent_tool_calls(10).await.unwrap();
    calls
        .into_iter()
        .map(|c| (c.outcome, c.decision, c.decided_by))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_person_at_the_chat_approves_or_denies_each_call() {
    let root = asking_root();
    let fake = FakeLlm::start().await;
    fake.push(roll());
    fake.push(fake_llm::openai_stream(&["You rolled it."]));
    fake.push(roll());
    fake.push(fake_llm::openai_stream(&["I didn't roll."]));
    let input = "roll a die for me\ny\nand again\nno thanks\n";
    let out = chat(root.path(), &fake, &[], input).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "You rolled it.\nI didn't roll.\n",
        "the answers to the questions are not messages"
    );
    assert_eq!(
        stderr
            .matches(r#"May I run `roll_dice` with {"sides":6}? [y/N] "#)
            .count(),
        2,
        "{stderr}"
    );
    let rolled: u32 = tool_result(&fake, 1)
        .trim()
        .parse()
        .expect("a die's number");
    assert!((1..=6).contains(&rolled));
    assert_eq!(
        tool_result(&fake, 3),
        "Not run: `roll_dice` needs a person's approval, and cli-user said no. Tell the user it was not run."
    );
    let user = Some("cli-user".to_owned());
    assert_eq!(
        logged(root.path()).await,
        [
            ("denied".to_owned(), Some("denied".to_owned()), user.clone()),
            ("ok".to_owned(), Some("approved".to_owned()), user),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_one_off_message_has_no_one_to_ask_and_the_call_is_not_made() {
    let root = asking_root();
    let fake = FakeLlm::start().await;
    fake.push(roll());
    fake.push(fake_llm::openai_stream(&["I couldn't roll."]));
    let out = chat(root.path(), &fake, &["-m", "roll a die"], "y\n").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        tool_result(&fake, 1).contains("no one could be asked (no one is at the input to answer)"),
        "{}",
        tool_result(&fake, 1)
    );
    assert_eq!(
        logged(root.path()).await,
        [("denied".to_owned(), Some("unavailable".to_owned()), None)]
    );
}
