//! `clara chat` end to end: the real binary on a copy of the shipped root, talking to the fake
//! LLM server through `CLARA_…` overrides. What the model receives (system prompt, history,
//! memories, tier model, tools), memory across separate runs, session rollover on a pinned
//! clock, reconciliation, and an outage mid-turn.

use crate::support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::fake_llm::{self, FakeLlm, Reply};
use crate::support::{clara, shipped_root};
use serde_json::{Value, json};

async fn chat(
    root: &Path,
    fake: &FakeLlm,
    now: &str,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> Output {
    let mut command = clara(root);
    command
        .arg("chat")
        .args(args)
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env(
            "CLARA_PROVIDERS__OPENROUTER__RETRY__INITIAL_BACKOFF_MS",
            "5",
        )
        .env("CLARA_NOW", now)
        .envs(extra_env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Borrowed pairs for `chat`'s environment.
fn pairs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The chat turns' requests (they stream; memory work does not), in order.
fn turns(requests: &[fake_llm::RecordedRequest]) -> Vec<&Value> {
    requests
        .iter()
        .map(|r| &r.body)
        .filter(|body| body["stream"] == true)
        .collect()
}

fn extraction(facts: Value) -> Reply {
    fake_llm::openai_json(&json!({ "facts": facts }).to_string())
}

fn reconcile(decisions: Value) -> Reply {
    fake_llm::openai_json(&json!({ "memory": decisions }).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conversation_that_remembers_the_user_the_next_day() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;

    // Day 1: the reply streams; then memory extraction and reconciliation run.
    fake.push(fake_llm::openai_stream(&["Nice to meet ", "you, Sam!"]));
    fake.push_background(extraction(json!([{ "text": "Is called Sam", "is_key": true }, { "text": "Has a dog named Biscuit", "is_key": false }])));
    fake.push_background(reconcile(json!([
        { "id": "new1", "text": "Is called Sam", "event": "ADD", "is_key": true },
        { "id": "new2", "text": "Has a dog named Biscuit", "event": "ADD" }
    ])));
    let day1 = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "Hi, I'm Sam and my dog Biscuit says hello"],
        &[],
    )
    .await;
    assert!(
        day1.status.success(),
        "{}",
        String::from_utf8_lossy(&day1.stderr)
    );
    assert_eq!(stdout(&day1), "Nice to meet you, Sam!\n");

    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        3,
        "a chat call, then extraction and reconciliation"
    );
    let turn = &requests[0].body;
    assert_eq!(
        turn["model"], "anthropic/claude-sonnet-4",
        "no tier prefix: the base model"
    );
    assert_eq!(turn["stream"], true);
    let system = support::told(turn);
    assert!(
        system.contains("You are Clara"),
        "the persona prompt:\n{system}"
    );
    assert!(
        system.contains("- Platform: chat") && system.contains("- Conversation: Private DM"),
        "{system}"
    );
    let tools: Vec<&str> = turn["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    // The built-in memory and file tools, the shipped tools.d tools that are enabled, then
    // (the terminal's user is the operator, an admin) the tools that manage MCP servers.
    assert_eq!(
        tools,
        [
            "memory_search",
            "memory_remember",
            "memory_forget",
            "save_to_local",
            "list_local_files",
            "read_local_file",
            "delete_local_file",
            "send_local_file",
            "roll_dice",
            "mcp_install",
            "mcp_uninstall",
            "mcp_enable",
            "mcp_disable",
            "mcp_restart",
            "mcp_list",
            "mcp_status",
            "mcp_oauth_start",
            "mcp_search"
        ]
    );
    let last = turn["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["role"], "user");
    assert_eq!(
        last["content"],
        "## Current Context\n- Current time: Tuesday, November 24, 2026 at 04:00 EST\n\
         - Platform: chat\n- Conversation: Private DM\n- User: cli-user\n\n\
         Hi, I'm Sam and my dog Biscuit says hello",
        "the new message, headed by what changes every turn"
    );
    assert_eq!(
        requests[1].body["model"], "anthropic/claude-haiku",
        "extraction follows the default provider, on its low tier"
    );
    assert!(
        requests[1].body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("my dog Biscuit")
    );

    // Day 2, a new process: the session has timed out, and the memories are in the prompt.
    fake.push(fake_llm::openai_stream(&[
        "Good morning, Sam! How is Biscuit?",
    ]));
    // The ended session's summary, then the new message's memory work, beside the turn.
    fake.push_background(fake_llm::openai_json(
        "Sam introduced themselves and their dog Biscuit.",
    ));
    fake.push_background(extraction(json!([])));
    let day2 = chat(
        root.path(),
        &fake,
        "2026-11-25T08:30:00Z",
        &["-m", "Good morning!"],
        &[],
    )
    .await;
    assert!(
        day2.status.success(),
        "{}",
        String::from_utf8_lossy(&day2.stderr)
    );
    assert_eq!(stdout(&day2), "Good morning, Sam! How is Biscuit?\n");
    let requests = fake.requests();
    let turn = turns(&requests)[1];
    let system = support::told(turn);
    assert!(
        system.contains("KEY MEMORIES:\n- Is called Sam"),
        "key memories come first:\n{system}"
    );
    assert!(
        system.contains("END OF THE PREVIOUS SESSION"),
        "the previous session's last messages:\n{system}"
    );
    let history: Vec<&Value> = turn["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .collect();
    assert_eq!(
        history.len(),
        1,
        "a new session starts with no history of its own"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["content"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Summarise the conversation"))),
        "the ended session is summarised"
    );

    // Later on day 2, same session: history, and the summary of day 1 in context.
    fake.push(fake_llm::openai_stream(&["Of course."]));
    fake.push_background(extraction(json!([])));
    let later = chat(
        root.path(),
        &fake,
        "2026-11-25T08:40:00Z",
        &["-m", "!high Can you help me plan a walk?"],
        &[],
    )
    .await;
    assert!(later.status.success());
    let requests = fake.requests();
    let turn = turns(&requests)[2];
    assert_eq!(
        turn["model"], "anthropic/claude-opus-4",
        "!high picks the high tier"
    );
    let messages = turn["messages"].as_array().unwrap();
    let said = messages.last().unwrap()["content"].as_str().unwrap();
    assert!(
        said.ends_with("\n\nCan you help me plan a walk?"),
        "the prefix is removed: {said}"
    );
    assert!(
        support::told(turn).contains(
            "PREVIOUS SESSION SUMMARY:\nSam introduced themselves and their dog Biscuit."
        )
    );
    let history: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(history.len(), 3);
    assert!(
        history[0].ends_with("Good morning!") && history[0].starts_with('['),
        "user history carries its time: {}",
        history[0]
    );
    assert_eq!(history[1], "Good morning, Sam! How is Biscuit?");

    // The next message's history shows the prefixed one as the model saw it.
    fake.push(fake_llm::openai_stream(&["Enjoy!"]));
    fake.push_background(extraction(json!([])));
    let next = chat(
        root.path(),
        &fake,
        "2026-11-25T08:45:00Z",
        &["-m", "Thanks!"],
        &[],
    )
    .await;
    assert!(next.status.success());
    let requests = fake.requests();
    let turn = turns(&requests)[3];
    assert_eq!(
        turn["model"], "anthropic/claude-sonnet-4",
        "no prefix: the base model"
    );
    let history: Vec<&str> = turn["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        history
            .iter()
            .any(|m| m.ends_with("] Can you help me plan a walk?")),
        "{history:?}"
    );
    assert!(history.iter().all(|m| !m.contains("!high")), "{history:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reconciliation_updates_and_deletes_what_it_knows_and_adds_the_rest() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Noted."]));
    fake.push_background(extraction(json!(["Likes cricket", "Works as a nurse"])));
    fake.push_background(reconcile(json!([{ "id": "0", "text": "Likes cricket", "event": "ADD" }, { "id": "1", "text": "Works as a nurse", "event": "ADD" }])));
    assert!(
        chat(
            root.path(),
            &fake,
            "2026-11-24T09:00:00Z",
            &["-m", "I like cricket and I'm a nurse"],
            &[]
        )
        .await
        .status
        .success()
    );

    fake.push(fake_llm::openai_stream(&["Got it."]));
    fake.push_background(extraction(json!([
        "Loves cricket with friends",
        "Works as a teacher now",
        "Has a cat"
    ])));
    // Existing memories are shown as temporary ids; "7" is not one of them, so it is an ADD.
    fake.push_background(reconcile(json!([
        { "id": "0", "text": "Loves cricket with friends", "event": "UPDATE" },
        { "id": "1", "text": "", "event": "DELETE" },
        { "id": "7", "text": "Works as a teacher", "event": "UPDATE" },
        { "id": "2", "text": "Has a cat", "event": "NONE" },
        { "text": "Has a cat", "event": "ADD" }
    ])));
    assert!(
        chat(
            root.path(),
            &fake,
            "2026-11-24T09:05:00Z",
            &[
                "-m",
                "Actually I love cricket with friends, I teach now, and I got a cat"
            ],
            &[]
        )
        .await
        .status
        .success()
    );
    let reconcile_request = &fake.requests()[5].body;
    let prompt = reconcile_request["messages"][0]["content"]
        .as_str()
        .unwrap();
    assert!(
        prompt.contains("- id 0: Likes cricket") && prompt.contains("- id 1: Works as a nurse"),
        "{prompt}"
    );
    let looks_like_real_id = |w: &str| w.len() >= 16 && w.chars().all(|c| c.is_ascii_hexdigit());
    assert!(
        !prompt
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(looks_like_real_id),
        "no real ids reach the model:\n{prompt}"
    );

    // Ask the model to search: the tool runs against the store and the model sees the result.
    fake.push(fake_llm::openai_tool_stream(
        &[(
            "call_1",
            "memory_search",
            "{\"query\":\"cricket teacher cat nurse\"}",
        )],
        7,
    ));
    fake.push(fake_llm::openai_stream(&[
        "You love cricket, teach, and have a cat.",
    ]));
    fake.push_background(extraction(json!([])));
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:06:00Z",
        &["-m", "What do you know about me?"],
        &[],
    )
    .await;
    assert!(out.status.success());
    let requests = fake.requests();
    let tool_result = requests[7].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        tool_result.contains("Loves cricket with friends"),
        "{tool_result}"
    );
    assert!(
        tool_result.contains("Works as a teacher") && tool_result.contains("Has a cat"),
        "{tool_result}"
    );
    assert!(
        !tool_result.contains("nurse"),
        "the deleted memory is gone: {tool_result}"
    );
    assert_eq!(stdout(&out), "You love cricket, teach, and have a cat.\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_llm_outage_gives_the_error_reply_and_loses_nothing() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    for _ in 0..4 {
        fake.push(fake_llm::error_json(503, "upstream overloaded"));
    }
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "Please remember my appointment is on Friday"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("Sorry, something went wrong on my side"),
        "{}",
        stdout(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 503: upstream overloaded"));

    // The message was stored before the model call: the next turn's history has it.
    fake.push(fake_llm::openai_stream(&["Friday, noted."]));
    fake.push_background(extraction(json!([])));
    let next = chat(
        root.path(),
        &fake,
        "2026-11-24T09:02:00Z",
        &["-m", "Are you back?"],
        &[],
    )
    .await;
    assert!(next.status.success());
    let turn = &fake.requests()[4].body;
    assert!(turn["messages"].as_array().unwrap().iter().any(|m| {
        m["content"]
            .as_str()
            .unwrap_or_default()
            .ends_with("Please remember my appointment is on Friday")
    }));
}

#[tokio::test(flavor = "multi_thread")]
async fn stdin_lines_are_separate_messages_in_one_session() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["One."]));
    fake.push_background(extraction(json!([])));
    fake.push(fake_llm::openai_stream(&["Two."]));
    fake.push_background(extraction(json!([])));
    let mut command = clara(root.path());
    command
        .args(["chat", "--user", "ann"])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_NOW", "2026-11-24T09:00:00Z")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"first\n\nsecond\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success());
    assert_eq!(stdout(&out), "One.\nTwo.\n");
    let requests = fake.requests();
    let second = turns(&requests)[1];
    let contents: Vec<&str> = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents.len(), 3);
    // History as stored; the new line after the per-turn context block.
    assert!(contents[0].ends_with("] first") && contents[1] == "One.");
    assert!(contents[2].starts_with("## Current Context") && contents[2].ends_with("\n\nsecond"));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_line_is_answered_before_the_next_is_typed() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Hello there."]));
    fake.push_background(extraction(json!([])));
    let mut command = clara(root.path());
    command
        .args(["chat", "--user", "ann"])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let first_line = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Write};
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hi\n").unwrap();
        stdin.flush().unwrap();
        // stdin stays open: a reply only arrives if the line is answered on its own.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        drop(stdin);
        assert!(child.wait().unwrap().success());
        line
    })
    .await
    .unwrap();
    assert_eq!(first_line, "Hello there.\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_line_is_answered_while_the_last_ones_memory_work_still_runs() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["One."]));
    let mut slow = extraction(json!([]));
    slow.first_byte_delay = Duration::from_secs(4);
    fake.push_background(slow);
    fake.push(fake_llm::openai_stream(&["Two."]));
    fake.push_background(extraction(json!([])));
    let mut command = clara(root.path());
    command
        .args(["chat", "--user", "ann"])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (lines, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    use std::io::Write;
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), replies.recv()).await;
    assert_eq!(first.unwrap().as_deref(), Some("One."));
    let started = std::time::Instant::now();
    while fake.request_count() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no memory work began"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The first line's extraction is now waiting on a slow model.
    stdin.write_all(b"second\n").unwrap();
    stdin.flush().unwrap();
    let asked = std::time::Instant::now();
    let second = tokio::time::timeout(Duration::from_secs(3), replies.recv()).await;
    assert_eq!(
        second
            .expect("the second line waited for the first line's memory work")
            .as_deref(),
        Some("Two.")
    );
    assert!(asked.elapsed() < Duration::from_secs(3));
    drop(stdin);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(
        fake.request_count(),
        4,
        "both lines' memory work ran before exit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_during_a_chat_applies_from_the_next_message() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    for answer in ["One.", "Two."] {
        fake.push(fake_llm::openai_stream(&[answer]));
        fake.push_background(extraction(json!([])));
    }
    let mut command = clara(root.path());
    command
        .args(["chat", "--user", "ann"])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let persona = root.path().join("personas/clara.md");
    let lines = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, Write};
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut answer = || {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line
        };
        stdin.write_all(b"first\n").unwrap();
        stdin.flush().unwrap();
        let first = answer();
        support::edit(&persona, "You are Clara", "You are Clara, edited mid-chat");
        // The watcher settles (150 ms) and reloads; a second is ample.
        std::thread::sleep(std::time::Duration::from_secs(1));
        stdin.write_all(b"second\n").unwrap();
        stdin.flush().unwrap();
        let second = answer();
        drop(stdin);
        assert!(child.wait().unwrap().success());
        (first, second)
    })
    .await
    .unwrap();
    assert_eq!(lines, ("One.\n".to_owned(), "Two.\n".to_owned()));
    let requests = fake.requests();
    let turns: Vec<&Value> = requests
        .iter()
        .map(|r| &r.body)
        .filter(|b| b["stream"] == true)
        .collect();
    assert!(!support::told(turns[0]).contains("edited mid-chat"));
    assert!(support::told(turns[1]).contains("edited mid-chat"));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_it_says_which_variable_to_set() {
    let root = shipped_root();
    let out = tokio::task::spawn_blocking({
        let mut command = clara(root.path());
        command.args(["chat", "-m", "hello"]);
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Set OPENROUTER_API_KEY"), "{stderr}");
    assert!(
        stderr.contains("CLARA_DEFAULTS__PROVIDER=anthropic")
            && stderr.contains("CLARA_DEFAULTS__PROVIDER=local"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_active_message_costs_five_model_requests() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.auto_embeddings(16);
    let env = [
        ("OPENAI_API_KEY", "sk-openai-test".to_owned()),
        ("CLARA_EMBEDDINGS__ENABLED", "true".to_owned()),
        ("CLARA_EMBEDDINGS__DIMENSIONS", "16".to_owned()),
        ("CLARA_PROVIDERS__OPENAI__BASE_URL", fake.base_url()),
    ];
    fake.push(fake_llm::openai_stream(&["Tea it is."]));
    fake.push_background(extraction(json!(["Likes green tea"])));
    fake.push_background(reconcile(
        json!([{ "id": "n", "text": "Likes green tea", "event": "ADD" }]),
    ));
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "I drink green tea every morning"],
        &pairs(&env),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = fake.take_requests();
    let kinds: Vec<String> = requests
        .iter()
        .map(|r| match r.path.as_str() {
            "/embeddings" => format!("embed {}", r.body["input"][0].as_str().unwrap()),
            _ if r.body["stream"] == true => "reply".to_owned(),
            _ => "memory".to_owned(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "embed I drink green tea every morning",
            "reply",
            "memory",
            "embed Likes green tea",
            "memory",
        ],
        "one query embedding and one reply for the turn; after it, extraction, the fact's \
         embedding (searched with, then stored with) and reconciliation"
    );
    // Every one of them is in the usage log, the embeddings with the tokens the API counted
    // (8 a call here), for the turn and for memory work.
    let mut command = clara(root.path());
    command
        .args(["usage", "--by", "model", "--since", "2026-11-01"])
        .envs(pairs(&env));
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let embeddings: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("openai/text-embedding-3-small "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        embeddings,
        [
            "openai/text-embedding-3-small",
            "2",
            "16",
            "0",
            "0",
            "0",
            "$0.0000"
        ],
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("total ") && l.contains(" 5 ")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn memories_are_embedded_and_re_embedded_when_the_model_changes() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.auto_embeddings(16);
    let url = fake.base_url();
    let embeddings = |model: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("OPENAI_API_KEY", "sk-openai-test".to_owned()),
            ("CLARA_EMBEDDINGS__ENABLED", "true".to_owned()),
            ("CLARA_EMBEDDINGS__DIMENSIONS", "16".to_owned()),
            ("CLARA_EMBEDDINGS__MODEL", model.to_owned()),
            ("CLARA_PROVIDERS__OPENAI__BASE_URL", url.clone()),
        ]
    };
    fake.push(fake_llm::openai_stream(&["Tea it is."]));
    fake.push_background(extraction(json!(["Likes green tea"])));
    fake.push_background(reconcile(
        json!([{ "id": "n", "text": "Likes green tea", "event": "ADD" }]),
    ));
    let first = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "I drink green tea every morning"],
        &pairs(&embeddings("embed-a")),
    )
    .await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let embedded = |model: &str| -> Vec<String> {
        fake.requests()
            .iter()
            .filter(|r| r.path == "/embeddings" && r.body["model"] == model)
            .flat_map(|r| {
                r.body["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    assert!(
        embedded("embed-a").contains(&"Likes green tea".to_owned()),
        "the new memory is stored with its vector: {:?}",
        embedded("embed-a")
    );

    fake.push(fake_llm::openai_stream(&["Hello again."]));
    fake.push_background(extraction(json!([])));
    let second = chat(
        root.path(),
        &fake,
        "2026-11-24T09:10:00Z",
        &["-m", "hello"],
        &pairs(&embeddings("embed-b")),
    )
    .await;
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        embedded("embed-b").contains(&"Likes green tea".to_owned()),
        "a model change re-embeds existing memories: {:?}",
        embedded("embed-b")
    );

    // The memory is found by meaning with the new model's vectors.
    fake.push(fake_llm::openai_stream(&["You like green tea."]));
    fake.push_background(extraction(json!([])));
    let third = chat(
        root.path(),
        &fake,
        "2026-11-24T09:12:00Z",
        &["-m", "what do I drink, tea?"],
        &pairs(&embeddings("embed-b")),
    )
    .await;
    assert!(third.status.success());
    let turn = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/chat/completions")
        .rev()
        .nth(1)
        .unwrap();
    assert!(
        support::told(&turn.body).contains("- Likes green tea"),
        "{}",
        support::told(&turn.body)
    );
    let query_embeddings = embedded("embed-b")
        .iter()
        .filter(|t| t.as_str() == "what do I drink, tea?")
        .count();
    assert_eq!(
        query_embeddings, 1,
        "one embedding of the message serves both memory searches"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_rounds_are_bounded_then_the_model_sums_up() {
    let root = shipped_root();
    let chat_toml = root.path().join("pipelines/chat.toml");
    let text = std::fs::read_to_string(&chat_toml)
        .unwrap()
        .replace("max_rounds = 75", "max_rounds = 2");
    std::fs::write(&chat_toml, text).unwrap();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "memory_search", "{\"query\":\"plans\"}")],
        5,
    ));
    fake.push(fake_llm::openai_tool_stream(
        &[("c2", "memory_search", "{\"query\":\"more plans\"}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&[
        "I looked twice and found nothing yet.",
    ]));
    fake.push_background(extraction(json!([])));
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "What are my plans?"],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "I looked twice and found nothing yet.\n");
    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        4,
        "two rounds, the closing call, extraction: no call whose tool calls are thrown away"
    );
    assert!(
        requests[1].body.get("tools").is_some(),
        "round two offers tools"
    );
    let last = &requests[2].body;
    assert!(
        last.get("tools").is_none(),
        "the summing-up call offers no tools"
    );
    let messages = last["messages"].as_array().unwrap();
    assert_eq!(
        messages.last().unwrap()["content"],
        "You have used the maximum number of tool calls for this message. Without calling more tools, sum up what you did, what you found, and what is left to do."
    );
    assert_eq!(
        messages.iter().filter(|m| m["role"] == "tool").count(),
        2,
        "both rounds' calls ran"
    );
    assert!(
        messages.iter().all(|m| m["role"] != "assistant"
            || !m["content"].is_null()
            || m.get("tool_calls").is_some()),
        "no empty assistant message"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_calls_a_tools_d_command_tool_and_answers_from_its_result() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6, \"count\": 3}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["You rolled three dice."]));
    fake.push_background(extraction(json!([])));
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "Roll 3d6 for me"],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "You rolled three dice.\n");
    let requests = fake.requests();
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"roll_dice"), "{offered:?}");
    let messages = requests[1].body["messages"].as_array().unwrap();
    let result = messages
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool's result goes back to the model");
    let rolls: Vec<u32> = result["content"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(rolls.len(), 3);
    assert!(rolls.iter().all(|r| (1..=6).contains(r)), "{rolls:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_the_model_sends_is_shown_with_where_it_is_kept() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::save_and_send_list());
    fake.push(fake_llm::openai_stream(&["Here it is."]));
    fake.push_background(extraction(json!([])));
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "write my list to a file and send it"],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept = root.path().join("clara_files/cli-user/list.txt");
    assert_eq!(
        stdout(&out),
        format!("Here it is.\n📎 list.txt (10 bytes): {}\n", kept.display())
    );
    assert_eq!(std::fs::read(kept).unwrap(), b"milk\neggs\n");
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_tools),
    ignore = "needs the MCP server and schema checkers: npm install and pip install as in .ci/run, then CLARA_TEST_TOOLS=1"
)]
async fn the_model_calls_an_mcp_servers_tool_and_answers_from_its_result() {
    let server = support::everything_server();
    let root = shipped_root();
    let manifest = root.path().join("tools.d/everything.yaml");
    support::edit(&manifest, "enabled: false", "enabled: true");
    support::edit(
        &manifest,
        "command: npx\n  args: [\"--no-install\", \"@modelcontextprotocol/server-everything\", \"stdio\"]",
        &format!(
            "command: node\n  args: [\"{}\", \"stdio\"]",
            server.display()
        ),
    );
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "everything__get-sum", "{\"a\": 19, \"b\": 23}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["It is 42."]));
    fake.push_background(extraction(json!([])));
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["-m", "What is 19 + 23? Use the sum tool."],
        &[("RUST_LOG", "debug")],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "It is 42.\n");
    let requests = fake.requests();
    let offered: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(offered.contains(&"everything__echo"), "{offered:?}");
    let result = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .expect("the tool's result goes back to the model")
        .clone();
    assert_eq!(result["content"], "The sum of 19 and 23 is 42.");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Asking the everything server"),
        "the manifest's label is shown while the tool runs"
    );
    // clara stopped the server on its way out (no other test in this file starts one).
    let script = server.display().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&script))
        .collect();
    assert!(left.is_empty(), "still running: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_are_offered_only_to_whom_their_manifest_allows() {
    let root = shipped_root();
    let manifest = |policy: &str| {
        format!(
            "description = \"Say hi.\"\nlabel = \"Waving\"\nemoji = \"👋\"\n{policy}\n\n\
             [runner]\ntype = \"command\"\nprogram = \"echo\"\nargs = [\"hi\"]\nstdin = \"none\"\n"
        )
    };
    let tools_d = root.path().join("tools.d");
    std::fs::write(
        tools_d.join("for_bob.toml"),
        manifest("allowed_users = [\"bob\"]"),
    )
    .unwrap();
    std::fs::write(
        tools_d.join("for_admins.toml"),
        manifest("admin_only = true"),
    )
    .unwrap();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "for_admins", "{}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["Waved."]));
    fake.push_background(extraction(json!([])));
    let out = chat(
        root.path(),
        &fake,
        "2026-11-24T09:00:00Z",
        &["--user", "ann", "-m", "wave"],
        &[("RUST_LOG", "debug")],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offered: Vec<String> = fake.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    // The terminal user is the operator, so admin-only tools are theirs; Bob's tool is not.
    assert!(offered.iter().any(|t| t == "for_admins"), "{offered:?}");
    assert!(!offered.iter().any(|t| t == "for_bob"), "{offered:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let start = stderr
        .lines()
        .find(|l| l.contains("event=\"tool:start\"") || l.contains("event=tool:start"))
        .unwrap_or_else(|| panic!("no tool:start event in {stderr}"));
    assert!(
        start.contains("\"label\":\"Waving\"") && start.contains("👋"),
        "{start}"
    );
}
