//! The fake REST API: a hyper server that records every request, injects failures and
//! delays, and answers through `routes`.
//!
//! twilight-http (with `.proxy(addr, true)`) sends `http://127.0.0.1:PORT/api/v10/...`.
//! Requests are recorded with the `/api/v10` prefix removed and the query split off, the rest
//! exactly as sent (percent-encoding kept): `POST /channels/2000/messages`,
//! `PUT /channels/2000/messages/6001/reactions/%F0%9F%91%80/@me`. Served files keep their own
//! path (`/attachments/N/NAME`).

use super::State;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// One request as the fake REST server received it.
#[derive(Debug, Clone)]
pub struct RestRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Without `/api/v10` and without the query (see the module docs).
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// Names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body; for multipart, the `payload_json` part; `Null` when there is none.
    pub body: Value,
    /// The body bytes as sent.
    pub raw: Vec<u8>,
    /// Uploaded files from a multipart body, as `(filename, bytes)`.
    pub files: Vec<(String, Vec<u8>)>,
    /// The status the fake answered with.
    pub status: u16,
    /// False when no route matched (it got a 404).
    pub handled: bool,
}

impl RestRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// This method (any case) and a path starting with `path_prefix`.
    pub fn is(&self, method: &str, path_prefix: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path.starts_with(path_prefix)
    }
}

/// A failure to answer one matching request with instead of routing it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Failure {
    /// A 429 for the user's bucket (`x-ratelimit-scope: user`, remaining 0, reset after
    /// `seconds`). twilight retries it by itself after `seconds`.
    pub fn rate_limited(seconds: f64) -> Failure {
        let headers = [
            ("x-ratelimit-scope", "user".to_owned()),
            ("x-ratelimit-bucket", "fake-bucket".to_owned()),
            ("x-ratelimit-limit", "5".to_owned()),
            ("x-ratelimit-remaining", "0".to_owned()),
            ("x-ratelimit-reset-after", format!("{seconds:.3}")),
            ("retry-after", format!("{}", seconds.ceil() as u64)),
        ];
        Failure {
            status: 429,
            headers: headers
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
            body: json!({"message": "You are being rate limited.", "retry_after": seconds, "global": false}),
        }
    }

    /// `status` with Discord's JSON error body `{"code", "message"}`.
    pub fn status(status: u16, code: u64, message: &str) -> Failure {
        let body = super::payloads::error_json(code, message);
        Failure {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// A 500, as Discord sends when it is having a bad day.
    pub fn server_error() -> Failure {
        Failure::status(500, 0, "500: Internal Server Error")
    }
}

#[derive(Default)]
pub(super) struct RestState {
    pub requests: Vec<RestRequest>,
    failures: Vec<(String, String, Failure)>,
    delays: Vec<(String, String, Duration)>,
}

/// A response the routes produce.
pub(super) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub handled: bool,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        Reply {
            status,
            headers,
            body: body.to_string().into_bytes(),
            handled: true,
        }
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
            handled: true,
        }
    }

    /// Discord's JSON error.
    pub fn error(status: u16, code: u64, message: &str) -> Reply {
        Reply::json(status, super::payloads::error_json(code, message))
    }

    pub fn bytes(content_type: &str, body: Vec<u8>) -> Reply {
        let headers = vec![("content-type".to_owned(), content_type.to_owned())];
        Reply {
            status: 200,
            headers,
            body,
            handled: true,
        }
    }
}

impl From<Failure> for Reply {
    fn from(failure: Failure) -> Reply {
        let mut reply = Reply::json(failure.status, failure.body);
        reply.headers.extend(failure.headers);
        reply
    }
}

impl super::FakeDiscord {
    /// Answers the next request with this method whose path starts with `path_prefix` (as
    /// recorded: `/channels/2000/messages`) with `failure` instead. Queued failures are used
    /// once each, in order.
    pub fn fail_next(&self, method: &str, path_prefix: &str, failure: Failure) {
        let rule = (method.to_ascii_uppercase(), path_prefix.to_owned(), failure);
        self.state().rest.failures.push(rule);
    }

