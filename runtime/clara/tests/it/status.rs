//! The status endpoint over real HTTP: `/health` verdicts, `/metrics` counts and format,
//! routing errors, bind failures and shutdown.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clara::status::{self, AdapterState, Health, Metrics, StatusServer};
use clara_config::model::common::EventName;
use clara_core::engine::event_data::{
    BudgetSpending, ConfigReloadFailed, ConfigReloaded, EventData, LlmUsage, MessageFailed,
    MessageReceived, MessageSent, ToolApproval, ToolEnd, ToolFailed,
};
use clara_core::engine::{Event, EventObserver};
use serde_json::{Value, json};

struct Running {
    server: StatusServer,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    async fn health(&self) -> (u16, Value) {
        let response = self.get("/health").await;
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "health content type"
        );
        (status, response.json().await.expect("health json"))
    }

    async fn metrics(&self) -> String {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        response.text().await.expect("metrics text")
    }
}

async fn start() -> Running {
    clara::llm::install_crypto_provider();
    let metrics = Metrics::new();
    let health = Health::new();
    let server = status::serve(
        "127.0.0.1:0",
        64,
        health.clone(),
        metrics.clone(),
        Vec::new(),
        None,
        None,
    )
    .await
    .expect("status endpoint starts");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    Running {
        server,
        health,
        metrics,
        client,
    }
}

fn turn_event(data: EventData, request: &str) -> Event {
    Event {
        platform: Some("discord".to_owned()),
        user_id: Some("u1".to_owned()),
        channel_id: Some("c1".to_owned()),
        request_id: Some(request.to_owned()),
        ..Event::global(data)
    }
}

/// The value of the sample written exactly as `series` (name and labels), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

#[tokio::test]
async fn health_is_ok_with_no_adapters() {
    let running = start().await;
    let (status, body) = running.health().await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert!(body["uptime_secs"].is_u64(), "{body}");
    assert_eq!(body["adapters"], json!({}));
    running.server.shutdown().await;
}

#[tokio::test]
async fn starting_and_reconnecting_adapters_are_degraded() {
    let running = start().await;
    running.health.set("discord", AdapterState::Starting);
    let (status, body) = running.health().await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["adapters"]["discord"]["state"], "starting");
    let since = body["adapters"]["discord"]["since"]
        .as_str()
        .expect("since");
    chrono::DateTime::parse_from_rfc3339(since).expect("since is RFC 3339");

    running.health.set(
        "discord",
        AdapterState::Reconnecting {
            reason: "gateway closed (4000)".into(),
        },
    );
    running.health.set_detail(
        "discord",
        "shards",
        json!({"0": "reconnecting", "1": "connected"}),
    );
    let (status, body) = running.health().await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "degraded");
    let discord = &body["adapters"]["discord"];
    assert_eq!(discord["state"], "reconnecting");
    assert_eq!(discord["reason"], "gateway closed (4000)");
    assert_eq!(discord["shards"]["0"], "reconnecting");
    running.server.shutdown().await;
}

