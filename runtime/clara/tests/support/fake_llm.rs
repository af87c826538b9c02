//! A fake LLM provider on 127.0.0.1 that speaks real HTTP/1.1 and the providers' wire formats.
//!
//! Provider tests talk to it over real sockets, so we fake at the protocol level and never mock
//! our own code. It is hand-rolled on tokio rather than built on an HTTP library so a test
//! controls every byte: events split mid-line, CRLF endings, stalls, connections cut short.
//! Each connection carries one request and gets one scripted reply with `Connection: close`.

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One request as the fake server received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target as sent, query included (`/v1/chat/completions`).
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
    /// The body as text (lossy UTF-8), after undoing chunked transfer encoding.
    pub raw_body: String,
}

impl RecordedRequest {
    /// The first value of header `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        let mut values = self.headers.iter().filter(|(n, _)| *n == name);
        values.next().map(|(_, v)| v.as_str())
    }
}

/// One server-sent event: `event: NAME` (when named), `data: …`, then a blank line.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `event:` field (Anthropic names every event; OpenAI names none).
    pub event: Option<String>,
    /// The payload; embedded newlines become several `data:` lines, as the SSE spec says.
    pub data: String,
}

impl SseEvent {
    /// An unnamed event carrying `data` (a `serde_json::Value` is written as one-line JSON).
    pub fn data(data: impl ToString) -> Self {
        let data = data.to_string();
        SseEvent { event: None, data }
    }

    /// An event named `event` carrying `data`.
    pub fn named(event: &str, data: impl ToString) -> Self {
        let (event, data) = (Some(event.to_string()), data.to_string());
        SseEvent { event, data }
    }
}

/// What a reply's body is made of.
#[derive(Debug, Clone)]
pub enum Body {
    /// Text sent with a `Content-Length`.
    Text(String),
    /// Events sent with no length: the body ends when the server closes the connection.
    Sse(Vec<SseEvent>),
}

/// A scripted reply. Make one with [`Reply::json`], [`Reply::sse`] or a wire-format helper, then
/// adjust it with struct update syntax:
/// `Reply { crlf: true, pieces: Some(7), ..openai_stream(&["Hel", "lo"]) }`.
///
/// Unless `pieces` is set, a text body goes out in one write and an SSE body one event per write.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Response headers; `Content-Length` and `Connection: close` are added when writing.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// SSE lines end in `\r\n` instead of `\n`.
    pub crlf: bool,
    /// A `: keepalive` comment block goes before every SSE event.
    pub keepalive: bool,
    /// Write the body in pieces of this many bytes, flushed, `piece_delay` apart, so events
    /// arrive split mid-line across reads.
    pub pieces: Option<usize>,
    /// The pause between writes; `None` means 5 ms when `pieces` is set, else none.
    pub piece_delay: Option<Duration>,
    /// The pause before the status line is written.
    pub first_byte_delay: Duration,
    /// Send only this many body bytes, then close without a proper end: an SSE body just
    /// stops early, a `Content-Length` body comes up short.
    pub cut_after_bytes: Option<usize>,
}

impl Reply {
    /// `status` with `Content-Type: application/json` and `body` verbatim (malformed is fine).
    pub fn json(status: u16, body: impl ToString) -> Self {
        Reply::new(status, "application/json", Body::Text(body.to_string()))
    }

    /// `200` with `Content-Type: text/event-stream` and these events.
    pub fn sse(events: Vec<SseEvent>) -> Self {
        Reply::new(200, "text/event-stream", Body::Sse(events)).header("Cache-Control", "no-cache")
    }