    /// Makes every matching request wait `delay` before it is handled (a slow Discord).
    pub fn delay(&self, method: &str, path_prefix: &str, delay: Duration) {
        let rule = (method.to_ascii_uppercase(), path_prefix.to_owned(), delay);
        self.state().rest.delays.push(rule);
    }
}

pub(super) async fn accept_loop(listener: TcpListener, state: Arc<Mutex<State>>) {
    let mut connections = JoinSet::new();
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&state);
            let service = service_fn(move |request| handle(Arc::clone(&state), request));
            connections
                .spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
        while connections.try_join_next().is_some() {}
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let raw = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let path = parts.uri.path();
    let path = path.strip_prefix("/api/v10").unwrap_or(path).to_owned();
    let headers: Vec<(String, String)> = (parts.headers.iter())
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let (body, files) = match content_type.and_then(|t| t.split("boundary=").nth(1)) {
        Some(boundary) => multipart(&raw, boundary.as_bytes()),
        None => (
            serde_json::from_slice(&raw).unwrap_or(Value::Null),
            Vec::new(),
        ),
    };
    let method = parts.method.as_str().to_owned();
    let (index, failure, delay) = {
        let mut state = state.lock().unwrap();
        let rest = &mut state.rest;
        let matches = |m: &str, p: &str| *m == method && path.starts_with(p);
        let failure = (rest.failures.iter())
            .position(|(m, p, _)| matches(m, p))
            .map(|i| rest.failures.remove(i).2);
        let delay = rest
            .delays
            .iter()
            .find(|(m, p, _)| matches(m, p))
            .map(|d| d.2);
        rest.requests.push(RestRequest {
            method: method.clone(),
            path: path.clone(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body: body.clone(),
            raw,
            files: files.clone(),
            status: 0,
            handled: true,
        });
        (rest.requests.len() - 1, failure, delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let reply = match failure {
        Some(failure) => Reply::from(failure),
        None => super::routes::route(&mut state.lock().unwrap(), &method, &path, &body, &files),
    };
    if let Some(request) = state.lock().unwrap().rest.requests.get_mut(index) {
        (request.status, request.handled) = (reply.status, reply.handled);
    }
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(Bytes::from(reply.body))).unwrap())
}

/// The `payload_json` part as JSON and the file parts of a multipart body (the form
/// twilight-http writes: `--B\r\nheaders\r\n\r\nvalue\r\n--B ... --B--`).
fn multipart(raw: &[u8], boundary: &[u8]) -> (Value, Vec<(String, Vec<u8>)>) {
    let delimiter = [b"--".as_slice(), boundary].concat();
    let (mut payload, mut files) = (Value::Null, Vec::new());
    for part in split(raw, &delimiter) {
        let part = part.strip_prefix(b"\r\n").unwrap_or(part);
        let Some(end) = find(part, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&part[..end]);
        let value = &part[end + 4..];
        let value = value.strip_suffix(b"\r\n").unwrap_or(value);
        let quoted = |key: &str| {
            let start = head.find(&format!("{key}=\""))? + key.len() + 2;
            head[start..].split('"').next().map(str::to_owned)
        };
        match (quoted("name"), quoted("filename")) {
            (_, Some(filename)) => files.push((filename, value.to_vec())),
            (Some(name), None) if name == "payload_json" => {
                payload = serde_json::from_slice(value).unwrap_or(Value::Null);
            }
            _ => {}
        }
    }
    (payload, files)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut bytes: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(bytes, delimiter) {
        parts.push(&bytes[..at]);
        bytes = &bytes[at + delimiter.len()..];
    }
    parts.push(bytes);
    parts
}

/// Embeds as a message returns them: twilight's model needs each one's `type`.
pub(super) fn embeds_of(embeds: &Value) -> Value {
    let mut embeds = embeds.as_array().cloned().unwrap_or_default();
    for embed in &mut embeds {
        if embed.get("type").is_none() {
            embed["type"] = json!("rich");
        }
    }
    Value::Array(embeds)
}

/// `%F0%9F%91%80` → `👀`.
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        let hex = (bytes[i] == b'%').then(|| text.get(i + 1..i + 3)).flatten();
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) => (out.push(byte), i += 3),
            None => (out.push(bytes[i]), i += 1),
        };
    }
    String::from_utf8_lossy(&out).into_owned()
}
