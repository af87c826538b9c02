//! Hooks: shell commands get the event as `CLARA_*` variables (values never reach the command
//! text), time out with their process group, report failures; webhooks receive the event as
//! JSON; pipeline hooks post through an adapter's outlet; a removed hook never fires again;
//! a slow hook does not hold up a turn.

use crate::support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::fake_llm::{self, FakeLlm};
use clara::app::{App, Features};
use clara::hooks::actions::{Action, Context, Run};
use clara::live::{Outlet, Reload};
use clara_config::model::hook::Delivery;
use clara_core::engine::event_data::{EventData, MessageSent, ToolFailed};
use clara_core::engine::{EventSink, SystemClock};
use clara_core::llm::BoxFuture;
use serde_json::json;

/// A clara over `root` whose model is `fake`.
async fn app(root: &Path, fake: &FakeLlm) -> App {
    let url = fake.base_url();
    let vars = [
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
        ("CLARA_RUNTIME__WATCH", "false"),
    ];
    App::start(
        support::loader(root, &vars),
        Arc::new(SystemClock),
        Features::default(),
    )
    .await
    .unwrap()
}

fn write_hooks(root: &Path, yaml: &str) {
    std::fs::write(root.join("hooks/test.yaml"), yaml).unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shell_hook_gets_the_event_as_variables_and_values_are_never_executed() {
    let root = support::shipped_root();
    let out = root.path().join("out");
    write_hooks(
        root.path(),
        &format!(
            "hooks:\n  - name: record\n    event: message:received\n    command: 'printf \"%s|%s|%s|%s|%s\" \"$CLARA_EVENT_TYPE\" \"$CLARA_USER_ID\" \"$CLARA_PLATFORM\" \"$CLARA_CHANNEL_ID\" \"$CLARA_REQUEST_ID\" > {out}; printf \"%s\" \"$CLARA_EVENT_DATA\" > {out}.json'\n",
            out = out.display()
        ),
    );
    let fake = FakeLlm::start().await;
    let app = app(root.path(), &fake).await;
    fake.push(fake_llm::openai_stream(&["hi"]));
    let hostile = "ann'; touch pwned; $(touch pwned2) `touch pwned3`";
    let outcome = app
        .live
        .current()
        .handle_message(support::message(hostile, "hello"), &|_| {})
        .await
        .unwrap();
    assert_eq!(outcome.reply(), Some("hi"));
    assert!(app.bus.flush(Duration::from_secs(10)).await);

    let fields: Vec<String> = read(&out).split('|').map(str::to_owned).collect();
    assert_eq!(fields[0], "message:received");
    assert_eq!(fields[1], hostile, "the value arrives intact");
    assert_eq!(fields[2], "chat");
    assert_eq!(fields[3], format!("dm-{hostile}"));
    assert!(
        fields[4].starts_with("msg-") && fields[4].len() == 12,
        "{}",
        fields[4]
    );
    let data: serde_json::Value = serde_json::from_str(&read(&out.with_extension("json"))).unwrap();
    assert!(data["message_id"].is_number(), "{data}");
    for name in ["pwned", "pwned2", "pwned3"] {
        assert!(
            !root.path().join("hooks").join(name).exists(),
            "{name} was executed"
        );
        assert!(!root.path().join(name).exists(), "{name} was executed");
    }
    app.shutdown("test").await;
}

fn context(app: &App) -> Context {
    Context {
        live: app.live.clone(),
        client: clara::tools::http_client(),
    }
}

fn run<'a>(payload: &'a serde_json::Value, timeout: Duration) -> Run<'a> {
    Run {
        name: "t",
        env: [("CLARA_EVENT_TYPE".to_owned(), "tool:error".to_owned())].into(),
        payload,
        working_dir: None,
        origin: None,
        timeout,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_time_out_with_their_group_and_report_failures() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let app = app(root.path(), &fake).await;
    let context = context(&app);
    let payload = json!({});

    let late = root.path().join("late");
    let slow = Action::Command(format!("(sleep 1; touch {}) & sleep 5", late.display()));
    let started = Instant::now();
    let error = context
        .run(&slow, run(&payload, Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(error.contains("timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !late.exists(),
        "the command's background child outlived the timeout"
    );

    let failing = Action::Command("echo partial; echo broken >&2; exit 3".to_owned());
    let error = context
        .run(&failing, run(&payload, Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert_eq!(error, "exit code 3: broken");

    // Commands run in hooks/ by default and see the CLARA_* variables.
    let ok = Action::Command("echo \"$CLARA_EVENT_TYPE in $(basename \"$PWD\")\"".to_owned());
    let output = context
        .run(&ok, run(&payload, Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(output, "tool:error in hooks");
    app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_receives_the_event_as_json_with_its_secret_header() {
    let root = support::shipped_root();
    let receiver = FakeLlm::start().await;
    receiver.push(support::fake_llm::Reply::json(200, "{}"));
    write_hooks(
        root.path(),
        &format!(
            "hooks:\n  - name: post\n    on: [config:reloaded]\n    webhook:\n      url: {}/hook\n      headers: {{X-Token: \"{{{{ env.OPENROUTER_API_KEY }}}}\"}}\n      secrets_env: [OPENROUTER_API_KEY]\n",
            receiver.base_url()
        ),
    );
    let fake = FakeLlm::start().await;
    let app = app(root.path(), &fake).await;
    support::edit(
        &root.path().join("personas/clara.md"),
        "You are Clara",
        "You are Clara indeed",
    );
    assert!(matches!(app.live.reload().await, Reload::Applied(_)));
    assert!(app.bus.flush(Duration::from_secs(10)).await);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("x-token"), Some("k"));
    let body = &requests[0].body;
    assert_eq!(body["event"], "config:reloaded");
    assert_eq!(body["data"]["changed"], json!(["personas/clara.md"]));
    assert!(
        body["node_id"].is_string() && body["timestamp"].is_string(),
        "{body}"
    );
    app.shutdown("test").await;
}

/// An outlet that keeps what it is given.
#[derive(Default)]
struct Kept(Mutex<Vec<(Delivery, String)>>);

impl Outlet for Kept {
    fn post<'a>(
        &'a self,
        to: &'a Delivery,
        text: &'a str,
        _mention: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), String>> {
        self.0.lock().unwrap().push((to.clone(), text.to_owned()));
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_hook_posts_its_reply_through_the_adapter() {
    let root = support::shipped_root();
    write_hooks(
        root.path(),
        "hooks:\n  - name: greet\n    on: [message:sent]\n    pipeline: check_in\n    deliver: {adapter: chat, user: ann}\n",
    );
    let fake = FakeLlm::start().await;
    let app = app(root.path(), &fake).await;
    let kept = Arc::new(Kept::default());
    app.live.outlets().register("chat", kept.clone());
    fake.push(fake_llm::openai_stream(&["answer"]));
    fake.push(fake_llm::openai_stream(&["Good morning, Ann!"]));
    app.live
        .current()
        .handle_message(support::message("ann", "hello"), &|_| {})
        .await
        .unwrap();
    assert!(app.bus.flush(Duration::from_secs(10)).await);
    let posted = kept.0.lock().unwrap().clone();
    assert_eq!(posted.len(), 1);
    // The check-in's own `message:sent` does not start the hook again (a second flush covers
    // what the first one's hooks emitted).
    assert!(app.bus.flush(Duration::from_secs(10)).await);
    assert_eq!(fake.request_count(), 2);
    assert_eq!(posted[0].0.user.as_deref(), Some("ann"));
    assert_eq!(posted[0].1, "Good morning, Ann!");
    // The check-in is written for Ann from her conversation, led by its instruction.
    let request = &fake.requests()[1].body;
    let last = request["messages"].as_array().unwrap().last().unwrap();
    assert!(
        last["content"].as_str().unwrap().contains("It is morning"),
        "{last}"
    );
    app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_hook_never_fires_again_and_slow_hooks_do_not_hold_up_turns() {
    let root = support::shipped_root();
    let count = root.path().join("count");
    let hook = format!(
        "hooks:\n  - name: slow\n    on: [message:sent]\n    command: 'sleep 1; echo x >> {}'\n",
        count.display()
    );
    write_hooks(root.path(), &hook);
    let fake = FakeLlm::start().await;
    let app = app(root.path(), &fake).await;
    fake.push(fake_llm::openai_stream(&["one"]));
    app.live
        .current()
        .handle_message(support::message("ann", "first"), &|_| {})
        .await
        .unwrap();
    assert_eq!(read(&count), "", "the turn did not wait for its hook");
    assert!(app.bus.flush(Duration::from_secs(10)).await);
    assert_eq!(read(&count), "x\n");

    std::fs::remove_file(root.path().join("hooks/test.yaml")).unwrap();
    assert!(matches!(app.live.reload().await, Reload::Applied(_)));
    fake.push(fake_llm::openai_stream(&["two"]));
    app.live
        .current()
        .handle_message(support::message("ann", "second"), &|_| {})
        .await
        .unwrap();
    app.bus
        .emit(clara_core::engine::Event::global(EventData::MessageSent(
            MessageSent {
                chars: 3,
                tier: None,
            },
        )));
    assert!(app.bus.flush(Duration::from_secs(10)).await);
    assert_eq!(read(&count), "x\n", "the removed hook fired");
    app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nul_byte_in_an_event_value_does_not_stop_a_command_hook() {
    let root = support::shipped_root();
    let out = root.path().join("out");
    write_hooks(
        root.path(),
        &format!(
            "hooks:\n  - name: record\n    event: tool:error\n    command: 'printf \"%s\" \"$CLARA_TOOL|$CLARA_ERROR\" > {out}'\n",
            out = out.display()
        ),
    );
    let fake = FakeLlm::start().await;
    let app = app(root.path(), &fake).await;
    app.bus
        .emit(clara_core::engine::Event::global(EventData::ToolError(
            ToolFailed {
                tool: "echo\u{0}x".to_owned(),
                step: 1,
                error: "bad \u{0} argument".to_owned(),
            },
        )));
    assert!(app.bus.flush(Duration::from_secs(10)).await);
    assert_eq!(read(&out), "echo\u{FFFD}x|bad \u{FFFD} argument");
    app.shutdown("test").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_start_by_priority_and_a_disabled_one_never_fires() {
    let root = support::shipped_root();
    let out = root.path().join("order");
    write_hooks(
        root.path(),
        &format!(
            "hooks:\n  - name: low\n    event: message:received\n    priority: 1\n    command: 'echo low >> {out}'\n\
             \x20 - name: off\n    event: message:received\n    priority: 5\n    enabled: false\n    command: 'echo off >> {out}'\n\
             \x20 - name: high\n    event: message:received\n    priority: 9\n    command: 'echo high >> {out}'\n",
            out = out.display()
        ),
    );
    let fake = FakeLlm::start().await;
    let url = fake.base_url();
    let vars = [
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
        ("CLARA_RUNTIME__WATCH", "false"),
        ("CLARA_RUNTIME__HOOK_CONCURRENCY", "1"),
    ];
    let app = App::start(
        support::loader(root.path(), &vars),
        Arc::new(SystemClock),
        Features::default(),
    )
    .await
    .unwrap();
    fake.push(fake_llm::openai_stream(&["hi"]));
    app.live
        .current()
        .handle_message(support::message("ann", "hello"), &|_| {})
        .await
        .unwrap();
    assert!(app.bus.flush(Duration::from_secs(10)).await);
    assert_eq!(read(&out), "high\nlow\n");
    app.shutdown("test").await;
}
