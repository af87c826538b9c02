//! Step options that had no test of their own: each test edits the shipped chat pipeline (or
//! persona) and shows the option's effect on what reaches the model or the user.

use crate::support;

use std::path::Path;
use std::sync::Arc;

use crate::support::fake_llm::{self, FakeLlm};
use clara::live::Live;
use clara_core::engine::{Conversation, Incoming, Outcome, RecordedEvents, SystemClock};
use serde_json::Value;

async fn start(root: &Path, fake: &FakeLlm) -> Arc<Live> {
    let url = fake.base_url();
    let vars = [
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    Live::start(
        support::loader(root, &vars),
        Arc::new(SystemClock),
        Arc::new(RecordedEvents::default()),
    )
    .await
    .unwrap()
}

async fn handle(live: &Live, incoming: Incoming) -> Outcome {
    live.current()
        .handle_message(incoming, &|_| {})
        .await
        .unwrap()
}

fn chat_pipeline(root: &Path) -> std::path::PathBuf {
    root.join("pipelines/chat.toml")
}

fn messages(request: &Value) -> Vec<Value> {
    request["messages"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_options_shape_what_is_stored_and_sent() {
    let root = support::shipped_root();
    let chat = chat_pipeline(root.path());
    support::edit(
        &chat,
        "max_message_chars = 100000",
        "max_message_chars = 10",
    );
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake).await;

    // A bot's message needs no answer (`drop_bots`).
    let mut from_bot = support::message("helper-bot", "beep");
    from_bot.from_bot = true;
    assert_eq!(handle(&live, from_bot).await.reply(), None);
    assert_eq!(fake.request_count(), 0);

    // In a channel: the author's name prefixed (`name_prefix`), mentions removed
    // (`strip_mentions`), and the text cut (`max_message_chars`).
    fake.push(fake_llm::openai_stream(&["Ok."]));
    let channel = Incoming {
        conversation: Conversation {
            id: "channel-7".to_owned(),
            is_dm: false,
            channel_name: Some("general".to_owned()),
            server_name: None,
        },
        ..support::message("ann", "<@123> hello everyone out there")
    };
    handle(&live, channel).await;
    let sent = messages(&fake.requests()[0].body);
    let said = sent.last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(
        said.ends_with("\n\n[ann]: hello ever\n[message cut: too long]"),
        "after the context block: {said}"
    );

    // Turned off, the name and the mention stay.
    support::edit(&chat, "strip_mentions = true", "strip_mentions = false");
    support::edit(&chat, "name_prefix = true", "name_prefix = false");
    support::edit(&chat, "max_message_chars = 10", "max_message_chars = 1000");
    live.reload().await;
    fake.push(fake_llm::openai_stream(&["Ok."]));
    let channel = Incoming {
        conversation: Conversation {
            id: "channel-8".to_owned(),
            is_dm: false,
            channel_name: Some("general".to_owned()),
            server_name: None,
        },
        ..support::message("ann", "<@123> hello")
    };
    handle(&live, channel).await;
    let sent = messages(&fake.requests()[1].body);
    let said = sent.last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(said.ends_with("\n\n<@123> hello"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn build_context_options_shape_the_prompt() {
    let root = support::shipped_root();
    let chat = chat_pipeline(root.path());
    support::edit(
        &chat,
        "now_format = \"%A, %B %-d, %Y at %H:%M %Z\"",
        "now_format = \"NOW<%Y>\"\ntimezone = \"Asia/Tokyo\"",
    );
    support::edit(
        &chat,
        "timestamp_format = \"%-I:%M %p\"",
        "timestamp_format = \"AT<%H>\"",
    );
    support::edit(
        &chat,
        "You can use tools. When a tool",
        "INSTRUCTIONS-MARK. You can use tools. When a tool",
    );
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake).await;
    fake.push(fake_llm::openai_stream(&["One."]));
    handle(&live, support::message("ann", "first")).await;
    fake.push(fake_llm::openai_stream(&["Two."]));
    handle(&live, support::message("ann", "second")).await;
    let request = &fake.requests()[1].body;
    let system = support::told(request);
    assert!(system.contains("INSTRUCTIONS-MARK"), "{system}");
    assert!(system.contains("Current time: NOW<20"), "{system}");
    let first = messages(request)
        .into_iter()
        .find(|m| m["role"] == "user")
        .unwrap();
    assert!(
        first["content"].as_str().unwrap().starts_with("[AT<"),
        "history carries its time in `timestamp_format`: {first}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn llm_call_options_reach_the_request() {
    let root = support::shipped_root();
    support::edit(
        &chat_pipeline(root.path()),
        "type = \"llm_call\"\nstream = true",
        "type = \"llm_call\"\nstream = true\ntier = \"low\"\nmax_tokens = 321\ntemperature = 0.7\ntool_call_mode = \"xml\"",
    );
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake).await;
    fake.push(fake_llm::openai_stream(&["Hi."]));
    handle(&live, support::message("ann", "hello")).await;
    let request = &fake.requests()[0].body;
    assert_eq!(request["max_tokens"], 321);
    assert!((request["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
    assert!(
        request.get("tools").is_none(),
        "xml mode describes tools in the prompt"
    );
    assert!(support::told(request).contains("<function_calls>"));
    assert_eq!(
        request["model"], "anthropic/claude-sonnet-4",
        "a tool-bound call never runs on the low tier: the base model"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_loop_limits_cut_results_and_calls() {
    let root = support::shipped_root();
    let chat = chat_pipeline(root.path());
    support::edit(&chat, "max_calls_per_turn = 200", "max_calls_per_turn = 2");
    support::edit(&chat, "max_result_chars = 50000", "max_result_chars = 100");
    support::edit(
        &chat,
        "[TRUNCATED: the result was {{ total_chars }} characters",
        "[CUT-MARK {{ shown_chars }} of {{ total_chars }}",
    );
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake).await;
    let roll = r#"{"sides": 6, "count": 100}"#;
    fake.push(fake_llm::openai_tool_stream(
        &[
            ("c1", "roll_dice", roll),
            ("c2", "roll_dice", roll),
            ("c3", "roll_dice", roll),
        ],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["Done."]));
    handle(&live, support::message("ann", "roll a lot")).await;
    let requests = fake.requests();
    let results: Vec<String> = messages(&requests[1].body)
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].contains("[CUT-MARK 100 of "), "{}", results[0]);
    assert_eq!(
        results[2], "Not run: the limit of tool calls for this message was reached.",
        "`max_calls_per_turn`"
    );
    assert!(
        requests[1].body.get("tools").is_none(),
        "at the cap the closing call offers no tools"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_continue_answers_a_request_for_permission() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake).await;
    fake.push(fake_llm::openai_stream(&[
        "I found three flats. Want me to compare them?",
    ]));
    fake.push(fake_llm::openai_stream(&["The second is best."]));
    let outcome = handle(&live, support::message("ann", "find me a flat")).await;
    assert_eq!(
        outcome.reply(),
        Some("I found three flats. Want me to compare them?\n\nThe second is best.")
    );
    let second = messages(&fake.requests()[1].body);
    assert_eq!(second.last().unwrap()["content"], "Yes, please proceed.");

    support::edit(
        &chat_pipeline(root.path()),
        "[steps.auto_continue]\nenabled = true",
        "[steps.auto_continue]\nenabled = false",
    );
    live.reload().await;
    fake.push(fake_llm::openai_stream(&["Want me to book it?"]));
    let outcome = handle(&live, support::message("ann", "and a hotel?")).await;
    assert_eq!(outcome.reply(), Some("Want me to book it?"));
    assert_eq!(fake.request_count(), 3, "no automatic yes when turned off");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_personas_name_inline_prompt_and_prompt_file_are_used() {
    let root = support::shipped_root();
    let persona = root.path().join("personas/clara.toml");
    support::edit(
        &persona,
        "display_name = \"Clara\"",
        "display_name = \"Clarabelle\"",
    );
    std::fs::write(
        root.path().join("personas/other.md"),
        "From the file: I am {{ persona }}.",
    )
    .unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&persona)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"\nprompt_file = \"other.md\"\n"))
        .unwrap();
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake).await;
    fake.push(fake_llm::openai_stream(&["Hi."]));
    handle(&live, support::message("ann", "who are you?")).await;
    assert!(support::told(&fake.requests()[0].body).contains("From the file: I am Clarabelle."));

    let text = std::fs::read_to_string(&persona).unwrap().replace(
        "prompt_file = \"other.md\"",
        "prompt = \"Inline: {{ persona }} here.\"",
    );
    std::fs::write(&persona, text).unwrap();
    live.reload().await;
    fake.push(fake_llm::openai_stream(&["Hi."]));
    handle(&live, support::message("ann", "and now?")).await;
    assert!(support::told(&fake.requests()[1].body).contains("Inline: Clarabelle here."));
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_answers_past_its_limit_without_the_model_and_keeps_the_message() {
    let root = support::shipped_root();
    let chat = chat_pipeline(root.path());
    support::edit(
        &chat,
        "max_message_chars = 100000\n",
        "max_message_chars = 100000\n\n[[steps]]\ntype = \"rate_limit\"\nmessages = 2\nwindow_secs = 600\n",
    );
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake).await;
    for text in ["one", "two"] {
        fake.push(fake_llm::openai_stream(&["Ok."]));
        assert_eq!(
            handle(&live, support::message("ann", text)).await.reply(),
            Some("Ok.")
        );
    }
    let third = handle(&live, support::message("ann", "three")).await;
    assert_eq!(
        third.reply(),
        Some(
            "That's more than 2 messages in 10 minutes, faster than I can keep up with. Give me a moment and try again."
        )
    );
    assert_eq!(fake.request_count(), 2, "no model call past the limit");
    // The message that went over the limit is stored all the same.
    let store = &live.current().services.store;
    let session = store.open_session("ann", "dm-ann").await.unwrap().unwrap();
    let stored: Vec<String> = store
        .recent_messages(&session.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert!(stored.contains(&"three".to_owned()), "{stored:?}");
    // Someone else is not limited by ann's messages; an admin is never limited.
    fake.push(fake_llm::openai_stream(&["Hi bob."]));
    assert_eq!(
        handle(&live, support::message("bob", "hey")).await.reply(),
        Some("Hi bob.")
    );
    fake.push(fake_llm::openai_stream(&["Yes?"]));
    let admin = Incoming {
        is_admin: true,
        ..support::message("ann", "four")
    };
    assert_eq!(handle(&live, admin).await.reply(), Some("Yes?"));

    // Per channel, everyone's messages count together.
    support::edit(
        &chat,
        "type = \"rate_limit\"\n",
        "type = \"rate_limit\"\nper = \"channel\"\n",
    );
    support::edit(&chat, "messages = 2\n", "messages = 1\n");
    live.reload().await;
    let in_channel = |user: &str, text: &str| Incoming {
        conversation: Conversation {
            id: "channel-9".to_owned(),
            is_dm: false,
            channel_name: Some("general".to_owned()),
            server_name: None,
        },
        ..support::message(user, text)
    };
    fake.push(fake_llm::openai_stream(&["Morning."]));
    assert_eq!(
        handle(&live, in_channel("carol", "morning")).await.reply(),
        Some("Morning.")
    );
    let limited = handle(&live, in_channel("dave", "me too")).await;
    assert!(
        limited
            .reply()
            .unwrap()
            .starts_with("That's more than 1 message in 10 minutes"),
        "{limited:?}"
    );
}