    fn new(status: u16, content_type: &str, body: Body) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
            crlf: false,
            keepalive: false,
            pieces: None,
            piece_delay: None,
            first_byte_delay: Duration::ZERO,
            cut_after_bytes: None,
        }
    }

    /// Sets a response header, replacing any of the same name (e.g. `Retry-After: 1`).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The exact body this reply writes when not cut.
    pub fn body_text(&self) -> String {
        self.blocks().concat()
    }

    /// The body as its natural writes: the whole text, or one block per SSE event.
    fn blocks(&self) -> Vec<String> {
        let events = match &self.body {
            Body::Text(text) => return vec![text.clone()],
            Body::Sse(events) => events,
        };
        let nl = if self.crlf { "\r\n" } else { "\n" };
        let mut blocks = Vec::new();
        for event in events {
            if self.keepalive {
                blocks.push(format!(": keepalive{nl}{nl}"));
            }
            let name = event
                .event
                .as_ref()
                .map(|name| format!("event: {name}{nl}"));
            let mut block = name.unwrap_or_default();
            for line in event.data.split('\n') {
                block += &format!("data: {line}{nl}");
            }
            blocks.push(block + nl);
        }
        blocks
    }
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    requests: Vec<RecordedRequest>,
    disconnects: usize,
}

/// The running fake server. Dropping it stops the server and every open connection.
pub struct FakeLlm {
    base_url: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl FakeLlm {
    /// Binds 127.0.0.1 on a free port and serves in the background.
    pub async fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake LLM");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        FakeLlm {
            base_url,
            state,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Queues a reply; replies are used in order, one per request.
    pub fn push(&self, reply: Reply) {
        self.state().replies.push_back(reply);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// How many requests have been received.
    pub fn request_count(&self) -> usize {
        self.state().requests.len()
    }

    /// How many queued replies no request has used yet.
    pub fn pending_replies(&self) -> usize {
        self.state().replies.len()
    }

    /// How many replies were abandoned because the client closed the connection first.
    pub fn disconnects(&self) -> usize {
        self.state().disconnects
    }

    /// Waits until at least `n` disconnects were seen or `within` passes; true if they were.
    pub async fn wait_for_disconnects(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.disconnects() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.disconnects() >= n
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        // The connections live in a JoinSet owned by this task, so they are aborted with it.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            // Without nodelay, Nagle would merge our small pieces and hide split reads.
            let _ = stream.set_nodelay(true);
            connections.spawn(serve(stream, Arc::clone(&state)));
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let (read, mut write) = stream.split();
    let mut read = tokio::io::BufReader::new(read);
    // A client that leaves before finishing its request gets nothing and uses no reply.
    let Ok(request) = read_request(&mut read).await else {
        return;
    };
    let reply = {
        let mut state = state.lock().unwrap();
        let n = state.requests.len() + 1;
        let (method, path) = (&request.method, &request.path);
        let why =
            format!("fake_llm: the script ran out of replies at request {n} ({method} {path})");
        let reply = state
            .replies
            .pop_front()
            .unwrap_or_else(|| error_json(500, &why));
        state.requests.push(request);
        reply
    };
    // Watch the socket while writing: EOF from the client means it gave up on us. Biased so a
    // reply that finished writing counts as delivered even if the client closes right after.
    let delivered = tokio::select! {
        biased;
        written = write_reply(&mut write, &reply) => written.is_ok(),
        () = closed_by_client(&mut read) => false,
    };
    if delivered {
        let _ = write.shutdown().await;
    } else {
        state.lock().unwrap().disconnects += 1;
    }
}

/// Returns once the client has closed its side (or the socket failed).
async fn closed_by_client(read: &mut (impl AsyncBufRead + Unpin)) {
    let mut buf = [0u8; 512];
    while let Ok(1..) = read.read(&mut buf).await {}
}

fn bad_data(why: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Reads one line; EOF before the line ends is an error (the request is incomplete).
async fn line(r: &mut (impl AsyncBufRead + Unpin), buf: &mut String) -> io::Result<()> {
    buf.clear();
    match r.read_line(buf).await? {
        0 => Err(bad_data("connection closed mid-request")),
        _ => Ok(()),
    }
}

async fn read_request(r: &mut (impl AsyncBufRead + Unpin)) -> io::Result<RecordedRequest> {
    let mut buf = String::new();
    line(r, &mut buf).await?;
    let mut parts = buf.split_whitespace().map(str::to_string);
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(bad_data("bad request line"));
    };
    let mut headers = Vec::new();
    loop {
        line(r, &mut buf).await?;
        let Some((name, value)) = buf.split_once(':') else {
            break; // the blank line ending the head
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_lowercase())
    };
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        // Chunks are `SIZE-IN-HEX[;ext]\r\n DATA\r\n`, ended by a `0` chunk and trailers.
        loop {
            line(r, &mut buf).await?;
            let size = buf.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(bad_data)?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).await?;
            line(r, &mut buf).await?;
        }
        while line(r, &mut buf).await.is_ok() && !buf.trim().is_empty() {}
    } else if let Some(length) = find("content-length") {
        body.resize(length.parse().map_err(bad_data)?, 0);
        r.read_exact(&mut body).await?;
    }
    let raw_body = String::from_utf8_lossy(&body).into_owned();
    let body = serde_json::from_str(&raw_body).unwrap_or(Value::Null);
    Ok(RecordedRequest {
        method,
        path,
        headers,
        body,
        raw_body,
    })
}

async fn write_reply(w: &mut (impl AsyncWrite + Unpin), reply: &Reply) -> io::Result<()> {
    tokio::time::sleep(reply.first_byte_delay).await;
    let body = reply.body_text();
    let reason = REASONS.iter().find(|(code, _)| *code == reply.status);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        reply.status,
        reason.map_or("Other", |r| r.1)
    );
    for (name, value) in &reply.headers {
        head += &format!("{name}: {value}\r\n");
    }
    if let Body::Text(_) = reply.body {
        head += &format!("Content-Length: {}\r\n", body.len());
    }
    w.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .await?;
    w.flush().await?;