#[tokio::test]
async fn a_failed_adapter_fails_health_and_connected_is_ok() {
    let running = start().await;
    running.health.set(
        "discord",
        AdapterState::Failed {
            reason: "invalid token".into(),
        },
    );
    let (status, body) = running.health().await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["adapters"]["discord"]["reason"], "invalid token");

    running.health.set("discord", AdapterState::Connected);
    let (status, body) = running.health().await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["adapters"]["discord"]["state"], "connected");
    assert!(body["adapters"]["discord"].get("reason").is_none());

    running.health.remove("discord");
    let (_, body) = running.health().await;
    assert_eq!(body["adapters"], json!({}));
    running.server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_turns_tools_reloads_and_adapters() {
    let running = start().await;
    let before = running.metrics().await;
    for &name in EventName::ALL {
        let series = format!("clara_events_total{{event=\"{}\"}}", name.as_str());
        assert_eq!(sample(&before, &series), Some(0.0), "{series} starts at 0");
    }
    assert_eq!(
        sample(&before, "clara_turn_duration_seconds_count"),
        Some(0.0)
    );

    let sink: &dyn EventObserver = running.metrics.as_ref();
    let received = || {
        EventData::MessageReceived(MessageReceived {
            message_id: 1,
            session_id: "s".to_owned(),
            chars: 5,
        })
    };
    let sent = || {
        EventData::MessageSent(MessageSent {
            chars: 12,
            tier: None,
        })
    };
    let reload_failed = || {
        Event::global(EventData::ConfigReloadFailed(ConfigReloadFailed {
            reason: "invalid".to_owned(),
            message: None,
            problems: Some(Vec::new()),
        }))
    };
    sink.observe(&turn_event(received(), "msg-1"));
    sink.observe(&turn_event(
        EventData::ToolEnd(ToolEnd {
            tool: "search".to_owned(),
            step: 0,
            chars: 10,
        }),
        "msg-1",
    ));
    sink.observe(&turn_event(
        EventData::ToolError(ToolFailed {
            tool: "fetch".to_owned(),
            step: 0,
            error: "timeout".to_owned(),
        }),
        "msg-1",
    ));
    sink.observe(&turn_event(sent(), "msg-1"));
    // A reply to a turn that was never received is counted but not timed.
    sink.observe(&turn_event(sent(), "msg-unknown"));
    sink.observe(&Event::global(EventData::ConfigReloaded(ConfigReloaded {
        added: Vec::new(),
        changed: vec!["clara.toml".to_owned()],
        removed: Vec::new(),
    })));
    sink.observe(&reload_failed());
    sink.observe(&reload_failed());
    // A failed turn is an event like any other; it ends the turn's timing without a sample.
    sink.observe(&turn_event(received(), "msg-2"));
    sink.observe(&turn_event(
        EventData::MessageFailed(MessageFailed {
            error: "provider down".to_owned(),
            stored: true,
        }),
        "msg-2",
    ));
    for cost in [4_920, 80] {
        sink.observe(&turn_event(
            EventData::LlmUsage(LlmUsage {
                provider: "openrouter".to_owned(),
                model: "anthropic/claude-sonnet-4".to_owned(),
                purpose: "turn".to_owned(),
                input_tokens: 1_000,
                output_tokens: 100,
                cache_read_tokens: 400,
                cache_write_tokens: 0,
                cost_micros: cost,
            }),
            "msg-1",
        ));
    }
    for action in ["refuse", "refuse", "warn"] {
        sink.observe(&turn_event(
            EventData::BudgetExceeded(BudgetSpending {
                budget: "daily".to_owned(),
                per: "user".to_owned(),
                scope: "ann".to_owned(),
                window: "day".to_owned(),
                tokens: 10,
                tokens_limit: Some(5),
                cost_micros: 0,
                cost_limit_micros: None,
                action: action.to_owned(),
                purpose: "turn".to_owned(),
            }),
            "msg-1",
        ));
    }
    sink.observe(&turn_event(
        EventData::ToolApproval(ToolApproval {
            tool: "run_python".to_owned(),
            step: 1,
            mode: "always".to_owned(),
            decision: "denied".to_owned(),
            decided_by: Some("discord-9".to_owned()),
        }),
        "msg-1",
    ));
    running.health.set("discord", AdapterState::Connected);
    running.health.set("we\"ird\\name", AdapterState::Stopped);

    let text = running.metrics().await;
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    };
    expect("clara_events_total{event=\"message:received\"}", 2.0);
    expect("clara_events_total{event=\"message:failed\"}", 1.0);
    expect("clara_events_total{event=\"message:sent\"}", 2.0);
    expect("clara_events_total{event=\"tool:error\"}", 1.0);
    expect("clara_events_total{event=\"gateway:startup\"}", 0.0);
    expect("clara_turns_total{platform=\"discord\"}", 2.0);
    expect("clara_turn_errors_total{platform=\"discord\"}", 1.0);
    expect("clara_turn_duration_seconds_count", 1.0);
    expect("clara_turn_duration_seconds_bucket{le=\"+Inf\"}", 1.0);
    expect("clara_turn_duration_seconds_bucket{le=\"60\"}", 1.0);
    expect("clara_tool_calls_total{outcome=\"ok\"}", 1.0);
    expect("clara_tool_calls_total{outcome=\"error\"}", 1.0);
    let sonnet = "provider=\"openrouter\",model=\"anthropic/claude-sonnet-4\"";
    expect(
        &format!("clara_llm_tokens_total{{{sonnet},kind=\"input\"}}"),
        2_000.0,
    );
    expect(
        &format!("clara_llm_tokens_total{{{sonnet},kind=\"output\"}}"),
        200.0,
    );
    expect(
        &format!("clara_llm_tokens_total{{{sonnet},kind=\"cache_read\"}}"),
        800.0,
    );
    expect(
        &format!("clara_llm_tokens_total{{{sonnet},kind=\"cache_write\"}}"),
        0.0,
    );
    expect(&format!("clara_llm_cost_dollars_total{{{sonnet}}}"), 0.005);
    expect(
        "clara_budget_exceeded_total{budget=\"daily\",action=\"refuse\"}",
        2.0,
    );
    expect(
        "clara_budget_exceeded_total{budget=\"daily\",action=\"warn\"}",
        1.0,
    );
    expect("clara_tool_approvals_total{decision=\"denied\"}", 1.0);
    expect("clara_reloads_total{result=\"applied\"}", 1.0);
    expect("clara_reloads_total{result=\"failed\"}", 2.0);
    expect("clara_adapter_up{adapter=\"discord\"}", 1.0);
    expect("clara_adapter_up{adapter=\"we\\\"ird\\\\name\"}", 0.0);
    expect(
        "clara_adapter_state{adapter=\"discord\",state=\"connected\"}",
        1.0,
    );
    expect(
        "clara_adapter_state{adapter=\"discord\",state=\"failed\"}",
        0.0,
    );
    expect(
        "clara_adapter_state{adapter=\"we\\\"ird\\\\name\",state=\"stopped\"}",
        1.0,
    );
    let sum = sample(&text, "clara_turn_duration_seconds_sum").expect("sum");
    assert!((0.0..5.0).contains(&sum), "{sum}");
    let start = sample(&text, "process_start_time_seconds").expect("start time");
    assert!(start > 1.6e9, "{start}");
    assert!(sample(&text, "clara_uptime_seconds").is_some());
    #[cfg(target_os = "linux")]
    assert!(sample(&text, "process_resident_memory_bytes").expect("rss") > 0.0);

    check_exposition(&text);
    running.server.shutdown().await;
}

