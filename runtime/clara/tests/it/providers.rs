//! The LLM providers over real HTTP against the fake server: what clara sends (models per
//! tier, headers, tools, images, system prompt) and how it reads every kind of reply,
//! including the failures (429, 500, malformed JSON, a cut stream, a slow first byte).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::fake_llm::{self, FakeLlm, Reply};
use clara::llm::{HttpEmbedder, HttpProvider, Providers};
use clara_config::Env;
use clara_config::model::clara::ClaraConfig;
use clara_config::model::common::{Tier, ToolCallMode};
use clara_config::model::provider::{EmbeddingsConfig, ProviderConfig};
use clara_core::llm::{
    ChatRequest, Embedder, Message, Provider, ProviderErrorKind, StopReason, ToolSpec, Usage,
};
use serde_json::{Value, json};

const FAST_RETRY: &str =
    "retry = { max_retries = 2, initial_backoff_ms = 10, max_backoff_ms = 40 }";

fn provider_config(kind: &str, base_url: &str, extra: &str) -> ProviderConfig {
    let text = format!(
        "kind = \"{kind}\"\nbase_url = \"{base_url}\"\napi_key_env = \"TEST_KEY\"\nmodel = \"base-model\"\n\
         models = {{ high = \"high-model\", mid = \"mid-model\", low = \"low-model\" }}\n{FAST_RETRY}\n{extra}"
    );
    toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn env() -> Env {
    Env::from_vars([
        ("TEST_KEY".to_owned(), "sk-test-secret-0123".to_owned()),
        ("CF_ID".to_owned(), "cf-id-value".to_owned()),
    ])
}

fn provider(fake: &FakeLlm, kind: &str, extra: &str) -> HttpProvider {
    HttpProvider::new(
        "test",
        &provider_config(kind, &fake.base_url(), extra),
        &env(),
    )
    .unwrap()
}

/// Calls the provider and collects the streamed deltas.
async fn chat(
    provider: &dyn Provider,
    request: &ChatRequest,
) -> (
    Result<clara_core::llm::ChatResponse, clara_core::llm::ProviderError>,
    Vec<String>,
) {
    let deltas = Mutex::new(Vec::new());
    let sink = |d: &str| deltas.lock().unwrap().push(d.to_owned());
    let result = provider.chat(request, &sink).await;
    (result, deltas.into_inner().unwrap())
}

fn conversation() -> Vec<Message> {
    vec![
        Message::system("You are Clara."),
        Message::system("Context: a test."),
        Message::user("Hello!"),
    ]
}

fn lookup_tool() -> ToolSpec {
    ToolSpec {
        name: "lookup".to_owned(),
        description: "Looks up <things> & stuff.".to_owned(),
        parameters: json!({"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}),
    }
}

#[tokio::test]
async fn openai_streams_deltas_and_sends_what_the_config_says() {
    let fake = FakeLlm::start().await;
    fake.push(Reply {
        crlf: true,
        pieces: Some(7),
        ..fake_llm::openai_stream(&["Hel", "lo, ", "world"])
    });
    let p = provider(
        &fake,
        "openai",
        "headers = { \"HTTP-Referer\" = \"http://localhost:3000\", \"X-Title\" = \"clara\" }\nheaders_env = { \"CF-Access-Client-Id\" = \"CF_ID\" }",
    );
    let request = ChatRequest {
        tier: Some(Tier::High),
        ..ChatRequest::new(conversation())
    };
    let (result, deltas) = chat(&p, &request).await;
    let response = result.unwrap();
    assert_eq!(deltas, ["Hel", "lo, ", "world"]);
    assert_eq!(response.text, "Hello, world");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(
        (response.provider.as_str(), response.model.as_str()),
        ("test", "high-model")
    );
    // OpenAI counts cached tokens inside `prompt_tokens`: clara's input is the rest.
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 6,
            output_tokens: 3,
            cache_read_tokens: 4,
            cache_write_tokens: 0,
        }
    );

    let sent = &fake.requests()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/chat/completions")
    );
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-test-secret-0123")
    );
    assert_eq!(sent.header("http-referer"), Some("http://localhost:3000"));
    assert_eq!(sent.header("x-title"), Some("clara"));
    assert_eq!(sent.header("cf-access-client-id"), Some("cf-id-value"));
    assert_eq!(sent.body["model"], "high-model");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["max_tokens"], 4096);
    assert_eq!(sent.body["temperature"], 0.0);
    assert_eq!(
        sent.body["messages"],
        json!([{"role":"system","content":"You are Clara."},{"role":"system","content":"Context: a test."},{"role":"user","content":"Hello!"}])
    );
    assert!(sent.body.get("tools").is_none());
}