    let pieces: Vec<Vec<u8>> = match reply.pieces {
        Some(n) => body
            .as_bytes()
            .chunks(n.max(1))
            .map(<[u8]>::to_vec)
            .collect(),
        None => reply.blocks().into_iter().map(String::into_bytes).collect(),
    };
    let default_delay = Duration::from_millis(if reply.pieces.is_some() { 5 } else { 0 });
    let mut left = reply.cut_after_bytes.unwrap_or(usize::MAX);
    for (i, piece) in pieces.iter().enumerate() {
        if left == 0 {
            break; // cut: returning drops the connection mid-body
        }
        if i > 0 {
            tokio::time::sleep(reply.piece_delay.unwrap_or(default_delay)).await;
        }
        let piece = &piece[..piece.len().min(left)];
        left -= piece.len();
        w.write_all(piece).await?;
        w.flush().await?;
    }
    Ok(())
}

const REASONS: &[(u16, &str)] = &[
    (200, "OK"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (408, "Request Timeout"),
    (429, "Too Many Requests"),
    (500, "Internal Server Error"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (529, "Overloaded"),
];

// ---- OpenAI chat completions: id "chatcmpl-1", model "m", prompt_tokens 10 ----

fn openai_usage(completion_tokens: usize) -> Value {
    let total = 10 + completion_tokens;
    json!({"prompt_tokens": 10, "completion_tokens": completion_tokens, "total_tokens": total})
}

fn openai_chunk(choices: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": choices})
}

fn openai_delta(delta: Value, finish_reason: Option<&str>) -> SseEvent {
    let choice = json!({"index": 0, "delta": delta, "finish_reason": finish_reason});
    SseEvent::data(openai_chunk(json!([choice])))
}

/// Ends every OpenAI stream: the finish chunk, the usage chunk (`choices: []`, as sent with
/// `stream_options.include_usage`), then `data: [DONE]`.
fn openai_end(mut events: Vec<SseEvent>, finish_reason: &str, tokens: usize) -> Reply {
    events.push(openai_delta(json!({}), Some(finish_reason)));
    let mut usage = openai_chunk(json!([]));
    usage["usage"] = openai_usage(tokens);
    events.extend([SseEvent::data(usage), SseEvent::data("[DONE]")]);
    Reply::sse(events)
}

/// A streamed chat completion: one `delta.content` chunk per text (the first also carries
/// `role: "assistant"`), a `finish_reason: "stop"` chunk, a usage chunk, `[DONE]`.
pub fn openai_stream(text_deltas: &[&str]) -> Reply {
    // With no text the stream still opens with the role chunk, as the real API's does.
    let texts = if text_deltas.is_empty() {
        &[""][..]
    } else {
        text_deltas
    };
    let mut events = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut delta = json!({"content": text});
        if i == 0 {
            delta["role"] = json!("assistant");
        }
        events.push(openai_delta(delta, None));
    }
    openai_end(events, "stop", text_deltas.len())
}

/// Streamed tool calls `(id, name, arguments_json)`: per call a chunk with `index`, `id`,
/// `type: "function"` and the name (`arguments: ""`), then the arguments in pieces of `split`
/// chars; `finish_reason: "tool_calls"`, usage, `[DONE]`.
pub fn openai_tool_stream(calls: &[(&str, &str, &str)], split: usize) -> Reply {
    let mut events = Vec::new();
    for (i, (id, name, arguments)) in calls.iter().enumerate() {
        let function = json!({"name": name, "arguments": ""});
        let call = json!({"index": i, "id": id, "type": "function", "function": function});
        let mut delta = json!({"tool_calls": [call]});
        if i == 0 {
            delta["role"] = json!("assistant");
            delta["content"] = Value::Null;
        }
        events.push(openai_delta(delta, None));
        for piece in split_chars(arguments, split) {
            let call = json!({"index": i, "function": {"arguments": piece}});
            events.push(openai_delta(json!({"tool_calls": [call]}), None));
        }
    }
    openai_end(events, "tool_calls", calls.len())
}

fn openai_completion(message: Value, finish_reason: &str, tokens: usize) -> Reply {
    let choice = json!({"index": 0, "message": message, "logprobs": null,
        "finish_reason": finish_reason});
    Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [choice], "usage": openai_usage(tokens)}),
    )
}

