//! Tracing over the wire: `clara chat` exports each turn as one OTLP trace (turn, steps, model
//! calls with their attempts, tool calls, memory jobs) to a collector started here, with the
//! GenAI attributes and without what was said unless `capture_content` is on; `clara run`
//! serves the last turns on `/turns`; a collector that is gone costs a turn nothing and its
//! dropped spans are counted in `/metrics`.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::clara_run::clara_run;
use crate::support::fake_llm::{self, FakeLlm};
use crate::support::otlp_collector::FakeCollector;
use crate::support::{self, shipped_root};

const SECRET_WORDS: &str = "my aunt's parrot is called Zanzibar";

async fn chat(root: &std::path::Path, fake: &FakeLlm, vars: &[(&str, &str)]) -> Output {
    let mut command = support::clara(root);
    command
        .args(["chat", "-m", SECRET_WORDS])
        .env("OPENROUTER_API_KEY", "k")
        .env("CLARA_PROVIDERS__OPENROUTER__BASE_URL", fake.base_url())
        .envs(vars.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    let attributes = span["attributes"].as_array()?;
    let found = attributes.iter().find(|a| a["key"] == key)?;
    Some(&found["value"])
}

fn text<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    attribute(span, key)?["stringValue"].as_str()
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

fn parent_of<'a>(spans: &'a [Value], span: &Value) -> &'a Value {
    spans
        .iter()
        .find(|s| s["spanId"] == span["parentSpanId"])
        .unwrap_or_else(|| panic!("no parent for {span}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_is_exported_as_one_trace_of_steps_calls_and_tools() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    let collector = FakeCollector::start().await;
    fake.push(fake_llm::error_json(503, "busy"));
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6, \"count\": 2}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["You rolled well."]));
    fake.push_background(fake_llm::openai_json("{\"facts\": []}"));
    let out = chat(
        root.path(),
        &fake,
        &[
            ("CLARA_TELEMETRY__ENDPOINT", collector.url.as_str()),
            (
                "CLARA_TELEMETRY__HEADERS_ENV",
                "{ \"x-honeycomb-team\" = \"TRACE_KEY\" }",
            ),
            ("TRACE_KEY", "trace-secret-123"),
            (
                "CLARA_PROVIDERS__OPENROUTER__RETRY__INITIAL_BACKOFF_MS",
                "1",
            ),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "You rolled well.\n");

    let spans = collector.spans();
    let turn = named(&spans, "turn");
    assert_eq!(turn.len(), 1, "{spans:#?}");
    let turn = turn[0];
    assert!(
        turn.get("parentSpanId").is_none(),
        "the turn is its trace's root"
    );
    let trace_id = turn["traceId"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert_eq!(text(turn, "clara.pipeline"), Some("chat"));
    assert_eq!(text(turn, "clara.outcome"), Some("replied"));
    assert_eq!(text(turn, "clara.platform"), Some("chat"));

    let in_turn: Vec<Value> = spans
        .iter()
        .filter(|s| s["traceId"] == trace_id)
        .cloned()
        .collect();
    let steps: Vec<&str> = named(&in_turn, "step")
        .into_iter()
        .map(|s| text(s, "clara.step.type").unwrap())
        .collect();
    for kind in [
        "ingest",
        "classify_tier",
        "build_context",
        "llm_call",
        "tool_loop",
        "write_memory",
    ] {
        assert!(steps.contains(&kind), "a `{kind}` step span: {steps:?}");
    }
    for step in named(&in_turn, "step") {
        assert_eq!(
            step["parentSpanId"], turn["spanId"],
            "steps are the turn's children"
        );
    }

    let calls: Vec<&Value> = in_turn
        .iter()
        .filter(|s| text(s, "gen_ai.operation.name") == Some("chat"))
        .collect();
    assert_eq!(
        calls.len(),
        2,
        "the first answer (after a retry) and the one after the tool"
    );
    let first = calls
        .iter()
        .find(|c| text(parent_of(&in_turn, c), "clara.step.type") == Some("llm_call"))
        .expect("a call under the llm_call step");
    assert_eq!(first["name"], "chat anthropic/claude-sonnet-4");
    assert_eq!(first["kind"], 3, "a client span");
    assert_eq!(
        text(first, "gen_ai.request.model"),
        Some("anthropic/claude-sonnet-4")
    );
    assert_eq!(text(first, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(
        attribute(first, "gen_ai.usage.input_tokens"),
        Some(&json!({ "intValue": "10" }))
    );
    assert_eq!(
        attribute(first, "gen_ai.response.finish_reasons"),
        Some(&json!({ "arrayValue": { "values": [{ "stringValue": "tool_call" }] } }))
    );
    let attempts: Vec<&Value> = named(&in_turn, "attempt")
        .into_iter()
        .filter(|a| a["parentSpanId"] == first["spanId"])
        .collect();
    assert_eq!(attempts.len(), 2, "a 503, then the answer");
    assert_eq!(text(attempts[0], "error.type"), Some("503"));
    assert_eq!(attempts[0]["status"]["code"], 2);
    assert!(attempts[1].get("status").is_none());

    let tool = named(&in_turn, "execute_tool roll_dice");
    assert_eq!(tool.len(), 1);
    assert_eq!(text(tool[0], "gen_ai.tool.name"), Some("roll_dice"));
    assert_eq!(text(tool[0], "gen_ai.tool.call.id"), Some("c1"));
    assert_eq!(text(tool[0], "clara.tool.outcome"), Some("ok"));
    assert_eq!(
        text(parent_of(&in_turn, tool[0]), "clara.step.type"),
        Some("tool_loop")
    );

    // The memory work after the reply is its own trace.
    let job = named(&spans, "job");
    assert_eq!(job.len(), 1, "{spans:#?}");
    assert_eq!(text(job[0], "clara.job.kind"), Some("extract_memories"));
    assert_ne!(job[0]["traceId"], turn["traceId"]);

    // So are hooks: the shipped one that notes each start.
    let hooks = named(&spans, "hook");
    assert!(
        hooks
            .iter()
            .any(|h| text(h, "clara.hook.name") == Some("log-startup")
                && text(h, "clara.hook.event") == Some("gateway:startup")),
        "{hooks:#?}"
    );

    let everything = collector
        .bodies()
        .iter()
        .map(Value::to_string)
        .collect::<String>();
    assert!(
        !everything.contains("Zanzibar"),
        "no message text without capture_content"
    );
    assert!(
        !everything.contains("You rolled well"),
        "no reply text either"
    );
    assert_eq!(
        collector.first_header("x-honeycomb-team").as_deref(),
        Some("trace-secret-123"),
        "headers_env reaches the collector"
    );
    assert!(!stderr.contains("trace-secret-123"));
    let resource = &collector.bodies()[0]["resourceSpans"][0]["resource"]["attributes"];
    assert!(
        resource
            .to_string()
            .contains("{\"key\":\"service.name\",\"value\":{\"stringValue\":\"clara\"}}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn content_is_exported_only_when_asked() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    let collector = FakeCollector::start().await;
    fake.push(fake_llm::openai_stream(&["Noted."]));
    let vars = [
        ("CLARA_TELEMETRY__ENDPOINT", collector.url.as_str()),
        ("CLARA_TELEMETRY__CAPTURE_CONTENT", "true"),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    let out = chat(root.path(), &fake, &vars).await;
    assert!(out.status.success());
    let spans = collector.spans();
    let call = spans
        .iter()
        .find(|s| text(s, "gen_ai.operation.name") == Some("chat"))
        .unwrap();
    assert!(
        text(call, "gen_ai.input.messages")
            .unwrap()
            .contains("Zanzibar")
    );
    assert_eq!(text(call, "gen_ai.output.messages"), Some("Noted."));
}

#[tokio::test(flavor = "multi_thread")]
async fn sampling_and_a_missing_collector_never_hold_up_a_turn() {
    let root = shipped_root();
    let fake = FakeLlm::start().await;
    let collector = FakeCollector::start().await;
    fake.push(fake_llm::openai_stream(&["Noted."]));
    let vars = [
        ("CLARA_TELEMETRY__ENDPOINT", collector.url.as_str()),
        ("CLARA_TELEMETRY__SAMPLE_RATIO", "0"),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    assert!(chat(root.path(), &fake, &vars).await.status.success());
    assert!(
        collector.spans().is_empty(),
        "sample_ratio = 0 exports nothing"
    );

    let root = shipped_root();
    collector.answer_with(503);
    fake.push(fake_llm::openai_stream(&["Noted again."]));
    let vars = [
        ("CLARA_TELEMETRY__ENDPOINT", collector.url.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    let out = chat(root.path(), &fake, &vars).await;
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the collector answered 503"), "{stderr}");

    let root = shipped_root();
    let gone = format!("http://127.0.0.1:{}", support::free_port());
    fake.push(fake_llm::openai_stream(&["Still here."]));
    let started = Instant::now();
    let vars = [
        ("CLARA_TELEMETRY__ENDPOINT", gone.as_str()),
        ("CLARA_MEMORY__ENABLED", "false"),
    ];
    let out = chat(root.path(), &fake, &vars).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Still here.\n",
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("trace export failed"), "{stderr}");
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_status_endpoint_serves_the_last_turns_and_their_timelines() {
    let fake = FakeLlm::start().await;
    let gone = format!("http://127.0.0.1:{}", support::free_port());
    let running = clara_run(
        &fake,
        "127.0.0.1",
        &[("CLARA_TELEMETRY__ENDPOINT", gone.as_str())],
    )
    .await;
    fake.push(fake_llm::openai_tool_stream(
        &[("c1", "roll_dice", "{\"sides\": 6, \"count\": 1}")],
        5,
    ));
    fake.push(fake_llm::openai_stream(&["A four."]));
    running.say("ann", "roll one die").await;
    fake.push(fake_llm::openai_stream(&["Hello Bob."]));
    running.say("bob", "hello").await;

    let (status, body) = get(&format!("{}/turns", running.base)).await;
    assert_eq!(status, 200);
    let turns: Value = serde_json::from_str(&body).unwrap();
    let turns = turns["turns"].as_array().unwrap().clone();
    assert_eq!(turns.len(), 2, "{turns:#?}");
    assert_eq!(turns[0]["user_id"], "bob", "newest first");
    let ann = &turns[1];
    assert_eq!(ann["outcome"], "replied");
    assert_eq!(ann["model_calls"], 2);
    assert_eq!(ann["tool_calls"], 1);
    assert!(ann["duration_ms"].as_f64().unwrap() > 0.0);

    let (_, only) = get(&format!("{}/turns?user=ann", running.base)).await;
    let only: Value = serde_json::from_str(&only).unwrap();
    assert_eq!(only["turns"].as_array().unwrap().len(), 1);

    let id = ann["id"].as_str().unwrap();
    let (status, body) = get(&format!("{}/turns/{id}", running.base)).await;
    assert_eq!(status, 200);
    let timeline: Value = serde_json::from_str(&body).unwrap();
    let labels: Vec<&str> = timeline["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels[0], "turn");
    for label in [
        "step build_context",
        "step llm_call",
        "chat anthropic/claude-sonnet-4",
        "execute_tool roll_dice",
    ] {
        assert!(labels.contains(&label), "{label} in {labels:?}");
    }
    let starts: Vec<f64> = timeline["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start_ms"].as_f64().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "in the order they started"
    );
    assert!(
        !body.contains("roll one die"),
        "no message text in the timeline"
    );

    let (status, _) = get(&format!(
        "{}/turns/0123456789abcdef0123456789abcdef",
        running.base
    ))
    .await;
    assert_eq!(status, 404);

    // The collector is gone: spans were dropped, counted, and no turn waited for it.
    let mut dropped = 0.0;
    for _ in 0..200 {
        let (_, metrics) = get(&format!("{}/metrics", running.base)).await;
        dropped = metrics
            .lines()
            .find_map(|l| l.strip_prefix("clara_trace_spans_dropped_total "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if dropped > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(dropped > 0.0, "dropped spans are counted");
}
