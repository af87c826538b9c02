//! Sessions that go idle are ended and summarised in the background by `clara run`'s worker,
//! so the first message of the next session already has the previous one's summary.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::fake_llm::{self, FakeLlm};
use clara::app::{App, Features};
use clara_core::engine::ManualClock;

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_is_summarised_before_the_next_message_arrives() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let url = fake.base_url();
    let vars = [
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
        ("CLARA_RUNTIME__WATCH", "false"),
    ];
    let clock = Arc::new(ManualClock::new(1_764_000_000_000));
    let app = App::start(
        support::loader(root.path(), &vars),
        clock.clone(),
        Features {
            jobs: true,
            ..Features::default()
        },
    )
    .await
    .unwrap();
    fake.push(fake_llm::openai_stream(&["Nice to meet you, Sam."]));
    let first = app
        .live
        .current()
        .handle_message(support::message("sam", "I'm Sam, I love hiking"), &|_| {})
        .await
        .unwrap();
    assert_eq!(first.reply(), Some("Nice to meet you, Sam."));

    // Half an hour and a minute later, with nobody writing, the worker ends the session and
    // writes its summary on its own.
    fake.push(fake_llm::openai_json(
        "Sam introduced themselves and their love of hiking.",
    ));
    clock.advance(31 * 60_000);
    let started = Instant::now();
    while !fake
        .requests()
        .iter()
        .any(|r| r.body.to_string().contains("Summarise the conversation"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no summary was written: {} requests",
            fake.request_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    fake.push(fake_llm::openai_stream(&["Welcome back!"]));
    let second = app
        .live
        .current()
        .handle_message(support::message("sam", "Hi again"), &|_| {})
        .await
        .unwrap();
    assert_eq!(second.reply(), Some("Welcome back!"));
    let requests = fake.requests();
    let turn = requests
        .iter()
        .rev()
        .find(|r| r.body["stream"] == true)
        .unwrap();
    assert!(
        turn.body.to_string().contains(
            "PREVIOUS SESSION SUMMARY:\\nSam introduced themselves and their love of hiking."
        ),
        "the first message of the new session has the summary: {}",
        turn.body
    );
    app.shutdown("test").await;
}
