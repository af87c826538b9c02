//! `cargo bench -p clara --bench llm`: the client's own overhead, without a network: reading a
//! long streamed reply (10,000 deltas, both wire formats, arriving in 1 KiB pieces) and
//! building a 50-tool request body.

// A bench that cannot set up stops at once: unwrapping is how it says so.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clara::llm::codec;
use clara_config::model::provider::{ProviderConfig, ProviderKind};
use clara_core::llm::{ChatRequest, Message, ToolSpec};
use serde_json::json;

const DELTAS: usize = 10_000;

fn measure(name: &str, runs: u32, mut f: impl FnMut()) {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{name:<44} median {median:>10.3?}  min {:>10.3?}  ({runs} runs)",
        times[0]
    );
}

fn openai_sse() -> Vec<u8> {
    let mut body = String::new();
    for i in 0..DELTAS {
        let chunk = json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":0,"model":"m",
            "choices":[{"index":0,"delta":{"content":format!("word{i} ")},"finish_reason":null}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    body.into_bytes()
}

fn anthropic_sse() -> Vec<u8> {
    let mut body = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":10}}}\n\n\
         event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    for i in 0..DELTAS {
        let event = json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":format!("word{i} ")}});
        body.push_str(&format!("event: content_block_delta\ndata: {event}\n\n"));
    }
    body.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    body.into_bytes()
}

fn read(runtime: &tokio::runtime::Runtime, kind: ProviderKind, bytes: &[u8]) {
    let chunks: Vec<Result<Vec<u8>, std::convert::Infallible>> =
        bytes.chunks(1024).map(|c| Ok(c.to_vec())).collect();
    let deltas = AtomicUsize::new(0);
    let on_text = |_: &str| {
        deltas.fetch_add(1, Ordering::Relaxed);
    };
    let reply = runtime
        .block_on(codec::read_stream(
            kind,
            futures_util::stream::iter(chunks),
            &on_text,
            usize::MAX,
        ))
        .unwrap();
    assert_eq!(deltas.load(Ordering::Relaxed), DELTAS);
    black_box(reply);
}

fn provider(kind: ProviderKind) -> ProviderConfig {
    toml::from_str::<ProviderConfig>(&format!(
        "kind = \"{}\"\nmodel = \"m\"",
        if kind == ProviderKind::Openai {
            "openai"
        } else {
            "anthropic"
        }
    ))
    .unwrap()
}

fn fifty_tool_request() -> ChatRequest {
    let tools = (0..50)
        .map(|i| ToolSpec {
            name: format!("tool_{i}"),
            description: format!(
                "Tool number {i}: looks things up and returns what it finds, paginated."
            ),
            parameters: json!({"type":"object","required":["query"],"properties":{
                "query":{"type":"string","description":"What to look for."},
                "page":{"type":"integer","minimum":1},
                "per_page":{"type":"integer","minimum":1,"maximum":100},
                "filters":{"type":"array","items":{"type":"string"}}}}),
        })
        .collect();
    let mut messages = vec![Message::system("You are Clara. ".repeat(200))];
    for i in 0..20 {
        messages.push(Message::user(format!("message {i}: ").repeat(20)));
        messages.push(Message::assistant(format!("reply {i}: ").repeat(30)));
    }
    ChatRequest {
        tools,
        ..ChatRequest::new(messages)
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let openai = openai_sse();
    let anthropic = anthropic_sse();
    println!(
        "stream sizes: OpenAI {} KiB, Anthropic {} KiB",
        openai.len() / 1024,
        anthropic.len() / 1024
    );
    measure("read 10,000-delta OpenAI stream", 30, || {
        read(&runtime, ProviderKind::Openai, &openai);
    });
    measure("read 10,000-delta Anthropic stream", 30, || {
        read(&runtime, ProviderKind::Anthropic, &anthropic);
    });
    let request = fifty_tool_request();
    for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
        let config = provider(kind);
        let mut size = 0;
        measure(
            &format!("50-tool request body, {kind:?} (build + serialise)"),
            500,
            || {
                let body = codec::request_body(&config, &request, "m");
                size = serde_json::to_vec(&body).unwrap().len();
            },
        );
        println!("{:<44} {} KiB", "  body size", size / 1024);
    }
}
