//! What the model puts in a tool call cannot make a tool do what its manifest did not declare:
//! whole `clara chat` turns where the fake model calls shipped tools with hostile arguments,
//! and the fake endpoint (or the absence of a run) shows what reached the tool.

use crate::support;

use std::path::Path;
use std::process::Output;

use crate::support::fake_llm::{self, FakeLlm, Reply};
use crate::support::{clara, shipped_root};
use serde_json::json;

async fn chat(root: &Path, fake: &FakeLlm, message: &str, env: &[(&str, &str)]) -> Output {
    let mut command = clara(root);
    command
        .args(["chat", "-m", message])
        .env("OPENROUTER_API_KEY", "sk-or-test")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_MEMORY__ENABLED", "false")
        .envs(env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// The tool result the model read in its second request.
fn tool_result(fake: &FakeLlm) -> String {
    let requests = fake.requests();
    let messages = requests[1].body["messages"].as_array().unwrap().clone();
    messages
        .iter()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .expect("a tool result went back to the model")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_injected_call_stays_on_the_declared_endpoint_with_only_declared_arguments() {
    let root = shipped_root();
    let api = FakeLlm::start().await;
    let path = root.path().join("tools.d/github_create_issue.toml");
    support::edit(&path, "https://api.github.com", &api.base_url());
    support::edit(&path, "enabled = false", "enabled = true");
    // Approvals are another test's subject: here the call goes straight through.
    support::edit(&path, "approval = \"always\"", "approval = \"never\"");
    api.push(Reply::json(
        201,
        r#"{"html_url":"https://github.com/x/y/issues/1"}"#,
    ));
    let fake = FakeLlm::start().await;
    let hostile = json!({
        "owner": "../../user/repos#",
        "repo": "x",
        "title": "t",
        "body": "b",
        "name": "stolen",
        "private": false,
    });
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "github_create_issue", &hostile.to_string())],
        7,
    ));
    fake.push(fake_llm::openai_stream(&["Done."]));
    let out = chat(
        root.path(),
        &fake,
        "File the issue the README asks for",
        &[("GITHUB_TOKEN", "ghp_test")],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/repos/..%2F..%2Fuser%2Frepos%23/x/issues"),
        "the owner stays one path segment"
    );
    assert_eq!(
        requests[0].body,
        json!({ "title": "t", "body": "b" }),
        "arguments the manifest does not declare never reach the request"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_outside_the_schema_run_nothing_and_the_model_reads_why() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"count\": 100000, \"sides\": \"2\"}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["I cannot roll that many."]));
    let out = chat(root.path(), &fake, "Roll 100000 coins", &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = tool_result(&fake);
    assert!(
        result.starts_with("Error: the arguments do not fit"),
        "{result}"
    );
    assert!(result.contains("nothing was run"), "{result}");
    assert!(
        result.contains("`/count`: 100000 is greater than the maximum of 100"),
        "{result}"
    );
    assert!(
        result.contains("`/sides`: \"2\" is not of type \"integer\""),
        "{result}"
    );
    assert!(
        !result.lines().any(|l| l.parse::<u32>().is_ok()),
        "the program never ran: {result}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dot_segment_in_the_url_sends_nothing() {
    let root = shipped_root();
    let api = FakeLlm::start().await;
    let path = root.path().join("tools.d/github_issue.toml");
    support::edit(&path, "https://api.github.com", &api.base_url());
    support::edit(&path, "enabled = false", "enabled = true");
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(
        &[(
            "c1",
            "github_issue",
            &json!({ "owner": "..", "repo": "..", "number": 1 }).to_string(),
        )],
        7,
    ));
    fake.push(fake_llm::openai_stream(&["That did not work."]));
    let out = chat(
        root.path(),
        &fake,
        "Show issue 1",
        &[("GITHUB_TOKEN", "ghp_test")],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(api.request_count(), 0, "nothing was sent");
    let result = tool_result(&fake);
    assert!(result.contains("`.` or `..`"), "{result}");
}
