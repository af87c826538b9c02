//! Keys that used to be read nowhere, or only in part, and now do what their docs say: each
//! test sets one (in a copy of the shipped root, or as a `CLARA_…` override) and shows what
//! changes in what reaches the model or the logs.

use crate::support;

use std::path::Path;
use std::sync::Arc;

use crate::support::fake_llm::{self, FakeLlm};
use clara::live::Live;
use clara_core::engine::{Conversation, Incoming, RecordedEvents, SystemClock};
use serde_json::Value;

/// A running configuration over `root`, its provider pointed at `fake`, plus `extra` vars.
async fn start(root: &Path, fake: &FakeLlm, extra: &[(&str, &str)]) -> Arc<Live> {
    let url = fake.base_url();
    let mut vars = vec![
        ("OPENROUTER_API_KEY", "k"),
        ("CLARA_PROVIDERS__OPENROUTER__BASE_URL", url.as_str()),
    ];
    vars.extend_from_slice(extra);
    Live::start(
        support::loader(root, &vars),
        Arc::new(SystemClock),
        Arc::new(RecordedEvents::default()),
    )
    .await
    .unwrap()
}

/// A message from `user` in server channel `channel`.
fn in_channel(user: &str, channel: &str, text: &str) -> Incoming {
    Incoming {
        conversation: Conversation {
            id: format!("channel-{channel}"),
            is_dm: false,
            channel_name: Some(channel.to_owned()),
            server_name: Some("Home".to_owned()),
        },
        ..support::message(user, text)
    }
}

async fn answer(live: &Live, incoming: Incoming) -> String {
    let outcome = live
        .current()
        .handle_message(incoming, &|_| {})
        .await
        .unwrap();
    assert_eq!(outcome.error(), None);
    outcome.reply().unwrap_or_default().to_owned()
}

/// The text of every message of a request, joined.
fn all_text(request: &Value) -> String {
    request["messages"].to_string()
}

