//! The engine on its own: real config files, the real steps and the in-memory store, with a
//! scripted model in place of a provider. Fast enough to cover behaviour that the binary's
//! tests reach only through HTTP.

use std::path::Path;
use std::sync::Arc;

use clara_config::Env;
use clara_core::engine::{
    Approvers, Clock, Conversation, Event, EventData, Generation, Incoming, ManualClock, Outcome,
    Parts, RecordedEvents, TurnEnd, memory_tools,
};
use clara_core::llm::{
    ChatResponse, Provider, ProviderErrorKind, Role, ScriptedProvider, ToolCall,
};
use clara_core::store::{InMemoryStore, Store};
use serde_json::json;

#[path = "engine/approvals.rs"]
mod approvals;
#[path = "engine/budgets.rs"]
mod budgets;
#[path = "engine/prompt_cache.rs"]
mod prompt_cache;
#[path = "engine/rate_limits.rs"]
mod rate_limits;

const CLARA_TOML: &str = r#"
[defaults]
persona = "clara"
provider = "scripted"
store = "main"
timezone = "UTC"

[providers.scripted]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "SCRIPTED_KEY"
model = "m"

[memory]
enabled = true

[sessions]
idle_timeout_minutes = 30

[stores.main]
type = "sqlite"
path = "data/clara.db"
"#;

const PERSONA: &str = r#"
display_name = "Clara"
prompt = "You are {{ persona }}, talking with {{ user_name }}."
error_reply = "Oops, saved your message."
tools = ["memory_*"]
"#;

const CHAT: &str = r#"
triggers = [{ type = "message" }]

[[steps]]
type = "ingest"
dedupe_window_secs = 30

[[steps]]
type = "build_context"

[[steps]]
type = "llm_call"

[[steps]]
type = "tool_loop"
tools = ["memory_*"]

[[steps]]
id = "remember"
type = "write_memory"
extraction_prompt = "EXTRACT for {{ user_name }}: {% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}"
reconcile_prompt = "RECONCILE {{ facts | length }} facts"
"#;

const SUMMARY: &str = r#"
triggers = [{ type = "session_end" }]

[[steps]]
type = "build_context"
history_source = "ended_session"
memories = false

[[steps]]
type = "llm_call"
instruction = "Summarise."

[[steps]]
type = "write_memory"
store_reply = false
extract = false
save_as_session_summary = true
"#;

/// What a scheduled task runs: no trigger, no message to store.
const CHECK_IN: &str = r#"
[[steps]]
type = "build_context"

[[steps]]
type = "llm_call"
instruction = "Check in on {{ user_name }}."
"#;

/// An answer as the scripted model gives it.
fn reply(text: &str, tool_calls: Vec<ToolCall>) -> ChatResponse {
    ScriptedProvider::new("scripted", "m").reply(text, tool_calls)
}

struct Engine {
    _root: tempfile::TempDir,
    generation: Generation,
    model: Arc<ScriptedProvider>,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    events: Arc<RecordedEvents>,
    approvers: Arc<Approvers>,
}

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    let folder = path.parent().expect("a file in a folder");
    std::fs::create_dir_all(folder).expect("the folder can be made");
    std::fs::write(path, text).expect("the file can be written");
}

/// The test root with `chat` as given; the persona and summary pipeline as above.
fn engine_with(chat: &str) -> Engine {
    engine_from(CLARA_TOML, chat, None)
}

/// The test root with `clara.toml` and `chat` as given, answering with `model` (the scripted
/// one when `None`).
fn engine_from(clara: &str, chat: &str, model: Option<Arc<dyn Provider>>) -> Engine {
    engine_at(clara, PERSONA, chat, model)
}

/// The test root with `clara.toml`, the persona file and `chat` as given.
fn engine_at(clara: &str, persona: &str, chat: &str, model: Option<Arc<dyn Provider>>) -> Engine {
    let root = tempfile::tempdir().expect("a temporary root");
    write(root.path(), "clara.toml", clara);
    write(root.path(), "personas/clara.toml", persona);
    write(root.path(), "pipelines/chat.toml", chat);
    write(root.path(), "pipelines/summary.toml", SUMMARY);
    write(root.path(), "pipelines/check_in.toml", CHECK_IN);
    let config = clara_config::load_with_env(root.path(), Env::from_vars([]))
        .unwrap_or_else(|e| panic!("the test root is valid: {e}"));
    let scripted = Arc::new(ScriptedProvider::new("scripted", "m"));
    let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let events = Arc::new(RecordedEvents::default());
    let approvers = Arc::new(Approvers::default());
    let generation = Generation::new(Parts {
        config: Arc::new(config),
        providers: [(
            "scripted".to_owned(),
            model.unwrap_or_else(|| scripted.clone() as Arc<dyn Provider>),
        )]
        .into(),
        embedder: None,
        store: store.clone(),
        tools: memory_tools(),
        tool_sources: Vec::new(),
        clock: clock.clone(),
        events: events.clone(),
        approvers: approvers.clone(),
    })
    .expect("the generation builds");
    Engine {
        _root: root,
        generation,
        model: scripted,
        store,
        clock,
        events,
        approvers,
    }
}