#[tokio::test]
async fn anthropic_streams_with_crlf_split_events_and_a_system_prompt() {
    let fake = FakeLlm::start().await;
    fake.push(Reply {
        crlf: true,
        pieces: Some(7),
        keepalive: true,
        ..fake_llm::anthropic_stream(&["Hi ", "there"])
    });
    let p = provider(&fake, "anthropic", "");
    let (result, deltas) = chat(&p, &ChatRequest::new(conversation())).await;
    let response = result.unwrap();
    assert_eq!(deltas, ["Hi ", "there"]);
    assert_eq!(response.text, "Hi there");
    assert_eq!(response.model, "base-model");
    // Anthropic counts cache reads and writes apart from `input_tokens`.
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 10,
            output_tokens: 2,
            cache_read_tokens: 4,
            cache_write_tokens: 2,
        }
    );

    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("sk-test-secret-0123"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(sent.header("authorization").is_none());
    assert_eq!(sent.body["system"], "You are Clara.\n\nContext: a test.");
    assert_eq!(
        sent.body["messages"],
        json!([{"role":"user","content":[{"type":"text","text":"Hello!"}]}])
    );
    assert_eq!(sent.body["max_tokens"], 4096);
}

#[tokio::test]
async fn non_streamed_replies_fold_into_the_same_response() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_json("plain answer"));
    fake.push(fake_llm::anthropic_json("native answer"));
    let request = ChatRequest {
        stream: false,
        ..ChatRequest::new(conversation())
    };
    let (result, deltas) = chat(&provider(&fake, "openai", ""), &request).await;
    assert_eq!(result.unwrap().text, "plain answer");
    assert!(deltas.is_empty(), "nothing streams when stream = false");
    let (result, _) = chat(&provider(&fake, "anthropic", ""), &request).await;
    assert_eq!(result.unwrap().text, "native answer");
    assert_eq!(fake.requests()[0].body["stream"], false);
}

#[tokio::test]
async fn tiers_pick_models_and_tool_calls_never_run_on_low() {
    let fake = FakeLlm::start().await;
    let p = provider(&fake, "openai", "");
    let cases = [
        (None, false, "base-model"),
        (Some(Tier::Mid), false, "mid-model"),
        (Some(Tier::Low), false, "low-model"),
        (Some(Tier::Low), true, "base-model"),
        (Some(Tier::High), true, "high-model"),
    ];
    for (tier, tools, _) in cases {
        fake.push(fake_llm::openai_json("ok"));
        let tools = if tools { vec![lookup_tool()] } else { vec![] };
        let request = ChatRequest {
            tier,
            tools,
            stream: false,
            ..ChatRequest::new(conversation())
        };
        chat(&p, &request).await.0.unwrap();
    }
    let models: Vec<String> = fake
        .requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<&str> = cases.iter().map(|c| c.2).collect();
    assert_eq!(models, expected);
}

