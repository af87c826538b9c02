//! Prompt caching over the wire: the start of every prompt (tools, instructions, persona,
//! background, history) repeats byte for byte from turn to turn and across a reload that does
//! not touch it, carries `cache_control` where each format wants it, and the cache use the
//! server reports is what clara records.

use std::path::Path;
use std::sync::Arc;

use clara::live::Live;
use clara_core::engine::{EventData, RecordedEvents, SystemClock};
use serde_json::Value;

use crate::support;
use crate::support::fake_llm::{self, CacheUse, FakeLlm, Reply};

async fn start(
    root: &Path,
    fake: &FakeLlm,
    vars: &[(&str, &str)],
) -> (Arc<Live>, Arc<RecordedEvents>) {
    let url = fake.base_url();
    let mut all = vec![
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    all.extend_from_slice(vars);
    let events = Arc::new(RecordedEvents::default());
    let live = Live::start(
        support::loader(root, &all),
        Arc::new(SystemClock),
        events.clone(),
    )
    .await
    .unwrap();
    (live, events)
}

async fn say(live: &Live, fake: &FakeLlm, reply: Reply, text: &str) {
    fake.push(reply);
    live.current()
        .handle_message(support::message("ann", text), &|_| {})
        .await
        .unwrap();
}

fn is_marked(block: &Value) -> bool {
    block.get("cache_control") == Some(&serde_json::json!({ "type": "ephemeral" }))
}

/// The request's cached start as the API sees it: the tools, system and message blocks up to
/// the last mark, marks taken off, as one JSON text per block.
fn anthropic_start(body: &Value) -> Vec<String> {
    let mut blocks: Vec<Value> = body["tools"].as_array().cloned().unwrap_or_default();
    blocks.extend(body["system"].as_array().cloned().unwrap_or_default());
    for message in body["messages"].as_array().unwrap() {
        for block in message["content"].as_array().unwrap() {
            let mut block = block.clone();
            block["role"] = message["role"].clone();
            blocks.push(block);
        }
    }
    let end = blocks.iter().rposition(is_marked).expect("a marked block");
    blocks[..=end]
        .iter()
        .map(|b| {
            let mut b = b.clone();
            b.as_object_mut().unwrap().remove("cache_control");
            b.to_string()
        })
        .collect()
}

fn chat_requests(fake: &FakeLlm) -> Vec<Value> {
    let requests = fake.requests();
    let chats = requests
        .into_iter()
        .filter(|r| !r.path.ends_with("/embeddings"));
    chats.map(|r| r.body).collect()
}

/// The cache use each turn's `llm:usage` event recorded.
fn recorded(events: &RecordedEvents) -> Vec<CacheUse> {
    let usage = events.events().into_iter().filter_map(|e| match e.data {
        EventData::LlmUsage(u) => Some(u),
        _ => None,
    });
    usage
        .map(|u| CacheUse {
            total: u64::from(u.input_tokens + u.cache_read_tokens + u.cache_write_tokens),
            read: u64::from(u.cache_read_tokens),
            written: u64::from(u.cache_write_tokens),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_prompts_keep_their_cached_start_and_clara_records_the_cache_use() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    fake.prompt_cache();
    let vars = [("CLARA_PROVIDERS__OPENROUTER__KIND", "anthropic")];
    let (live, events) = start(root.path(), &fake, &vars).await;
    let reply = |text: &str| fake_llm::anthropic_stream(&[text]);

    say(&live, &fake, reply("Hello Ann."), "hello").await;
    say(&live, &fake, reply("Fine, thanks."), "how are you?").await;
    // An edit outside the cached start: the context block, which heads the new message.
    support::edit(
        &root.path().join("pipelines/chat.toml"),
        "## Current Context",
        "## Right now",
    );
    live.reload().await;
    say(&live, &fake, reply("Sure."), "tell me more").await;
    // An edit inside it: the persona.
    support::edit(
        &root.path().join("personas/clara.md"),
        "You are Clara,",
        "You are Clara (edited),",
    );
    live.reload().await;
    say(&live, &fake, reply("Yes?"), "and now?").await;

    let bodies = chat_requests(&fake);
    assert_eq!(bodies.len(), 4);
    let first = &bodies[0];
    let tools = first["tools"].as_array().unwrap();
    assert!(
        is_marked(tools.last().unwrap()),
        "the last tool definition is marked"
    );
    assert!(tools[..tools.len() - 1].iter().all(|t| !is_marked(t)));
    let system = first["system"].as_array().unwrap();
    assert!(
        is_marked(system.last().unwrap()),
        "the end of the system blocks is marked"
    );
    let new = first["messages"].as_array().unwrap().last().unwrap();
    let new_blocks = new["content"].as_array().unwrap();
    assert!(
        new_blocks[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("## Current Context")
    );
    assert_eq!(new_blocks.last().unwrap()["text"], "hello");
    assert!(
        new_blocks.iter().all(|b| !is_marked(b)),
        "the new message is not cached"
    );

    let second = &bodies[1];
    let messages = second["messages"].as_array().unwrap();
    let history_end = &messages[messages.len() - 2];
    assert_eq!(history_end["role"], "assistant");
    assert!(is_marked(
        history_end["content"].as_array().unwrap().last().unwrap()
    ));

    let starts: Vec<Vec<String>> = bodies.iter().map(anthropic_start).collect();
    for (n, pair) in starts[..3].windows(2).enumerate() {
        assert!(
            pair[1].starts_with(&pair[0]),
            "turn {} repeats turn {}'s cached start byte for byte",
            n + 2,
            n + 1
        );
    }
    assert!(
        !starts[3].starts_with(&starts[2]),
        "a persona edit starts a new prefix"
    );

    let used = fake.cache_uses();
    assert_eq!(used[0].read, 0);
    assert!(used[0].written > 0);
    assert_eq!(
        used[1].read, used[0].written,
        "the second turn reads the first one's start"
    );
    assert_eq!(
        used[2].read,
        used[1].read + used[1].written,
        "after a reload that left the start alone, all of it is read"
    );
    // The fake counts a quarter token per byte of each unmarked block.
    let tools_only: u64 = starts[3]
        .iter()
        .take(tools.len())
        .map(|b| (b.len() as u64 / 4).max(1))
        .sum();
    assert_eq!(
        used[3].read, tools_only,
        "after the persona changed only the tools are read"
    );
    assert_eq!(
        recorded(&events),
        used,
        "clara records what the server reported"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_compatible_servers_get_cache_marks_only_when_asked() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let (live, _) = start(root.path(), &fake, &[]).await;
    say(&live, &fake, fake_llm::openai_stream(&["Hi."]), "hello").await;
    let plain = &chat_requests(&fake)[0];
    assert!(
        !plain.to_string().contains("cache_control"),
        "off by default for `openai`"
    );
    assert!(plain["messages"][0]["content"].is_string());

    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    fake.prompt_cache();
    let vars = [("CLARA_PROVIDERS__OPENROUTER__PROMPT_CACHE", "true")];
    let (live, events) = start(root.path(), &fake, &vars).await;
    say(&live, &fake, fake_llm::openai_stream(&["Hi."]), "hello").await;
    say(
        &live,
        &fake,
        fake_llm::openai_stream(&["Fine."]),
        "how are you?",
    )
    .await;
    let bodies = chat_requests(&fake);
    let messages = bodies[1]["messages"].as_array().unwrap();
    let marked: Vec<&str> = messages
        .iter()
        .filter(|m| {
            m["content"]
                .as_array()
                .is_some_and(|parts| parts.last().is_some_and(is_marked))
        })
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        marked,
        ["system", "assistant"],
        "the last system message and the history's end"
    );
    let last = messages.last().unwrap();
    assert!(
        last["content"].is_string(),
        "the new message goes as plain text"
    );
    let used = fake.cache_uses();
    assert_eq!(used[1].read, used[0].written);
    assert_eq!(
        recorded(&events),
        used,
        "OpenRouter's cached_tokens and cache_write_tokens"
    );
}

/// Fifty turns of one session against the caching fake: how much of the prompt the cache
/// served. Without the stable-first prompt and the held history start, the history part
/// would miss on every turn once the history is full.
#[tokio::test(flavor = "multi_thread")]
async fn a_fifty_turn_conversation_reads_most_of_its_prompt_from_the_cache() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    fake.prompt_cache();
    let vars = [("CLARA_PROVIDERS__OPENROUTER__KIND", "anthropic")];
    let (live, _) = start(root.path(), &fake, &vars).await;
    for n in 1..=50 {
        let text =
            format!("Here is thought number {n} about the garden, the weather and the week ahead.");
        let reply = fake_llm::anthropic_stream(&["That sounds lovely; tell me more about it."]);
        say(&live, &fake, reply, &text).await;
    }
    let used = fake.cache_uses();
    assert_eq!(used.len(), 50);
    let (total, read, written) = used.iter().fold((0, 0, 0), |(t, r, w), u| {
        (t + u.total, r + u.read, w + u.written)
    });
    let rate = read as f64 / total as f64;
    eprintln!(
        "50 turns: {total} prompt tokens, {read} read from the cache ({:.1}%), {written} written",
        rate * 100.0
    );
    let missed_history = used[20..]
        .windows(2)
        .filter(|w| w[1].read < w[0].read + w[0].written / 2)
        .count();
    eprintln!("turns after the 20th whose history start moved: {missed_history} of 29");
    assert!(
        rate > 0.6,
        "most of the prompt comes from the cache: {rate}"
    );
}