fn offered(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_channel_session_holds_everyones_messages() {
    for (scope, shared) in [("per_user", false), ("shared", true)] {
        let root = support::shipped_root();
        let fake = FakeLlm::start().await;
        let live = start(
            root.path(),
            &fake,
            &[
                ("CLARA_SESSIONS__CHANNEL_SCOPE", scope),
                ("CLARA_MEMORY__ENABLED", "false"),
            ],
        )
        .await;
        fake.push(fake_llm::openai_stream(&["Hi Ann."]));
        answer(
            &live,
            in_channel("ann", "general", "the picnic is on saturday"),
        )
        .await;
        fake.push(fake_llm::openai_stream(&["Hi Bob."]));
        answer(&live, in_channel("bob", "general", "what did ann say?")).await;
        let second = all_text(&fake.requests()[1].body);
        assert_eq!(
            second.contains("the picnic is on saturday"),
            shared,
            "{scope}: {second}"
        );
        assert_eq!(
            second.contains("Other participants: bob, ann"),
            shared,
            "{scope}: {second}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_without_vision_is_told_of_an_image_instead_of_sent_it() {
    for (vision, sent) in [("true", true), ("false", false)] {
        let root = support::shipped_root();
        let fake = FakeLlm::start().await;
        let live = start(
            root.path(),
            &fake,
            &[
                ("CLARA_PROVIDERS__OPENROUTER__VISION", vision),
                ("CLARA_MEMORY__ENABLED", "false"),
            ],
        )
        .await;
        fake.push(fake_llm::openai_stream(&["A cat."]));
        let mut incoming = support::message("ann", "what is this?");
        incoming.images = vec![("image/png".to_owned(), "iVBORw0KGgo=".to_owned())];
        answer(&live, incoming).await;
        let text = all_text(&fake.requests()[0].body);
        assert_eq!(
            text.contains("image_url"),
            sent,
            "vision = {vision}: {text}"
        );
        assert_eq!(
            text.contains("this model cannot see images"),
            !sent,
            "vision = {vision}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_memory_off_no_memory_tool_is_offered() {
    for (enabled, shown) in [("true", true), ("false", false)] {
        let root = support::shipped_root();
        let fake = FakeLlm::start().await;
        let live = start(root.path(), &fake, &[("CLARA_MEMORY__ENABLED", enabled)]).await;
        fake.push(fake_llm::openai_stream(&["Hello."]));
        fake.push(fake_llm::openai_json("{\"facts\": []}"));
        answer(&live, support::message("ann", "hello")).await;
        let tools = offered(&fake.requests()[0].body);
        assert_eq!(
            tools.iter().any(|t| t.starts_with("memory_")),
            shown,
            "memory.enabled = {enabled}: {tools:?}"
        );
        assert!(tools.contains(&"roll_dice".to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_classifier_asks_the_pipelines_provider_and_an_unreadable_answer_takes_the_fallback() {
    let root = support::shipped_root();
    let chat = root.path().join("pipelines/chat.toml");
    support::edit(&chat, "classifier = false", "classifier = true");
    support::edit(
        &chat,
        "classifier_prompt = \"\"\"",
        "classifier_prompt = \"\"\"\nCLASSIFIER-MARK",
    );
    support::edit(&chat, "fallback_tier = \"mid\"", "fallback_tier = \"high\"");
    support::edit(
        &chat,
        "type = \"llm_call\"",
        "type = \"llm_call\"\nprovider = \"local\"",
    );
    let fake = FakeLlm::start().await;
    let local = FakeLlm::start().await;
    let local_url = local.base_url();
    let live = start(
        root.path(),
        &fake,
        &[
            ("CLARA_PROVIDERS__LOCAL__KIND", "openai"),
            ("CLARA_PROVIDERS__LOCAL__BASE_URL", local_url.as_str()),
            ("CLARA_PROVIDERS__LOCAL__MODEL", "local-base"),
            ("CLARA_PROVIDERS__LOCAL__MODELS__HIGH", "local-high"),
            ("CLARA_MEMORY__ENABLED", "false"),
        ],
    )
    .await;
    local.push(fake_llm::openai_json("Hard to say."));
    local.push(fake_llm::openai_stream(&["Here is a plan."]));
    answer(&live, support::message("ann", "plan my move abroad")).await;
    assert_eq!(
        fake.request_count(),
        0,
        "the default provider was not asked"
    );
    let requests = local.requests();
    assert_eq!(requests.len(), 2, "the classifier, then the turn");
    assert!(
        all_text(&requests[0].body).contains("CLASSIFIER-MARK"),
        "`classifier_prompt`"
    );
    assert_eq!(requests[1].body["model"], "local-high", "the fallback tier");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_personas_default_tier_applies_without_a_classify_step() {
    let root = support::shipped_root();
    let chat = root.path().join("pipelines/chat.toml");
    let text = std::fs::read_to_string(&chat).unwrap();
    let start_at = text.find("[[steps]]\ntype = \"classify_tier\"").unwrap();
    let end_at = start_at + text[start_at..].find("\n[[steps]]").unwrap() + 1;
    std::fs::write(&chat, format!("{}{}", &text[..start_at], &text[end_at..])).unwrap();
    support::edit(
        &root.path().join("personas/clara.toml"),
        "display_name",
        "default_tier = \"high\"\ndisplay_name",
    );
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake, &[("CLARA_MEMORY__ENABLED", "false")]).await;
    fake.push(fake_llm::openai_stream(&["Hello."]));
    answer(&live, support::message("ann", "hello")).await;
    assert_eq!(
        fake.requests()[0].body["model"],
        "anthropic/claude-opus-4",
        "the persona's tier"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_the_runtime_log_level_and_format() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let run = |message: &str, extra: &[(&'static str, &'static str)]| {
        let mut command = support::clara(root.path());
        command
            .args(["chat", "-m", message])
            .env("OPENROUTER_API_KEY", "k")
            .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
            .env("CLARA_MEMORY__ENABLED", "false")
            .envs(extra.iter().copied());
        command.output().unwrap()
    };
    fake.push(fake_llm::openai_stream(&["Hi."]));
    let quiet = tokio::task::block_in_place(|| run("hello", &[]));
    assert!(quiet.status.success());
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("INFO"),
        "warnings only by default"
    );
    fake.push(fake_llm::openai_stream(&["Hi again."]));
    let json = tokio::task::block_in_place(|| {
        run(
            "hello again",
            &[
                ("CLARA_RUNTIME__LOG_LEVEL", "info"),
                ("CLARA_RUNTIME__LOG_FORMAT", "json"),
            ],
        )
    });
    assert!(json.status.success());
    let stderr = String::from_utf8_lossy(&json.stderr);
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"),
        "info lines, as JSON: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_extraction_dates_by_the_clock_in_the_configured_time_zone() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_stream(&["Noted."]));
    fake.push(fake_llm::openai_json("{\"facts\": []}"));
    let mut command = support::clara(root.path());
    command
        .args(["chat", "-m", "my exam is tomorrow"])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .env("CLARA_DEFAULTS__TIMEZONE", "Asia/Tokyo")
        .env("CLARA_NOW", "2026-11-24T23:30:00Z");
    let output = tokio::task::block_in_place(|| command.output().unwrap());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let extraction = all_text(&fake.requests()[1].body);
    assert!(
        extraction.contains("Today is 2026-11-25"),
        "Tokyo's date at 23:30 UTC: {extraction}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_and_memory_sampling_settings_reach_their_requests() {
    let root = support::shipped_root();
    let fake = FakeLlm::start().await;
    let live = start(
        root.path(),
        &fake,
        &[
            ("CLARA_PROVIDERS__OPENROUTER__TOP_P", "0.5"),
            ("CLARA_MEMORY__TEMPERATURE", "0.3"),
            ("CLARA_MEMORY__MAX_TOKENS", "777"),
            ("CLARA_DEFAULTS__TIMEZONE", "Asia/Tokyo"),
        ],
    )
    .await;
    fake.push(fake_llm::openai_stream(&["Hello."]));
    fake.push(fake_llm::openai_json("{\"facts\": []}"));
    answer(&live, support::message("ann", "hello")).await;
    live.current().run_due_jobs(5).await.unwrap();
    let requests = fake.requests();
    let turn = &requests[0].body;
    assert!((turn["top_p"].as_f64().unwrap() - 0.5).abs() < 1e-6);
    assert!(
        all_text(turn).contains("JST"),
        "the context block's time is in `defaults.timezone`"
    );
    let extraction = &requests[1].body;
    assert!((extraction["temperature"].as_f64().unwrap() - 0.3).abs() < 1e-6);
    assert_eq!(extraction["max_tokens"], 777);
}

#[tokio::test(flavor = "multi_thread")]
#[allow(unsafe_code)] // the SAFETY comments below say why
async fn a_disabled_terminal_adapter_or_status_endpoint_stays_off() {
    let root = support::shipped_root();
    let output = tokio::task::block_in_place(|| {
        support::clara(root.path())
            .args(["chat", "-m", "hi"])
            .env("OPENROUTER_API_KEY", "k")
            .env("CLARA_ADAPTERS__CHAT__ENABLED", "false")
            .output()
            .unwrap()
    });
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the terminal adapter is disabled"));

    let mut child = support::clara(root.path())
        .arg("run")
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_ADAPTERS__DISCORD__ENABLED", "false")
        .env("CLARA_STATUS__ENABLED", "false")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    tokio::task::block_in_place(|| std::io::BufRead::read_line(&mut stderr, &mut line)).unwrap();
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    assert!(line.contains("clara is running"), "{line}");
    assert!(!line.contains("status on"), "no status endpoint: {line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifests_name_is_the_tools_name() {
    let root = support::shipped_root();
    std::fs::write(
        root.path().join("tools.d/shout.toml"),
        "name = \"yell\"\ndescription = \"Shout.\"\n\n[runner]\ntype = \"command\"\nprogram = \"echo\"\n",
    )
    .unwrap();
    let fake = FakeLlm::start().await;
    let live = start(root.path(), &fake, &[("CLARA_MEMORY__ENABLED", "false")]).await;
    fake.push(fake_llm::openai_stream(&["Hi."]));
    answer(&live, support::message("ann", "hello")).await;
    let tools = offered(&fake.requests()[0].body);
    assert!(tools.contains(&"yell".to_owned()), "{tools:?}");
    assert!(!tools.contains(&"shout".to_owned()), "{tools:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_bound_calls_go_to_the_tool_provider_and_others_to_the_provider() {
    let root = support::shipped_root();
    support::edit(
        &root.path().join("pipelines/chat.toml"),
        "type = \"llm_call\"",
        "type = \"llm_call\"\nprovider = \"local\"\ntool_provider = \"openrouter\"",
    );
    let fake = FakeLlm::start().await;
    let local = FakeLlm::start().await;
    let local_url = local.base_url();
    let live = start(
        root.path(),
        &fake,
        &[
            ("CLARA_PROVIDERS__LOCAL__KIND", "openai"),
            ("CLARA_PROVIDERS__LOCAL__BASE_URL", local_url.as_str()),
            ("CLARA_PROVIDERS__LOCAL__MODEL", "local-base"),
            ("CLARA_MEMORY__ENABLED", "false"),
        ],
    )
    .await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["A five."]));
    answer(&live, support::message("ann", "roll one")).await;
    assert_eq!(
        local.request_count(),
        0,
        "every call of this turn offered tools"
    );
    assert_eq!(fake.request_count(), 2);

    // Without tools to offer, the turn goes to `provider`.
    support::edit(
        &root.path().join("pipelines/chat.toml"),
        "tools = [\"*\"]",
        "tools = []",
    );
    live.reload().await;
    local.push(fake_llm::openai_stream(&["Hi from local."]));
    assert_eq!(
        answer(&live, support::message("ann", "hi there")).await,
        "Hi from local."
    );
}

#[tokio::test]
async fn a_reply_slower_than_total_secs_is_stopped() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::Reply {
        first_byte_delay: std::time::Duration::from_millis(2500),
        ..fake_llm::openai_json("late")
    });
    let config: clara_config::model::provider::ProviderConfig = toml::from_str(&format!(
        "kind = \"openai\"\nbase_url = \"{}\"\nmodel = \"m\"\ntimeouts = {{ first_byte_secs = 10, total_secs = 1 }}\nretry = {{ max_retries = 0 }}\n",
        fake.base_url()
    ))
    .unwrap();
    let provider =
        clara::llm::HttpProvider::new("test", &config, &clara_config::Env::default()).unwrap();
    let started = std::time::Instant::now();
    let error = clara_core::llm::Provider::chat(
        &provider,
        &clara_core::llm::ChatRequest {
            stream: false,
            ..clara_core::llm::ChatRequest::new(vec![clara_core::llm::Message::user("hi")])
        },
        &|_| {},
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(error.to_string().contains("whole reply"), "{error}");
}
