//! Self-tests of the fake LLM server, spoken to over a raw `TcpStream` with hand-written HTTP so
//! its behaviour is proven without any client library of ours.

use crate::support::fake_llm::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Every wait in these tests is bounded so a broken server fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(10);

fn post(path: &str, body: &str) -> String {
    let length = body.len();
    format!(
        "POST {path} HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n{body}"
    )
}

async fn connect(fake: &FakeLlm) -> TcpStream {
    let addr = fake.base_url().replace("http://", "");
    TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection; returns the bytes and how many reads it took.
async fn read_all(stream: &mut TcpStream) -> (Vec<u8>, usize) {
    let (mut bytes, mut reads, mut buf) = (Vec::new(), 0, [0u8; 4096]);
    let read = async {
        while let n @ 1.. = stream.read(&mut buf).await.unwrap() {
            bytes.extend_from_slice(&buf[..n]);
            reads += 1;
        }
    };
    timeout(LIMIT, read)
        .await
        .expect("the server should close the connection");
    (bytes, reads)
}

/// A response split into status, head (lowercased, for header checks) and body.
struct Response {
    status: u16,
    head: String,
    body: String,
    reads: usize,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn exchange(fake: &FakeLlm, request: &str) -> Response {
    let mut stream = connect(fake).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let (bytes, reads) = read_all(&mut stream).await;
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let status = head[9..12].parse().unwrap();
    let (head, body) = (head.to_lowercase(), body.to_string());
    Response {
        status,
        head,
        body,
        reads,
    }
}

/// The `(event name, data)` pairs of an LF-delimited SSE body.
fn events(body: &str) -> Vec<(String, String)> {
    let blocks = body.split("\n\n").filter(|block| !block.is_empty());
    let field = |block: &str, name: &str| {
        let mut lines = block.lines();
        let value = lines.find_map(|line| line.strip_prefix(name));
        value.unwrap_or_default().to_string()
    };
    blocks
        .map(|block| (field(block, "event: "), field(block, "data: ")))
        .collect()
}

/// The data payloads parsed as JSON, checking each is one line; `[DONE]` becomes `Null`.
fn payloads(body: &str) -> Vec<Value> {
    let parse = |(_, data): (String, String)| match data.as_str() {
        "[DONE]" => Value::Null,
        data => serde_json::from_str(data).expect("each data line is JSON"),
    };
    events(body).into_iter().map(parse).collect()
}

#[tokio::test]
async fn records_method_path_headers_and_json_body() {
    let fake = FakeLlm::start().await;
    fake.push(openai_json("hi"));
    let request = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: fake\r\n\
                   Authorization: Bearer sk-test\r\nX-Custom-Thing: Yes\r\n\
                   Content-Length: 24\r\n\r\n{\"model\":\"m\",\"stream\":1}";
    let response = exchange(&fake, request).await;

    assert_eq!(response.status, 200);
    assert!(response.head.contains("content-type: application/json"));
    assert!(
        response
            .head
            .contains(&format!("content-length: {}", response.body.len()))
    );
    assert!(response.head.contains("connection: close"));
    let reply = response.json();
    assert_eq!(reply["object"], "chat.completion");
    assert_eq!(reply["choices"][0]["message"]["content"], "hi");
    assert_eq!(reply["usage"]["total_tokens"], 11);

    let [recorded] = &fake.requests()[..] else {
        panic!("one request")
    };
    assert_eq!(recorded.method, "POST");
    assert_eq!(recorded.path, "/v1/chat/completions?x=1");
    assert_eq!(recorded.header("AUTHORIZATION"), Some("Bearer sk-test"));
    assert!(
        recorded
            .headers
            .contains(&("x-custom-thing".into(), "Yes".into()))
    );
    assert_eq!(recorded.body, json!({"model": "m", "stream": 1}));
    assert_eq!(recorded.raw_body, r#"{"model":"m","stream":1}"#);
}

#[tokio::test]
async fn chunked_request_bodies_are_decoded_and_non_json_is_null() {
    let fake = FakeLlm::start().await;
    fake.push(openai_json("one"));
    fake.push(openai_json("two"));
    let chunked = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                   5;ext=1\r\n{\"a\":\r\n2\r\n1}\r\n0\r\nX-Trailer: t\r\n\r\n";
    assert_eq!(exchange(&fake, chunked).await.status, 200);
    assert_eq!(exchange(&fake, &post("/b", "hello")).await.status, 200);

    let requests = fake.requests();
    assert_eq!(requests[0].body, json!({"a": 1}));
    assert_eq!(requests[1].body, Value::Null);
    assert_eq!(requests[1].raw_body, "hello");
}

#[tokio::test]
async fn replies_follow_the_script_then_an_empty_script_gives_500() {
    let fake = FakeLlm::start().await;
    fake.push(error_json(429, "slow down").header("Retry-After", "1"));
    fake.push(Reply::json(200, "{not json"));

    let first = exchange(&fake, &post("/v1/chat/completions", "{}")).await;
    assert_eq!(first.status, 429);
    assert!(first.head.starts_with("http/1.1 429 too many requests\r\n"));
    assert!(first.head.contains("\r\nretry-after: 1"));
    assert_eq!(first.json()["error"]["message"], "slow down");
    assert_eq!(first.json()["error"]["code"], "rate_limit_exceeded");

    let second = exchange(&fake, &post("/v1/chat/completions", "{}")).await;
    assert_eq!((second.status, second.body.as_str()), (200, "{not json"));

    let third = exchange(&fake, &post("/v1/chat/completions", "{}")).await;
    assert_eq!(third.status, 500);
    let message = third.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("ran out of replies at request 3"),
        "{message}"
    );
    assert_eq!((fake.request_count(), fake.pending_replies()), (3, 0));
}

#[tokio::test]
async fn sse_in_seven_byte_crlf_pieces_arrives_split_and_byte_exact() {
    let fake = FakeLlm::start().await;
    let events = vec![
        SseEvent::named("a", json!({"x": 1})),
        SseEvent::data("[DONE]"),
    ];
    let reply = Reply {
        crlf: true,
        keepalive: true,
        pieces: Some(7),
        ..Reply::sse(events)
    };
    let expected = ": keepalive\r\n\r\nevent: a\r\ndata: {\"x\":1}\r\n\r\n\
                    : keepalive\r\n\r\ndata: [DONE]\r\n\r\n";
    assert_eq!(reply.body_text(), expected);
    fake.push(reply);

    let response = exchange(&fake, &post("/v1/chat/completions", "{}")).await;
    assert_eq!(response.status, 200);
    assert!(response.head.contains("content-type: text/event-stream"));
    assert!(!response.head.contains("content-length"));
    assert!(response.head.contains("connection: close"));
    assert_eq!(response.body, expected);
    // 69 body bytes in 7-byte pieces 5 ms apart: the reads cannot all have been merged.
    assert!(response.reads > 3, "only {} reads", response.reads);
}

#[tokio::test]
async fn openai_helpers_speak_the_chat_completions_wire_format() {
    let fake = FakeLlm::start().await;
    fake.push(openai_stream(&["Hel", "lo"]));
    let args = r#"{"city":"Paris"}"#;
    fake.push(openai_tool_stream(&[("call_1", "get_weather", args)], 4));

    let text = payloads(&exchange(&fake, &post("/", "{}")).await.body);
    assert_eq!(text[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = text[..2]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(content, "Hello");
    assert!(
        text.iter()
            .all(|c| c.is_null() || c["object"] == "chat.completion.chunk")
    );
    assert_eq!(text[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(text[3]["choices"], json!([]));
    assert_eq!(text[3]["usage"]["completion_tokens"], 2);
    assert_eq!((text.len(), &text[4]), (5, &Value::Null));

    let tools = payloads(&exchange(&fake, &post("/", "{}")).await.body);
    let call = &tools[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(call["id"], "call_1");
    assert_eq!(call["type"], "function");
    assert_eq!(
        call["function"],
        json!({"name": "get_weather", "arguments": ""})
    );
    let pieces = &tools[1..tools.len() - 3];
    assert_eq!(pieces.len(), 4); // 16 chars in pieces of 4
    let arguments: String = pieces
        .iter()
        .map(|c| &c["choices"][0]["delta"]["tool_calls"][0])
        .inspect(|call| assert_eq!(call["index"], 0))
        .map(|call| call["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(arguments, args);
    assert_eq!(
        tools[tools.len() - 3]["choices"][0]["finish_reason"],
        "tool_calls"
    );

    let json = openai_tool_json(&[("call_1", "f", "{}")]).body_text();
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "f"
    );
    let embeddings = openai_embeddings(&[vec![0.5, 1.0]]).body_text();
    let embeddings: Value = serde_json::from_str(&embeddings).unwrap();
    assert_eq!(embeddings["data"][0]["embedding"], json!([0.5, 1.0]));
}

#[tokio::test]
async fn anthropic_helpers_speak_the_messages_wire_format() {
    let fake = FakeLlm::start().await;
    fake.push(anthropic_stream(&["Hi", " there"]));
    let input = r#"{"city":"Paris"}"#;
    fake.push(anthropic_tool_stream(
        "Let me check.",
        &[("toolu_1", "get_weather", input)],
        5,
    ));

    let body = exchange(&fake, &post("/v1/messages", "{}")).await.body;
    let names: Vec<String> = events(&body).into_iter().map(|(name, _)| name).collect();
    let expected = [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ];
    assert_eq!(names, expected);
    let text = payloads(&body);
    // Each payload's `type` matches its event name.
    assert!(
        text.iter()
            .zip(&names)
            .all(|(data, name)| data["type"] == **name)
    );
    assert_eq!(text[0]["message"]["usage"]["input_tokens"], 10);
    assert_eq!(
        text[1]["content_block"],
        json!({"type": "text", "text": ""})
    );
    assert_eq!(
        text[4]["delta"],
        json!({"type": "text_delta", "text": " there"})
    );
    assert_eq!(text[6]["delta"]["stop_reason"], "end_turn");
    assert_eq!(text[6]["usage"]["output_tokens"], 2);

    let tools = payloads(&exchange(&fake, &post("/v1/messages", "{}")).await.body);
    let start = tools
        .iter()
        .find(|e| e["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(start["index"], 1);
    assert_eq!(start["content_block"]["id"], "toolu_1");
    let partial: String = tools
        .iter()
        .filter(|e| e["delta"]["type"] == "input_json_delta")
        .map(|e| e["delta"]["partial_json"].as_str().unwrap())
        .collect();
    assert_eq!(partial, input);
    assert_eq!(tools[tools.len() - 2]["delta"]["stop_reason"], "tool_use");

    let json = anthropic_tool_json("ok", &[("toolu_1", "f", input)]).body_text();
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["content"][1]["input"]["city"], "Paris");
    let error: Value =
        serde_json::from_str(&anthropic_error(529, "overloaded_error", "Overloaded").body_text())
            .unwrap();
    assert_eq!(
        error,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
}

#[tokio::test]
async fn cut_after_bytes_closes_the_connection_early() {
    let fake = FakeLlm::start().await;
    let stream = openai_stream(&["a", "b"]);
    let full = stream.body_text();
    fake.push(Reply {
        cut_after_bytes: Some(20),
        ..stream
    });
    fake.push(Reply {
        cut_after_bytes: Some(5),
        ..openai_json("hello")
    });

    let cut_stream = exchange(&fake, &post("/", "{}")).await;
    assert_eq!(cut_stream.body, full[..20]);
    let cut_json = exchange(&fake, &post("/", "{}")).await;
    let promised = openai_json("hello").body_text().len();
    assert!(
        cut_json
            .head
            .contains(&format!("content-length: {promised}"))
    );
    assert_eq!(cut_json.body.len(), 5);
}

#[tokio::test]
async fn first_byte_delay_holds_back_the_status_line() {
    let fake = FakeLlm::start().await;
    let delay = Duration::from_millis(300);
    fake.push(Reply {
        first_byte_delay: delay,
        ..openai_json("late")
    });
    let mut stream = connect(&fake).await;
    stream.write_all(post("/", "{}").as_bytes()).await.unwrap();
    let sent = Instant::now();
    let mut first = [0u8; 1];
    timeout(LIMIT, stream.read_exact(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(
        sent.elapsed() >= delay,
        "first byte after {:?}",
        sent.elapsed()
    );
    assert_eq!(&first, b"H");
    // The request is recorded on arrival, not when the reply is done.
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn clients_that_hang_up_early_are_counted_as_disconnects() {
    let fake = FakeLlm::start().await;
    fake.push(openai_json("complete"));
    exchange(&fake, &post("/", "{}")).await;
    assert_eq!(fake.disconnects(), 0, "a fully read reply is no disconnect");

    // Hang up mid-stream, after the head and some events arrived.
    let slow = openai_stream(&["x"; 50]);
    fake.push(Reply {
        piece_delay: Some(Duration::from_millis(50)),
        ..slow
    });
    let mut stream = connect(&fake).await;
    stream.write_all(post("/", "{}").as_bytes()).await.unwrap();
    let mut head = [0u8; 64];
    timeout(LIMIT, stream.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    drop(stream);
    assert!(fake.wait_for_disconnects(1, LIMIT).await);

    // Hang up while the server still waits to send its first byte.
    let stalled = Reply {
        first_byte_delay: Duration::from_secs(60),
        ..openai_json("never")
    };
    fake.push(stalled);
    let mut stream = connect(&fake).await;
    stream.write_all(post("/", "{}").as_bytes()).await.unwrap();
    while fake.request_count() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(stream);
    assert!(fake.wait_for_disconnects(2, LIMIT).await);
}

#[tokio::test]
async fn dropping_the_server_closes_its_connections() {
    let fake = FakeLlm::start().await;
    fake.push(Reply {
        first_byte_delay: Duration::from_secs(60),
        ..openai_json("never")
    });
    let mut stream = connect(&fake).await;
    stream.write_all(post("/", "{}").as_bytes()).await.unwrap();
    while fake.request_count() < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(fake);
    let mut buf = [0u8; 16];
    let read = timeout(LIMIT, stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let fake = FakeLlm::start().await;
    fake.keep_alive();
    fake.push(openai_stream(&["one"]));
    fake.push(Reply::json(200, r#"{"n":2}"#));
    let mut stream = connect(&fake).await;
    // Each reply has a length, so the connection stays open: read until the expected text
    // has arrived rather than until EOF.
    let read_until = async |stream: &mut TcpStream, expected: &str| {
        let (mut received, mut buf) = (Vec::new(), [0u8; 4096]);
        while !String::from_utf8_lossy(&received).contains(expected) {
            let n = timeout(LIMIT, stream.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the server closed a kept-alive connection");
            received.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(received).unwrap()
    };
    stream
        .write_all(post("/v1/chat/completions", "{}").as_bytes())
        .await
        .unwrap();
    let first = read_until(&mut stream, "[DONE]").await;
    assert!(
        first.contains("Content-Length: ") && !first.contains("Connection: close"),
        "{first}"
    );
    stream
        .write_all(post("/v1/chat/completions", "{}").as_bytes())
        .await
        .unwrap();
    let second = read_until(&mut stream, r#"{"n":2}"#).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert_eq!(fake.request_count(), 2);
}
