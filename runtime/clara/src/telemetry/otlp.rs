//! Export to an OpenTelemetry collector: traces encoded as OTLP/JSON and posted to
//! `{endpoint}/v1/traces` from a queue of bounded size, so a slow or unreachable collector
//! costs a turn nothing (spans past the bound are dropped and counted).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use std::fmt::Write;
use tokio::sync::Notify;

use super::span_record::{AttrValue, SpanRecord, Trace, span_hex};

/// The most spans one request carries.
const BATCH_SPANS: usize = 1024;

/// How long spans wait for company before they are sent anyway.
const LINGER: Duration = Duration::from_millis(500);

/// A failed export is logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What export has done, for `/metrics`.
#[derive(Default)]
pub struct ExportCounts {
    /// Spans the collector accepted.
    pub exported: AtomicU64,
    /// Spans dropped: the queue was full, or the collector refused or could not be reached.
    pub dropped: AtomicU64,
    /// Requests that failed.
    pub failures: AtomicU64,
}

/// Where traces go, and those waiting to.
pub struct Exporter {
    url: String,
    /// `url` without any user or password in it, for the log.
    shown_url: String,
    service: String,
    client: reqwest::Client,
    queue: Mutex<Queue>,
    cap: usize,
    wake: Notify,
    counts: Arc<ExportCounts>,
    last_warning: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Queue {
    traces: VecDeque<Arc<Trace>>,
    spans: usize,
}

/// Why export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ExporterError {
    /// A header name or value cannot be sent.
    #[error("[telemetry] header `{0}` cannot be sent as an HTTP header")]
    Header(String),
    /// The HTTP client could not be built.
    #[error("cannot set up trace export: {0}")]
    Client(String),
}

impl Exporter {
    /// An exporter to the collector at `endpoint`, sending `headers`, holding at most `cap`
    /// spans.
    pub fn new(
        endpoint: &str,
        headers: &[(String, String)],
        service: &str,
        cap: usize,
        timeout: Duration,
        counts: Arc<ExportCounts>,
    ) -> Result<Exporter, ExporterError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let bad = || ExporterError::Header(name.clone());
            let name = HeaderName::try_from(name.as_str()).map_err(|_| bad())?;
            let mut value = HeaderValue::try_from(value.as_str()).map_err(|_| bad())?;
            value.set_sensitive(true);
            map.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(map)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ExporterError::Client(e.to_string()))?;
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let shown_url = match url::Url::parse(&url) {
            Ok(mut parsed) => {
                let _ = parsed.set_username("");
                let _ = parsed.set_password(None);
                parsed.set_query(None);
                parsed.to_string()
            }
            Err(_) => "the [telemetry] endpoint".to_owned(),
        };
        Ok(Exporter {
            url,
            shown_url,
            service: service.to_owned(),
            client,
            queue: Mutex::default(),
            cap: cap.max(1),
            wake: Notify::new(),
            counts,
            last_warning: Mutex::new(None),
        })
    }

    /// Queues a trace, or drops it (counted) when the queue is full. Never waits.
    pub fn push(&self, trace: Arc<Trace>) {
        let spans = trace.spans.len();
        let mut queue = lock(&self.queue);
        if queue.spans + spans > self.cap {
            drop(queue);
            self.counts
                .dropped
                .fetch_add(spans as u64, Ordering::Relaxed);
            return;
        }
        queue.spans += spans;
        queue.traces.push_back(trace);
        let full_batch = queue.spans >= BATCH_SPANS;
        drop(queue);
        if full_batch {
            self.wake.notify_one();
        }
    }

    /// Sends queued traces until told to stop (the task `spawn` starts).
    pub async fn run(self: Arc<Self>) {
        loop {
            let _ = tokio::time::timeout(LINGER, self.wake.notified()).await;
            while self.send_batch().await {}
        }
    }

    /// Sends everything queued now, for a clean exit.
    pub async fn flush(&self) {
        while self.send_batch().await {}
    }

    /// Sends one batch; whether there was one.
    async fn send_batch(&self) -> bool {
        let batch = {
            let mut queue = lock(&self.queue);
            let mut batch = Vec::new();
            let mut spans = 0;
            while let Some(trace) = queue.traces.front() {
                if !batch.is_empty() && spans + trace.spans.len() > BATCH_SPANS {
                    break;
                }
                spans += trace.spans.len();
                batch.extend(queue.traces.pop_front());
            }
            queue.spans -= spans;
            batch
        };
        if batch.is_empty() {
            return false;
        }
        let spans: usize = batch.iter().map(|t| t.spans.len()).sum();
        let body = encode(&batch, &self.service);
        let sent = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                self.counts
                    .exported
                    .fetch_add(spans as u64, Ordering::Relaxed);
            }
            outcome => {
                let why = match outcome {
                    Ok(response) => format!("the collector answered {}", response.status()),
                    Err(error) => without_url(error),
                };
                self.failed(spans, &why);
            }
        }
        true
    }

    fn failed(&self, spans: usize, why: &str) {
        self.counts
            .dropped
            .fetch_add(spans as u64, Ordering::Relaxed);
        self.counts.failures.fetch_add(1, Ordering::Relaxed);
        let mut last = lock(&self.last_warning);
        if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                url = %self.shown_url,
                "trace export failed, {spans} spans dropped: {why} (said at most once a minute; /metrics counts them)"
            );
        }
    }
}

