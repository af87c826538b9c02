//! Turn events fire at their real moments, in order, each with the turn's platform, user,
//! conversation and one request id.

use crate::support;

use std::sync::Arc;

use crate::support::fake_llm::{self, FakeLlm};
use clara::live::Live;
use clara_config::model::common::EventName;
use clara_core::engine::{Event, EventData, RecordedEvents, SystemClock};

/// A running clara on a copy of the shipped root, its model the fake server (4xx answers are
/// not retried), memory off, and every event it fires recorded.
async fn start(fake: &FakeLlm) -> (tempfile::TempDir, Arc<Live>, Arc<RecordedEvents>) {
    let root = support::shipped_root();
    let url = fake.base_url();
    let vars = [
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    let events = Arc::new(RecordedEvents::default());
    let live = Live::start(
        support::loader(root.path(), &vars),
        Arc::new(SystemClock),
        events.clone(),
    )
    .await
    .unwrap();
    (root, live, events)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_turn_fires_its_events_in_order_with_one_request_id() {
    let fake = FakeLlm::start().await;
    let (_root, live, events) = start(&fake).await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["A four."]));
    let incoming = |text: &str| support::message("ann", text);
    let generation = live.current();
    generation
        .handle_message(incoming("roll one"), &|_| {})
        .await
        .unwrap();
    generation
        .handle_message(incoming("clara stop"), &|_| {})
        .await
        .unwrap();

    let fired = events.events();
    let names: Vec<EventName> = fired.iter().map(Event::name).collect();
    assert_eq!(
        names,
        [
            EventName::SessionStart,
            EventName::MessageReceived,
            EventName::LlmUsage,
            EventName::ToolStart,
            EventName::ToolEnd,
            EventName::LlmUsage,
            EventName::MessageSent,
            EventName::MessageCancelled,
        ]
    );
    let first = fired[0].request_id.clone().expect("a request id");
    for event in &fired[..7] {
        assert_eq!(
            event.request_id.as_deref(),
            Some(first.as_str()),
            "{event:?}"
        );
        assert_eq!(event.platform.as_deref(), Some("chat"));
        assert_eq!(event.user_id.as_deref(), Some("ann"));
        assert_eq!(event.channel_id.as_deref(), Some("dm-ann"));
    }
    // Each model call's usage, as the fake server reported it (10 prompt tokens, 4 cached),
    // priced by the shipped table (the base model is claude-sonnet-4).
    let usage = fired[2].data.to_json();
    assert_eq!(usage["provider"], "openrouter");
    assert_eq!(usage["model"], "anthropic/claude-sonnet-4");
    assert_eq!(usage["purpose"], "turn");
    assert_eq!(
        (
            &usage["input_tokens"],
            &usage["cache_read_tokens"],
            &usage["cost_micros"]
        ),
        (
            &serde_json::json!(6),
            &serde_json::json!(4),
            &serde_json::json!(34)
        ),
        "{usage}"
    );
    let cancelled = &fired[7];
    assert_ne!(
        cancelled.request_id.as_deref(),
        Some(first.as_str()),
        "a new turn, a new id"
    );
    assert_eq!(cancelled.data.to_json()["reason"], "stop_phrase");
    live.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_turn_fires_message_failed_on_every_adapter() {
    let fake = FakeLlm::start().await;
    let (_root, live, events) = start(&fake).await;
    fake.push(fake_llm::error_json(400, "bad request"));
    let outcome = live
        .current()
        .handle_message(support::message("ann", "hello"), &|_| {})
        .await
        .unwrap();
    assert!(outcome.error().is_some(), "the turn failed: {outcome:?}");
    let fired = events.events();
    let failed: Vec<_> = fired
        .iter()
        .filter_map(|e| match &e.data {
            EventData::MessageFailed(failed) => Some((e, failed)),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{fired:?}");
    let (event, data) = failed[0];
    assert_eq!(event.platform.as_deref(), Some("chat"));
    assert!(data.stored);
    assert!(data.error.contains("bad request"), "{data:?}");
    assert!(fired.iter().all(|e| e.name() != EventName::MessageSent));
    live.shutdown().await;
}