fn engine() -> Engine {
    engine_with(CHAT)
}

fn dm(user: &str, text: &str) -> Incoming {
    Incoming::text("chat", user, "Ann", Conversation::dm(user), text.to_owned())
}

impl Engine {
    async fn send(&self, text: &str) -> Outcome {
        self.generation
            .handle_message(dm("ann", text), &|_| {})
            .await
            .expect("the turn is answered")
    }

    async fn history(&self) -> Vec<(Role, String)> {
        let latest = self.store.latest_session("ann", "dm-ann").await;
        let Some(session) = latest.expect("the store answers") else {
            return Vec::new();
        };
        let messages = self.store.recent_messages(&session.id, 100).await;
        let messages = messages.expect("the store answers");
        messages.into_iter().map(|m| (m.role, m.content)).collect()
    }

    fn names(&self) -> Vec<&'static str> {
        self.events
            .events()
            .iter()
            .map(|e: &Event| e.name().as_str())
            .collect()
    }
}

#[tokio::test]
async fn a_reply_is_stored_after_the_message_and_the_prompt_comes_from_the_files() {
    let engine = engine();
    engine.model.say("Hi Ann!");
    let outcome = engine.send("hello").await;
    assert_eq!(outcome.reply(), Some("Hi Ann!"));
    assert_eq!(
        engine.history().await,
        [
            (Role::User, "hello".to_owned()),
            (Role::Assistant, "Hi Ann!".to_owned())
        ]
    );
    let request = &engine.model.requests()[0];
    assert_eq!(
        request.messages[1].text(),
        "You are Clara, talking with Ann.",
        "the persona's template, rendered"
    );
    assert_eq!(
        request.messages.last().unwrap().last_text(),
        "hello",
        "the new message ends with what the user wrote, after the context block"
    );
    assert!(
        request.messages.iter().all(|m| !m.cache_point),
        "a persona that reads `user_name` still works, uncached"
    );
    let offered: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        offered,
        ["memory_search", "memory_remember", "memory_forget"]
    );
    assert_eq!(
        engine.names(),
        [
            "session:start",
            "message:received",
            "llm:usage",
            "message:sent"
        ]
    );
}

#[tokio::test]
async fn a_failing_model_gets_the_persona_error_reply_and_the_message_is_kept() {
    let engine = engine();
    engine.model.push(Err(ProviderErrorKind::Status {
        status: 503,
        message: "overloaded".to_owned(),
    }));
    let outcome = engine.send("are you there?").await;
    let Outcome::Failed { reply, error, .. } = &outcome else {
        panic!("not a failed turn: {outcome:?}");
    };
    assert_eq!(reply, "Oops, saved your message.");
    assert!(error.contains("overloaded"), "{error}");
    assert_eq!(
        engine.history().await,
        [(Role::User, "are you there?".to_owned())]
    );
    let failed = engine.events.events();
    let Some(EventData::MessageFailed(data)) = failed.last().map(|e| &e.data) else {
        panic!("no message:failed last: {failed:?}");
    };
    assert!(data.stored);
}

#[tokio::test]
async fn a_repeat_within_the_window_is_dropped_and_a_later_one_answered() {
    let engine = engine();
    engine.model.say("First answer.");
    engine.send("same words").await;
    assert_eq!(
        engine.send("same words").await,
        Outcome::Ended(TurnEnd::Duplicate)
    );
    engine.clock.advance(31_000);
    engine.model.say("Second answer.");
    assert_eq!(
        engine.send("same words").await.reply(),
        Some("Second answer.")
    );
    assert_eq!(
        engine.model.requests().len(),
        2,
        "no model call for the copy"
    );
}