/// A transport error's text without its URL (the log line names it once, without
/// credentials).
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// Traces as an OTLP/JSON `ExportTraceServiceRequest`. Written straight into one string
/// (no intermediate JSON values): this runs for every span clara makes.
pub fn encode(traces: &[Arc<Trace>], service: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    let mut out = String::with_capacity(256 + spans * 512);
    out.push_str(r#"{"resourceSpans":[{"resource":{"attributes":["#);
    attribute(
        &mut out,
        "service.name",
        &AttrValue::Str(service.to_owned()),
    );
    out.push(',');
    attribute(
        &mut out,
        "service.version",
        &AttrValue::Str(version.to_owned()),
    );
    out.push_str(r#"]},"scopeSpans":[{"scope":{"name":"clara","version":"#);
    string(&mut out, version);
    out.push_str(r#"},"spans":["#);
    let mut first = true;
    for trace in traces {
        let trace_id = trace.id_hex();
        for span in &trace.spans {
            if !first {
                out.push(',');
            }
            first = false;
            encode_span(&mut out, &trace_id, span);
        }
    }
    out.push_str("]}]}]}");
    out
}

fn encode_span(out: &mut String, trace_id: &str, span: &SpanRecord) {
    // Model calls and their HTTP attempts go out of the process: CLIENT; the rest INTERNAL.
    let kind = if matches!(span.name, "chat" | "attempt") {
        3
    } else {
        1
    };
    out.push_str(r#"{"traceId":""#);
    out.push_str(trace_id);
    out.push_str(r#"","spanId":""#);
    out.push_str(&span_hex(span.span_id));
    out.push('"');
    if let Some(parent) = span.parent_id {
        out.push_str(r#","parentSpanId":""#);
        out.push_str(&span_hex(parent));
        out.push('"');
    }
    out.push_str(r#","name":"#);
    string(out, span.display_name());
    let _ = write!(
        out,
        r#","kind":{kind},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":["#,
        span.start_unix_nanos, span.end_unix_nanos
    );
    let mut first = true;
    for (key, value) in span
        .attributes
        .iter()
        .filter(|(key, _)| *key != "otel.name")
    {
        if !first {
            out.push(',');
        }
        first = false;
        attribute(out, key, value);
    }
    out.push(']');
    if let Some(AttrValue::Str(kind)) = span.attribute("error.type") {
        out.push_str(r#","status":{"code":2,"message":"#);
        string(out, kind);
        out.push('}');
    }
    out.push('}');
}

/// One `KeyValue`; finish reasons are a list, as the GenAI conventions type them.
fn attribute(out: &mut String, key: &str, value: &AttrValue) {
    out.push_str(r#"{"key":"#);
    string(out, key);
    out.push_str(r#","value":{"#);
    match value {
        AttrValue::Str(s) if key == "gen_ai.response.finish_reasons" => {
            out.push_str(r#""arrayValue":{"values":[{"stringValue":"#);
            string(out, s);
            out.push_str("}]}");
        }
        AttrValue::Str(s) => {
            out.push_str(r#""stringValue":"#);
            string(out, s);
        }
        // OTLP/JSON writes 64-bit integers as strings.
        AttrValue::Int(i) => {
            let _ = write!(out, r#""intValue":"{i}""#);
        }
        AttrValue::Float(f) if f.is_finite() => {
            let _ = write!(out, r#""doubleValue":{f}"#);
        }
        AttrValue::Float(_) => out.push_str(r#""doubleValue":0"#),
        AttrValue::Bool(b) => {
            let _ = write!(out, r#""boolValue":{b}"#);
        }
    }
    out.push_str("}}");
}

/// `text` as a JSON string.
fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_encode_as_otlp_json_whatever_their_text() {
        let span = SpanRecord {
            span_id: 0xab,
            parent_id: Some(1),
            name: "chat",
            start_unix_nanos: 5,
            end_unix_nanos: 9,
            attributes: vec![
                ("otel.name", AttrValue::Str("chat m".to_owned())),
                (
                    "note",
                    AttrValue::Str("a \"quote\", a \\ and a\nline\u{1}".to_owned()),
                ),
                ("gen_ai.usage.input_tokens", AttrValue::Int(12)),
                (
                    "gen_ai.response.finish_reasons",
                    AttrValue::Str("stop".to_owned()),
                ),
                ("ratio", AttrValue::Float(f64::NAN)),
                ("error.type", AttrValue::Str("503".to_owned())),
            ],
        };
        let trace = Arc::new(Trace {
            trace_id: 7,
            sampled: true,
            spans: vec![span],
        });
        let body: serde_json::Value = serde_json::from_str(&encode(&[trace], "clara")).unwrap();
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "00000000000000000000000000000007");
        assert_eq!(span["spanId"], "00000000000000ab");
        assert_eq!(span["parentSpanId"], "0000000000000001");
        assert_eq!(span["name"], "chat m");
        assert_eq!(span["kind"], 3);
        assert_eq!(span["startTimeUnixNano"], "5");
        let attributes = span["attributes"].as_array().unwrap();
        assert_eq!(
            attributes.len(),
            5,
            "otel.name is the span's name, not an attribute"
        );
        assert_eq!(
            attributes[0]["value"]["stringValue"],
            "a \"quote\", a \\ and a\nline\u{1}"
        );
        assert_eq!(attributes[1]["value"]["intValue"], "12");
        assert_eq!(
            attributes[2]["value"]["arrayValue"]["values"][0]["stringValue"],
            "stop"
        );
        assert_eq!(span["status"]["code"], 2);
    }
}
