//! A fake LLM provider on 127.0.0.1 that speaks real HTTP/1.1 and the providers' wire formats.
//!
//! Provider tests talk to it over real sockets, so we fake at the protocol level and never mock
//! our own code. It is hand-rolled on tokio rather than built on an HTTP library so a test
//! controls every byte: events split mid-line, CRLF endings, stalls, connections cut short.
//! Each connection carries one request and gets one scripted reply with `Connection: close`,
//! unless [`FakeLlm::keep_alive`] asks for connections reused like a hosted API's.
//! The replies real APIs send are built by the helpers in `formats`.

mod formats;
mod prompt_cache;

pub use formats::*;
pub use prompt_cache::CacheUse;

use serde_json::Value;
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
    /// When set, `/embeddings` requests are answered with vectors of this size computed from
    /// their inputs, outside the script.
    auto_embeddings: Option<usize>,
    /// Connections stay open between requests (see [`FakeLlm::keep_alive`]).
    keep_alive: bool,
    /// Chat requests go through a prompt cache (see [`FakeLlm::prompt_cache`]).
    cache: Option<prompt_cache::PromptCache>,
    /// What the cache did for each chat request, in order.
    cache_uses: Vec<CacheUse>,
    replies: VecDeque<Reply>,
    /// Replies for requests that do not stream (memory work), taken before `replies`.
    background: VecDeque<Reply>,
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

    /// Answers every `/embeddings` request itself with `dims`-sized bag-of-words vectors (texts
    /// sharing words get similar vectors), so tests need not script each embedding call.
    pub fn auto_embeddings(&self, dims: usize) {
        self.state().auto_embeddings = Some(dims);
    }

    /// Keeps connections open between requests, as hosted APIs do, instead of one request per
    /// connection: every body, SSE included, then goes out with a `Content-Length`. A reply
    /// that cuts its body short still closes the connection.
    pub fn keep_alive(&self) {
        self.state().keep_alive = true;
    }

    /// Caches prompts as Anthropic does at the `cache_control` marks of each chat request, and
    /// reports what was read and written in the reply's usage instead of the scripted figures.
    pub fn prompt_cache(&self) {
        self.state().cache = Some(prompt_cache::PromptCache::default());
    }

    /// What the prompt cache did for each chat request so far.
    pub fn cache_uses(&self) -> Vec<CacheUse> {
        self.state().cache_uses.clone()
    }

    /// Queues a reply; replies are used in order, one per request.
    pub fn push(&self, reply: Reply) {
        self.state().replies.push_back(reply);
    }

    /// Queues a reply for the memory work that runs beside the conversation: requests that do
    /// not stream take these first, so a script does not depend on whether the next chat
    /// call or the memory work reaches the server first.
    pub fn push_background(&self, reply: Reply) {
        self.state().background.push_back(reply);
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// The text of the last tool result the model was sent (in its latest request).
    pub fn last_tool_result(&self) -> String {
        let requests = self.requests();
        let last = requests.last().expect("the model was asked");
        let messages = last.body["messages"].as_array().expect("messages");
        let result = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "tool")
            .expect("a tool result");
        result["content"].as_str().unwrap_or_default().to_owned()
    }

    /// Every request received since the last call, forgetting them: a long run keeps no log.
    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut self.state().requests)
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
    loop {
        // A client that leaves before finishing its request gets nothing and uses no reply.
        let Ok(request) = read_request(&mut read).await else {
            return;
        };
        let (reply, keep_alive) = {
            let mut state = state.lock().unwrap();
            let n = state.requests.len() + 1;
            let (method, path) = (&request.method, &request.path);
            let why =
                format!("fake_llm: the script ran out of replies at request {n} ({method} {path})");
            let streams = request.body["stream"] == Value::Bool(true);
            let mut reply = match state.auto_embeddings {
                Some(dims) if path.ends_with("/embeddings") => embeddings_for(&request.body, dims),
                _ if !streams && !state.background.is_empty() => state
                    .background
                    .pop_front()
                    .unwrap_or_else(|| error_json(500, &why)),
                _ => state
                    .replies
                    .pop_front()
                    .unwrap_or_else(|| error_json(500, &why)),
            };
            let chat = !path.ends_with("/embeddings");
            if let Some(cache) = state.cache.as_mut().filter(|_| chat && reply.status == 200) {
                let used = cache.account(path, &request.body);
                prompt_cache::report(&mut reply, used);
                state.cache_uses.push(used);
            }
            state.requests.push(request);
            let keep_alive = state.keep_alive && reply.cut_after_bytes.is_none();
            (reply, keep_alive)
        };
        // Watch the socket while writing: EOF from the client means it gave up on us. Biased
        // so a reply that finished writing counts as delivered even if the client closes
        // right after.
        let delivered = tokio::select! {
            biased;
            written = write_reply(&mut write, &reply, keep_alive) => written.is_ok(),
            () = closed_by_client(&mut read) => false,
        };
        if !delivered {
            state.lock().unwrap().disconnects += 1;
            return;
        }
        if !keep_alive {
            let _ = write.shutdown().await;
            return;
        }
    }
}

/// Bag-of-words vectors for the request's `input` texts.
fn embeddings_for(body: &Value, dims: usize) -> Reply {
    let texts = body["input"].as_array().cloned().unwrap_or_default();
    let vectors: Vec<Vec<f32>> = texts
        .iter()
        .map(|text| bag_of_words(text.as_str().unwrap_or_default(), dims))
        .collect();
    openai_embeddings(&vectors)
}

/// The vector [`FakeLlm::auto_embeddings`] answers for `text`: each word adds one to a slot
/// picked by its hash, then the whole is L2-normalised.
pub fn bag_of_words(text: &str, dims: usize) -> Vec<f32> {
    let mut vector = vec![0.0f32; dims];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let slot = word
            .bytes()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            as usize
            % dims;
        vector[slot] += 1.0;
    }
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    vector.iter().map(|x| x / norm).collect()
}

/// Waits `delay`; a zero delay does not wait at all (tokio's `sleep(0)` still waits for the
/// next timer tick, about a millisecond, which would make a "zero-latency" model slow).
async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
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

async fn write_reply(
    w: &mut (impl AsyncWrite + Unpin),
    reply: &Reply,
    keep_alive: bool,
) -> io::Result<()> {
    pause(reply.first_byte_delay).await;
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
    if keep_alive || matches!(reply.body, Body::Text(_)) {
        head += &format!("Content-Length: {}\r\n", body.len());
    }
    if !keep_alive {
        head += "Connection: close\r\n";
    }
    w.write_all(format!("{head}\r\n").as_bytes()).await?;
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
            pause(reply.piece_delay.unwrap_or(default_delay)).await;
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