/// A non-streamed `chat.completion` answering `text`, `finish_reason: "stop"`.
pub fn openai_json(text: &str) -> Reply {
    openai_completion(json!({"role": "assistant", "content": text}), "stop", 1)
}

/// A non-streamed `chat.completion` making the tool calls `(id, name, arguments_json)`.
pub fn openai_tool_json(calls: &[(&str, &str, &str)]) -> Reply {
    let mut tool_calls = Vec::new();
    for (id, name, arguments) in calls {
        let function = json!({"name": name, "arguments": arguments});
        tool_calls.push(json!({"id": id, "type": "function", "function": function}));
    }
    let message = json!({"role": "assistant", "content": null, "tool_calls": tool_calls});
    openai_completion(message, "tool_calls", calls.len())
}

/// An embeddings list, one entry per vector, model `text-embedding-test`.
pub fn openai_embeddings(vectors: &[Vec<f32>]) -> Reply {
    let mut data = Vec::new();
    for (i, vector) in vectors.iter().enumerate() {
        data.push(json!({"object": "embedding", "index": i, "embedding": vector}));
    }
    let usage = json!({"prompt_tokens": 8, "total_tokens": 8});
    let body = json!({"object": "list", "data": data, "model": "text-embedding-test",
        "usage": usage});
    Reply::json(200, body)
}

/// An OpenAI error `{"error":{"message","type","param","code"}}`, typed to fit the status
/// (`requests`/`rate_limit_exceeded` for 429, `server_error` for 5xx).
pub fn error_json(status: u16, message: &str) -> Reply {
    let (kind, code) = match status {
        429 => ("requests", json!("rate_limit_exceeded")),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        500.. => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    let error = json!({"message": message, "type": kind, "param": null, "code": code});
    Reply::json(status, json!({ "error": error }))
}

// ---- Anthropic messages: id "msg_1", model "claude-test", input_tokens 10 ----

/// Anthropic names each event after its payload's `type`.
fn anthropic_event(payload: Value) -> SseEvent {
    let name = payload["type"].as_str().unwrap().to_string();
    SseEvent::named(&name, payload)
}

fn anthropic_message(content: Value, stop_reason: Option<&str>, output_tokens: usize) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": content, "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": output_tokens}})
}