#[tokio::test]
async fn openai_native_tool_calls_round_trip() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_tool_stream(
        &[
            ("call_a", "lookup", "{\"q\":\"rust\"}"),
            ("call_b", "lookup", "{\"q\":\"tokio\"}"),
        ],
        3,
    ));
    let p = provider(&fake, "openai", "");
    let mut messages = conversation();
    messages.push(Message::assistant_with_calls(
        "",
        vec![clara_core::llm::ToolCall {
            id: "call_0".into(),
            name: "lookup".into(),
            arguments: json!({"q":"x"}),
        }],
    ));
    messages.push(Message::tool_result("call_0", "found x"));
    let request = ChatRequest {
        tools: vec![lookup_tool()],
        ..ChatRequest::new(messages)
    };
    let (result, _) = chat(&p, &request).await;
    let response = result.unwrap();
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    let calls: Vec<(String, String, serde_json::Value)> = response
        .tool_calls
        .into_iter()
        .map(|c| (c.id, c.name, c.arguments))
        .collect();
    assert_eq!(
        calls,
        [
            ("call_a".into(), "lookup".into(), json!({"q":"rust"})),
            ("call_b".into(), "lookup".into(), json!({"q":"tokio"}))
        ]
    );

    let sent = &fake.requests()[0].body;
    assert_eq!(
        sent["tools"],
        json!([{"type":"function","function":{"name":"lookup","description":"Looks up <things> & stuff.","parameters":lookup_tool().parameters}}])
    );
    assert_eq!(
        sent["messages"][3],
        json!({"role":"assistant","content":null,"tool_calls":[{"id":"call_0","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]})
    );
    assert_eq!(
        sent["messages"][4],
        json!({"role":"tool","tool_call_id":"call_0","content":"found x"})
    );
}

#[tokio::test]
async fn anthropic_native_tool_calls_round_trip() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::anthropic_tool_stream(
        "Let me check.",
        &[("toolu_1", "lookup", "{\"q\":\"rust\"}")],
        4,
    ));
    let p = provider(&fake, "anthropic", "");
    let mut messages = conversation();
    messages.push(Message::assistant_with_calls(
        "Checking",
        vec![clara_core::llm::ToolCall {
            id: "toolu_0".into(),
            name: "lookup".into(),
            arguments: json!({"q":"x"}),
        }],
    ));
    messages.push(Message::tool_result("toolu_0", "found x"));
    let request = ChatRequest {
        tools: vec![lookup_tool()],
        ..ChatRequest::new(messages)
    };
    let (result, deltas) = chat(&p, &request).await;
    let response = result.unwrap();
    assert_eq!(deltas.concat(), "Let me check.");
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(response.tool_calls.len(), 1);
    assert_eq!(
        (
            response.tool_calls[0].id.as_str(),
            &response.tool_calls[0].arguments
        ),
        ("toolu_1", &json!({"q":"rust"}))
    );

    let sent = &fake.requests()[0].body;
    assert_eq!(
        sent["tools"],
        json!([{"name":"lookup","description":"Looks up <things> & stuff.","input_schema":lookup_tool().parameters}])
    );
    assert_eq!(
        sent["messages"],
        json!([
            {"role":"user","content":[{"type":"text","text":"Hello!"}]},
            {"role":"assistant","content":[{"type":"text","text":"Checking"},{"type":"tool_use","id":"toolu_0","name":"lookup","input":{"q":"x"}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_0","content":"found x"}]}
        ])
    );
}

#[tokio::test]
async fn xml_mode_describes_tools_in_the_prompt_and_parses_calls_from_text() {
    let fake = FakeLlm::start().await;
    let reply = "Sure.\n<function_calls>\n<invoke name=\"lookup\">\n<parameter name=\"q\">fish &amp; chips</parameter>\n</invoke>\n</function_calls>";
    let pieces: Vec<String> = reply
        .chars()
        .collect::<Vec<_>>()
        .chunks(5)
        .map(|c| c.iter().collect())
        .collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(fake_llm::anthropic_stream(&pieces));
    let p = provider(&fake, "anthropic", "tool_call_mode = \"xml\"");
    let request = ChatRequest {
        tools: vec![lookup_tool()],
        ..ChatRequest::new(conversation())
    };
    let (result, deltas) = chat(&p, &request).await;
    let response = result.unwrap();
    assert_eq!(
        deltas.concat(),
        "Sure.",
        "the XML block never reaches the user"
    );
    assert_eq!(response.text, "Sure.");
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        (
            response.tool_calls[0].id.as_str(),
            response.tool_calls[0].name.as_str()
        ),
        ("call_0", "lookup")
    );
    assert_eq!(
        response.tool_calls[0].arguments,
        json!({"q":"fish & chips"})
    );

    let sent = &fake.requests()[0].body;
    assert!(
        sent.get("tools").is_none(),
        "XML mode sends no native tools"
    );
    let system = sent["system"].as_str().unwrap();
    assert!(system.starts_with("You are Clara.\n\n"), "{system}");
    assert!(
        system.contains("<name>lookup</name>")
            && system.contains("Looks up &lt;things&gt; &amp; stuff."),
        "{system}"
    );

    // The pipeline can choose XML for a provider that defaults to native.
    fake.push(fake_llm::openai_json("no tools needed"));
    let native = provider(&fake, "openai", "");
    let request = ChatRequest {
        tools: vec![lookup_tool()],
        stream: false,
        tool_call_mode: Some(ToolCallMode::Xml),
        ..ChatRequest::new(conversation())
    };
    assert_eq!(
        chat(&native, &request).await.0.unwrap().text,
        "no tools needed"
    );
    assert!(fake.requests()[1].body.get("tools").is_none());
}

#[tokio::test]
async fn xml_mode_shows_an_unclosed_block_as_the_plain_text_it_is() {
    let fake = FakeLlm::start().await;
    let reply = [
        "Here is how: <function_",
        "calls> <invoke name=\"lookup\">",
        " and then I stopped.",
    ];
    fake.push(fake_llm::openai_stream(&reply));
    let p = provider(&fake, "openai", "tool_call_mode = \"xml\"");
    let request = ChatRequest {
        tools: vec![lookup_tool()],
        ..ChatRequest::new(conversation())
    };
    let (result, deltas) = chat(&p, &request).await;
    let response = result.unwrap();
    assert!(response.tool_calls.is_empty());
    assert_eq!(response.text, reply.concat());
    assert_eq!(
        deltas.concat(),
        reply.concat(),
        "the user sees the whole reply, once"
    );
}

#[tokio::test]
async fn images_go_in_each_apis_format() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_json("a cat"));
    fake.push(fake_llm::anthropic_json("a cat"));
    let messages = vec![Message::user("What is this?").with_image("image/png", "iVBORw0KGgo=")];
    let request = ChatRequest {
        stream: false,
        ..ChatRequest::new(messages)
    };
    chat(&provider(&fake, "openai", ""), &request)
        .await
        .0
        .unwrap();
    chat(&provider(&fake, "anthropic", ""), &request)
        .await
        .0
        .unwrap();
    let requests = fake.requests();
    assert_eq!(
        requests[0].body["messages"][0]["content"],
        json!([{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}])
    );
    assert_eq!(
        requests[1].body["messages"][0]["content"],
        json!([{"type":"text","text":"What is this?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}])
    );
}

#[tokio::test]
async fn rate_limits_are_retried_after_retry_after() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::error_json(429, "slow down").header("Retry-After", "0.3"));
    fake.push(fake_llm::openai_stream(&["ok"]));
    let started = Instant::now();
    let (result, _) = chat(
        &provider(&fake, "openai", ""),
        &ChatRequest::new(conversation()),
    )
    .await;
    assert_eq!(result.unwrap().text, "ok");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_with_provider_model_and_status() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::error_json(500, "boom"));
    fake.push(fake_llm::openai_json("recovered"));
    let request = ChatRequest {
        stream: false,
        ..ChatRequest::new(conversation())
    };
    assert_eq!(
        chat(&provider(&fake, "openai", ""), &request)
            .await
            .0
            .unwrap()
            .text,
        "recovered"
    );

    for _ in 0..3 {
        fake.push(fake_llm::error_json(503, "overloaded"));
    }
    let error = chat(&provider(&fake, "openai", ""), &request)
        .await
        .0
        .unwrap_err();
    assert_eq!(fake.request_count(), 5, "1 + 2 retries");
    assert_eq!(
        error.kind,
        ProviderErrorKind::Status {
            status: 503,
            message: "overloaded".into()
        }
    );
    assert_eq!(
        error.to_string(),
        "provider `test` (model `base-model`): HTTP 503: overloaded"
    );
}

#[tokio::test]
async fn client_errors_and_malformed_json_are_not_retried() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::error_json(400, "bad request"));
    fake.push(Reply::json(200, "{\"choices\": [ this is not json"));
    let request = ChatRequest {
        stream: false,
        ..ChatRequest::new(conversation())
    };
    let p = provider(&fake, "openai", "");
    let first = chat(&p, &request).await.0.unwrap_err();
    assert!(matches!(
        first.kind,
        ProviderErrorKind::Status { status: 400, .. }
    ));
    let second = chat(&p, &request).await.0.unwrap_err();
    assert!(
        matches!(second.kind, ProviderErrorKind::Decode(_)),
        "{second}"
    );
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn a_stream_cut_after_output_fails_without_a_second_billed_call() {
    let fake = FakeLlm::start().await;
    let full = fake_llm::openai_stream(&["first part, ", "second part"]);
    let cut = full.body_text().find("second").unwrap();
    fake.push(Reply {
        cut_after_bytes: Some(cut),
        ..full
    });
    fake.push(fake_llm::openai_stream(&["must not be used"]));
    let (result, deltas) = chat(
        &provider(&fake, "openai", ""),
        &ChatRequest::new(conversation()),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(deltas, ["first part, "]);
    assert!(error.partial_output);
    assert!(
        matches!(error.kind, ProviderErrorKind::StreamCut(_)),
        "{error}"
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn a_stream_cut_before_any_output_is_retried() {
    let fake = FakeLlm::start().await;
    fake.push(Reply {
        cut_after_bytes: Some(20),
        ..fake_llm::anthropic_stream(&["lost"])
    });
    fake.push(fake_llm::anthropic_stream(&["second try"]));
    let (result, deltas) = chat(
        &provider(&fake, "anthropic", ""),
        &ChatRequest::new(conversation()),
    )
    .await;
    assert_eq!(result.unwrap().text, "second try");
    assert_eq!(deltas, ["second try"]);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn an_error_event_in_the_stream_is_retried_only_before_any_output() {
    use fake_llm::SseEvent;
    let fake = FakeLlm::start().await;
    let overloaded =
        json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}});
    fake.push(Reply::sse(vec![SseEvent::named(
        "error",
        overloaded.clone(),
    )]));
    fake.push(fake_llm::anthropic_stream(&["fine now"]));
    let p = provider(&fake, "anthropic", "");
    let (result, _) = chat(&p, &ChatRequest::new(conversation())).await;
    assert_eq!(result.unwrap().text, "fine now");
    assert_eq!(fake.request_count(), 2);

    let mut events = match fake_llm::openai_stream(&["partial "]).body {
        fake_llm::Body::Sse(events) => events,
        fake_llm::Body::Text(_) => unreachable!("a stream has events"),
    };
    events.truncate(1);
    events.push(SseEvent::data(
        json!({"error":{"message":"upstream failed","type":"server_error"}}),
    ));
    fake.push(Reply::sse(events));
    let (result, deltas) = chat(
        &provider(&fake, "openai", ""),
        &ChatRequest::new(conversation()),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(deltas, ["partial "]);
    assert_eq!(error.kind, ProviderErrorKind::Api("upstream failed".into()));
    assert!(error.partial_output);
    assert_eq!(fake.request_count(), 3, "no retry after output");
}

#[tokio::test]
async fn a_slow_first_byte_times_out() {
    let fake = FakeLlm::start().await;
    fake.push(Reply {
        first_byte_delay: Duration::from_millis(1500),
        ..fake_llm::openai_json("late")
    });
    let extra = "timeouts = { first_byte_secs = 1 }\n";
    let config = provider_config("openai", &fake.base_url(), extra).clone();
    let config = ProviderConfig {
        retry: clara_config::model::provider::RetryPolicy {
            max_retries: 0,
            ..config.retry.clone()
        },
        ..config
    };
    let p = HttpProvider::new("test", &config, &env()).unwrap();
    let started = Instant::now();
    let error = chat(
        &p,
        &ChatRequest {
            stream: false,
            ..ChatRequest::new(conversation())
        },
    )
    .await
    .0
    .unwrap_err();
    assert_eq!(
        error.kind,
        ProviderErrorKind::Timeout("the first byte of the reply")
    );
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn dropping_the_call_aborts_the_request() {
    let fake = FakeLlm::start().await;
    let deltas: Vec<String> = (0..50).map(|i| format!("d{i} ")).collect();
    let deltas: Vec<&str> = deltas.iter().map(String::as_str).collect();
    fake.push(Reply {
        piece_delay: Some(Duration::from_millis(100)),
        pieces: Some(40),
        ..fake_llm::openai_stream(&deltas)
    });
    let p = provider(&fake, "openai", "");
    let request = ChatRequest::new(conversation());
    let sink = |_: &str| {};
    let outcome = tokio::time::timeout(Duration::from_millis(400), p.chat(&request, &sink)).await;
    assert!(outcome.is_err(), "the call should still be streaming");
    assert!(
        fake.wait_for_disconnects(1, Duration::from_secs(3)).await,
        "the server never saw the request abort"
    );
}

#[tokio::test]
async fn fallback_takes_over_when_a_provider_fails() {
    let fake = FakeLlm::start().await;
    let text = format!(
        "[providers.primary]\nkind = \"openai\"\nbase_url = \"{url}\"\nmodel = \"p-model\"\nfallback = [\"backup\"]\nretry = {{ max_retries = 0 }}\n\
         [providers.backup]\nkind = \"anthropic\"\nbase_url = \"{url}\"\nmodel = \"b-model\"\n",
        url = fake.base_url()
    );
    let config: ClaraConfig = toml::from_str(&text).unwrap();
    let providers = Providers::build(&config, &Env::default());
    fake.push(fake_llm::error_json(500, "primary is down"));
    fake.push(fake_llm::anthropic_json("backup answers"));
    let primary = providers.get("primary").unwrap();
    let request = ChatRequest {
        stream: false,
        ..ChatRequest::new(conversation())
    };
    let response = chat(primary.as_ref(), &request).await.0.unwrap();
    assert_eq!(
        (
            response.text.as_str(),
            response.provider.as_str(),
            response.model.as_str()
        ),
        ("backup answers", "backup", "b-model")
    );
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/chat/completions", "/v1/messages"]);
}

#[tokio::test]
async fn a_model_named_for_the_first_provider_never_reaches_a_fallback() {
    let fake = FakeLlm::start().await;
    let text = format!(
        "[providers.primary]\nkind = \"openai\"\nbase_url = \"{url}\"\nmodel = \"p-model\"\nfallback = [\"backup\"]\nretry = {{ max_retries = 0 }}\n\
         [providers.backup]\nkind = \"openai\"\nbase_url = \"{url}\"\nmodel = \"b-model\"\nmodels = {{ low = \"b-small\" }}\n",
        url = fake.base_url()
    );
    let config: ClaraConfig = toml::from_str(&text).unwrap();
    let providers = Providers::build(&config, &Env::default());
    fake.push(fake_llm::error_json(500, "primary is down"));
    fake.push(fake_llm::openai_json("backup answers"));
    // What memory extraction sends: its own model for the first provider, the low tier for
    // any other.
    let request = ChatRequest {
        stream: false,
        model: Some("openai/gpt-4o-mini".to_owned()),
        tier: Some(Tier::Low),
        ..ChatRequest::new(conversation())
    };
    let response = chat(providers.get("primary").unwrap().as_ref(), &request)
        .await
        .0
        .unwrap();
    assert_eq!(response.model, "b-small");
    let models: Vec<Value> = fake
        .requests()
        .iter()
        .map(|r| r.body["model"].clone())
        .collect();
    assert_eq!(models, [json!("openai/gpt-4o-mini"), json!("b-small")]);
}

#[tokio::test]
async fn api_keys_never_appear_in_errors() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::error_json(
        401,
        "Incorrect API key provided: sk-test-secret-0123",
    ));
    let error = chat(
        &provider(&fake, "openai", ""),
        &ChatRequest::new(conversation()),
    )
    .await
    .0
    .unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("sk-test-secret-0123"), "{shown}");
    assert!(shown.contains("Incorrect API key provided: ***"), "{shown}");
}