#[tokio::test]
async fn the_exposition_is_well_formed() {
    let running = start().await;
    running.health.set("discord", AdapterState::Starting);
    check_exposition(&running.metrics().await);
    running.server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused() {
    let running = start().await;
    assert_eq!(running.get("/").await.status(), 404);
    assert_eq!(running.get("/healthz").await.status(), 404);
    let post = running
        .client
        .post(running.url("/metrics"))
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    let delete = running
        .client
        .delete(running.url("/health"))
        .send()
        .await
        .expect("delete");
    assert_eq!(delete.status(), 405);

    let head = running
        .client
        .head(running.url("/metrics"))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(head.bytes().await.expect("head body").is_empty());
    let head = running
        .client
        .head(running.url("/health"))
        .send()
        .await
        .expect("head");
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "application/json");
    running.server.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let running = start().await;
    let taken = running.server.addr().to_string();
    let error = match status::serve(
        &taken,
        64,
        Health::new(),
        running.metrics.clone(),
        Vec::new(),
        None,
        None,
    )
    .await
    {
        Ok(_) => panic!("a second server on {taken} should not start"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.starts_with(&format!(
            "cannot listen on {taken} for the status endpoint: "
        )),
        "{error}"
    );
    assert!(error.to_lowercase().contains("in use"), "{error}");

    let error = match status::serve(
        "not an address",
        64,
        Health::new(),
        running.metrics.clone(),
        Vec::new(),
        None,
        None,
    )
    .await
    {
        Ok(_) => panic!("a bad address should not bind"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.starts_with("cannot listen on not an address for the status endpoint: "),
        "{error}"
    );
    running.server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_the_port_promptly() {
    let running = start().await;
    let addr = running.server.addr();
    // An idle keep-alive connection must not hold shutdown up.
    assert_eq!(running.get("/health").await.status(), 200);
    let mut idle = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let began = Instant::now();
    running.server.shutdown().await;
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the port still accepts connections"
    );
    // The idle connection was closed by the server.
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::io::AsyncReadExt::read(&mut idle, &mut buffer),
    )
    .await
    .expect("the idle connection is closed, not left hanging");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

/// Checks the text exposition format 0.0.4 closely enough to catch what a scraper rejects:
/// every sample is `name{labels} value` with well-formed, escaped labels and a numeric value;
/// every metric family has exactly one TYPE line, before its samples, and its samples are not
/// split by another family.
fn check_exposition(text: &str) {
    assert!(text.ends_with('\n'), "the exposition ends with a line feed");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line in\n{text}");
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_metric_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "second TYPE for {name}"
            );
            if let Some(previous) = current.replace(name.to_owned()) {
                finished.insert(previous);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').expect("HELP name text");
            assert!(is_metric_name(name), "{line}");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = parse_sample(line);
        assert!(
            value == "+Inf" || value == "-Inf" || value == "NaN" || value.parse::<f64>().is_ok(),
            "bad value in {line}"
        );
        let family = family_of(&name, &types);
        let kind = types
            .get(&family)
            .unwrap_or_else(|| panic!("{line}: no TYPE line for {family} before it"));
        assert_eq!(
            current.as_deref(),
            Some(family.as_str()),
            "{line}: sample outside its family's block"
        );
        assert!(!finished.contains(&family), "{line}: {family} split");
        if kind == "histogram" && name.ends_with("_bucket") {
            assert!(labels.iter().any(|(k, _)| k == "le"), "{line}: no le");
        }
    }
}

fn family_of(name: &str, types: &HashMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|k| k == "histogram" || k == "summary")
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Splits `name{k="v",...} value` (labels optional), unescaping label values.
fn parse_sample(line: &str) -> (String, Vec<(String, String)>, String) {
    let name_end = line
        .find(['{', ' '])
        .unwrap_or_else(|| panic!("no value in {line}"));
    let name = &line[..name_end];
    assert!(is_metric_name(name), "bad name in {line}");
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            if let Some((i, '}')) = chars.peek().copied() {
                chars.next();
                rest = &after[i + 1..];
                break;
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            assert!(
                is_metric_name(&key) && !key.contains(':'),
                "bad label in {line}"
            );
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line}"),
                    },
                    Some('"') => break,
                    Some('\n') | None => panic!("unterminated label value in {line}"),
                    Some(c) => value.push(c),
                }
            }
            labels.push((key, value));
            match chars.peek().map(|(_, c)| *c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                other => panic!("expected , or }} after a label, got {other:?} in {line}"),
            }
        }
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value in {line}"));
    assert!(!value.contains(' '), "timestamps are not written: {line}");
    (name.to_owned(), labels, value.to_owned())
}