#[tokio::test]
async fn a_tool_call_runs_against_the_store_and_its_result_goes_back_to_the_model() {
    let engine = engine();
    let call = ToolCall {
        id: "c1".to_owned(),
        name: "memory_remember".to_owned(),
        arguments: json!({ "text": "Ann keeps bees", "is_key": true }),
    };
    engine
        .model
        .push(Ok(reply("Let me note that.", vec![call])));
    engine.model.say("Noted: you keep bees.");
    let outcome = engine.send("I keep bees").await;
    assert_eq!(
        outcome.reply(),
        Some("Let me note that.\n\nNoted: you keep bees.")
    );
    let remembered = engine.store.key_memories("ann", 10).await.unwrap();
    assert_eq!(remembered.len(), 1);
    assert_eq!(remembered[0].text, "Ann keeps bees");
    let second = &engine.model.requests()[1];
    let result = second.messages.last().unwrap();
    assert_eq!(result.role, Role::Tool);
    assert!(
        result.text().starts_with("Remembered ["),
        "{}",
        result.text()
    );
    let started = engine.events.events();
    let start = started
        .iter()
        .find_map(|e| match &e.data {
            EventData::ToolStart(start) => Some(start),
            _ => None,
        })
        .expect("tool:start fired");
    assert_eq!((start.tool.as_str(), start.step), ("memory_remember", 1));
}

#[tokio::test]
async fn memory_work_waits_for_the_queue_and_runs_with_the_step_that_queued_it() {
    let engine = engine();
    engine.model.say("Bees are lovely.");
    engine.send("I keep bees").await;
    assert!(
        engine
            .store
            .key_memories("ann", 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is extracted before the queue runs"
    );
    engine
        .model
        .say(r#"{"facts": [{"text": "Keeps bees", "is_key": true}]}"#);
    engine.model.say(
        r#"{"memory": [{"id": "new", "text": "Keeps bees", "event": "ADD", "is_key": true}]}"#,
    );
    let report = engine.generation.run_due_jobs(10).await.unwrap();
    assert_eq!((report.done, report.failed), (1, 0));
    let requests = engine.model.requests();
    assert_eq!(
        requests[1].messages[0].text(),
        "EXTRACT for Ann: user=I keep bees;assistant=Bees are lovely.;",
        "the step's own extraction prompt"
    );
    assert_eq!(requests[2].messages[0].text(), "RECONCILE 1 facts");
    let memories = engine.store.key_memories("ann", 10).await.unwrap();
    assert_eq!(memories.len(), 1);
    assert_eq!(memories[0].text, "Keeps bees");
}

#[tokio::test]
async fn memory_work_whose_step_is_gone_fails_and_waits_instead_of_using_defaults() {
    let engine = engine();
    let payload = json!({
        "pipeline": "chat", "step_id": "no_such_step", "user_id": "ann", "user_name": "Ann",
        "is_dm": true, "messages": [{ "role": "user", "content": "hi" }],
    });
    engine
        .store
        .enqueue_job("extract_memories", &payload, engine.clock.now())
        .await
        .unwrap();
    let report = engine.generation.run_due_jobs(10).await.unwrap();
    assert_eq!((report.done, report.failed), (0, 1));
    assert!(engine.model.requests().is_empty(), "no model call at all");
    let again = engine.generation.run_due_jobs(10).await.unwrap();
    assert_eq!(
        (again.done, again.failed),
        (0, 0),
        "it waits before running again"
    );
}

#[tokio::test]
async fn an_idle_session_ends_and_its_summary_is_written_by_the_session_end_pipeline() {
    let engine = engine();
    engine.model.say("Hello!");
    engine.send("hi").await;
    engine.clock.advance(31 * 60_000);
    assert_eq!(engine.generation.end_idle_sessions(10).await.unwrap(), 1);
    // The extraction job of the first turn, then the summary.
    engine.model.say(r#"{"facts": []}"#);
    engine.model.say("Ann said hi.");
    let report = engine.generation.run_due_jobs(10).await.unwrap();
    assert_eq!((report.done, report.failed), (2, 0));
    let session = engine
        .store
        .latest_session("ann", "dm-ann")
        .await
        .unwrap()
        .expect("the session");
    assert_eq!(session.summary.as_deref(), Some("Ann said hi."));
    // The end is announced before the work it queues: the extraction's and the summary's
    // model calls come after it.
    assert!(
        engine
            .names()
            .ends_with(&["session:timeout", "session:end", "llm:usage", "llm:usage"]),
        "{:?}",
        engine.names()
    );
}