#[tokio::test]
async fn a_missing_key_is_an_honest_error_at_call_time_naming_the_model_asked_for() {
    let text =
        "[providers.p]\nkind = \"openai\"\napi_key_env = \"NOT_SET_ANYWHERE\"\nmodel = \"m\"\n";
    let config: ClaraConfig = toml::from_str(text).unwrap();
    let providers = Providers::build(&config, &Env::default());
    let error = chat(
        providers.get("p").unwrap().as_ref(),
        &ChatRequest::new(conversation()),
    )
    .await
    .0
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "provider `p` (model `m`): environment variable `NOT_SET_ANYWHERE` is not set"
    );
    let memory = ChatRequest {
        model: Some("memory-model".to_owned()),
        ..ChatRequest::new(conversation())
    };
    let error = chat(providers.get("p").unwrap().as_ref(), &memory)
        .await
        .0
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "provider `p` (model `memory-model`): environment variable `NOT_SET_ANYWHERE` is not set"
    );
}

#[tokio::test]
async fn embeddings_are_batched_ordered_and_sized() {
    let fake = FakeLlm::start().await;
    fake.push(fake_llm::openai_embeddings(&[
        vec![0.0, 1.0, 0.0],
        vec![1.0, 0.0, 0.0],
    ]));
    fake.push(fake_llm::openai_embeddings(&[
        vec![0.5, 0.5, 0.0],
        vec![0.0, 0.0, 1.0],
    ]));
    fake.push(fake_llm::openai_embeddings(&[vec![0.2, 0.2, 0.2]]));
    let settings: EmbeddingsConfig = toml::from_str(
        "provider = \"test\"\nmodel = \"embed-small\"\ndimensions = 3\nbatch_size = 2",
    )
    .unwrap();
    let embedder = HttpEmbedder::new(
        "test",
        &provider_config("openai", &fake.base_url(), ""),
        &settings,
        &env(),
    )
    .unwrap();
    let texts: Vec<String> = ["one", "two\nlines", "three", "four", "five"]
        .map(String::from)
        .to_vec();
    let embedded = embedder.embed(&texts).await.unwrap();
    let vectors = &embedded.vectors;
    assert_eq!(vectors.len(), 5);
    assert_eq!(vectors[1], vec![1.0, 0.0, 0.0]);
    assert_eq!(vectors[4], vec![0.2, 0.2, 0.2]);
    assert_eq!(embedded.tokens, 24, "the usage of every batch, summed");
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].path, "/embeddings");
    assert_eq!(
        requests[0].body,
        json!({"model":"embed-small","input":["one","two lines"],"dimensions":3})
    );
    assert_eq!(
        (embedder.provider(), embedder.model(), embedder.dimensions()),
        ("test", "embed-small", 3)
    );

    fake.push(fake_llm::openai_embeddings(&[vec![1.0, 2.0]]));
    let error = embedder.embed(&["x".to_owned()]).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("expected vectors of 3 dimensions, got 2"),
        "{error}"
    );
}
