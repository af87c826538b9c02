//! A model server that sends far more than any reply should be: the reply is cut at the
//! provider's `max_reply_bytes` (its stream closed), a whole body past its allowance is an
//! error, and what is stored and re-sent as history stays within the budget.

use crate::support;

use std::sync::Mutex;

use crate::support::fake_llm::{self, FakeLlm};
use crate::support::{clara, shipped_root};
use clara::llm::HttpProvider;
use clara_config::Env;
use clara_config::model::provider::ProviderConfig;
use clara_core::llm::{ChatRequest, Message, Provider, ProviderErrorKind, StopReason};

fn provider(fake: &FakeLlm, max_reply_bytes: u32) -> HttpProvider {
    let config: ProviderConfig = toml::from_str(&format!(
        "kind = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\nmax_reply_bytes = {max_reply_bytes}\nretry = {{ max_retries = 0 }}\n",
        fake.base_url()
    ))
    .unwrap();
    HttpProvider::new("test", &config, &Env::default()).unwrap()
}

/// `count` deltas of `size` characters each.
fn flood(count: usize, size: usize) -> Vec<String> {
    (0..count)
        .map(|i| ((b'a' + (i % 26) as u8) as char).to_string().repeat(size))
        .collect()
}

#[tokio::test]
async fn a_streamed_reply_is_cut_at_the_cap_and_its_stream_closed() {
    let fake = FakeLlm::start().await;
    let deltas = flood(2_000, 1_000);
    let pieces: Vec<&str> = deltas.iter().map(String::as_str).collect();
    fake.push(fake_llm::openai_stream(&pieces));
    let shown = Mutex::new(0usize);
    let response = provider(&fake, 4_096)
        .chat(&ChatRequest::new(vec![Message::user("talk")]), &|d| {
            *shown.lock().unwrap() += d.len();
        })
        .await
        .unwrap();
    assert_eq!(response.text.len(), 4_096);
    assert_eq!(*shown.lock().unwrap(), 4_096, "no more was shown than kept");
    assert_eq!(response.stop_reason, StopReason::MaxTokens);
}

#[tokio::test]
async fn a_whole_body_past_its_allowance_is_an_error_not_a_memory_hog() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_json(&"x".repeat(1_000_000)));
    let error = provider(&fake, 4_096)
        .chat(
            &ChatRequest {
                stream: false,
                ..ChatRequest::new(vec![Message::user("talk")])
            },
            &|_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error.kind, ProviderErrorKind::Decode(why) if why.contains("larger than")),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_is_stored_and_sent_again_stays_within_the_caps() {
    let root = shipped_root();
    support::edit(
        &root.path().join("pipelines/chat.toml"),
        "history_max_chars = 48000",
        "history_max_chars = 3000",
    );
    let fake = FakeLlm::start().await;
    let deltas = flood(5_000, 1_000);
    let pieces: Vec<&str> = deltas.iter().map(String::as_str).collect();
    fake.push(fake_llm::openai_stream(&pieces));
    fake.push(fake_llm::openai_stream(&["Short."]));
    let run = |message: &'static str| {
        let mut command = clara(root.path());
        command
            .args(["chat", "-m", message])
            .env("OPENROUTER_API_KEY", "k")
            .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
            .env("CLARA_PROVIDERS__OPENROUTER__MAX_REPLY_BYTES", "8192")
            .env("CLARA_MEMORY__ENABLED", "false");
        move || command.output().unwrap()
    };
    let first = tokio::task::spawn_blocking(run("say a lot")).await.unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(first.stdout.len(), 8_193, "the cut reply and a newline");
    let second = tokio::task::spawn_blocking(run("and now?")).await.unwrap();
    assert!(second.status.success());
    let messages = fake.requests()[1].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    // The history: every message but the system ones and the new one (the last).
    let history: usize = messages[..messages.len() - 1]
        .iter()
        .filter(|m| m["role"] != "system")
        .map(|m| m["content"].as_str().unwrap_or_default().chars().count())
        .sum();
    assert!(history <= 3_100, "history sent: {history} characters");
}