/// `message_start`, then per block `content_block_start` (the first followed by `ping`, as the
/// real API sends), its deltas and `content_block_stop`, then `message_delta`, `message_stop`.
fn anthropic_events(blocks: Vec<(Value, Vec<Value>)>, stop_reason: &str, tokens: usize) -> Reply {
    let start = anthropic_message(json!([]), None, 1);
    let mut events = vec![anthropic_event(
        json!({"type": "message_start", "message": start}),
    )];
    for (index, (block, deltas)) in blocks.into_iter().enumerate() {
        let start = json!({"type": "content_block_start", "index": index, "content_block": block});
        events.push(anthropic_event(start));
        if index == 0 {
            events.push(anthropic_event(json!({"type": "ping"})));
        }
        for delta in deltas {
            let delta = json!({"type": "content_block_delta", "index": index, "delta": delta});
            events.push(anthropic_event(delta));
        }
        events.push(anthropic_event(
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let delta = json!({"stop_reason": stop_reason, "stop_sequence": null});
    let usage = json!({"output_tokens": tokens});
    events.push(anthropic_event(
        json!({"type": "message_delta", "delta": delta, "usage": usage}),
    ));
    events.push(anthropic_event(json!({"type": "message_stop"})));
    Reply::sse(events)
}

fn text_block(deltas: &[&str]) -> (Value, Vec<Value>) {
    let deltas = deltas
        .iter()
        .map(|t| json!({"type": "text_delta", "text": t}));
    (json!({"type": "text", "text": ""}), deltas.collect())
}

/// A streamed message with one text block, a `text_delta` per text; `stop_reason: "end_turn"`.
pub fn anthropic_stream(text_deltas: &[&str]) -> Reply {
    anthropic_events(vec![text_block(text_deltas)], "end_turn", text_deltas.len())
}

/// A streamed message: a text block (none when `text_before` is empty), then a `tool_use`
/// block per `(id, name, input_json)` whose input arrives as `input_json_delta` pieces of
/// `split` chars; `stop_reason: "tool_use"`.
pub fn anthropic_tool_stream(
    text_before: &str,
    calls: &[(&str, &str, &str)],
    split: usize,
) -> Reply {
    let mut blocks = Vec::new();
    if !text_before.is_empty() {
        blocks.push(text_block(&[text_before]));
    }
    for (id, name, input) in calls {
        let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
        let pieces = split_chars(input, split).into_iter();
        let deltas = pieces.map(|p| json!({"type": "input_json_delta", "partial_json": p}));
        blocks.push((block, deltas.collect()));
    }
    anthropic_events(blocks, "tool_use", calls.len())
}

/// A non-streamed message answering `text`, `stop_reason: "end_turn"`.
pub fn anthropic_json(text: &str) -> Reply {
    let content = json!([{"type": "text", "text": text}]);
    Reply::json(200, anthropic_message(content, Some("end_turn"), 1))
}

/// A non-streamed message: `text` (if not empty), then `tool_use` blocks; each `input_json`
/// must be valid JSON.
pub fn anthropic_tool_json(text: &str, calls: &[(&str, &str, &str)]) -> Reply {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for (id, name, input) in calls {
        let input: Value = serde_json::from_str(input).expect("tool input must be JSON");
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    let message = anthropic_message(Value::Array(content), Some("tool_use"), calls.len());
    Reply::json(200, message)
}

/// An Anthropic error `{"type":"error","error":{"type":kind,"message":message}}`, e.g.
/// `anthropic_error(529, "overloaded_error", "Overloaded")`.
pub fn anthropic_error(status: u16, kind: &str, message: &str) -> Reply {
    let error = json!({"type": kind, "message": message});
    Reply::json(status, json!({"type": "error", "error": error}))
}

/// `text` in pieces of `n` chars (never splitting a char), as streamed arguments arrive.
fn split_chars(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}
