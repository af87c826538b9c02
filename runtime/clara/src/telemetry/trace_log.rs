//! The last turns' traces, kept in memory for the status endpoint: `/turns` lists them
//! (newest first, filtered by user, conversation or platform) and `/turns/{id}` shows one as a
//! timeline of its spans.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value, json};

use super::span_record::{SpanRecord, Trace, span_hex};
use super::turn_counts::{MINUTES, TurnCounts};

/// The ring of the latest turns.
pub struct TraceLog {
    turns: Mutex<VecDeque<Arc<Trace>>>,
    keep: Mutex<usize>,
    /// Every turn counted, kept or not.
    counts: TurnCounts,
}

/// What `/turns` may be narrowed to.
#[derive(Default, Debug)]
pub struct TurnFilter {
    /// Only this user's turns.
    pub user: Option<String>,
    /// Only turns in this conversation (`dm-…`, `channel-…`).
    pub conversation: Option<String>,
    /// Only turns from this platform.
    pub platform: Option<String>,
    /// At most this many (newest first).
    pub limit: Option<usize>,
}

impl TurnFilter {
    /// Reads `user`, `conversation`, `platform` and `limit` from a query string.
    pub fn from_query(query: Option<&str>) -> TurnFilter {
        let mut filter = TurnFilter::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "user" => filter.user = Some(value),
                "conversation" | "channel" => filter.conversation = Some(value),
                "platform" => filter.platform = Some(value),
                "limit" => filter.limit = value.parse().ok(),
                _ => {}
            }
        }
        filter
    }

    fn admits(&self, root: &SpanRecord) -> bool {
        let is = |want: &Option<String>, key: &str| {
            want.as_deref().is_none_or(|w| root.text(key) == Some(w))
        };
        is(&self.user, "clara.user_id")
            && is(&self.conversation, "clara.conversation")
            && is(&self.platform, "clara.platform")
    }
}

impl TraceLog {
    /// An empty log keeping the last `keep` turns.
    pub fn new(keep: usize) -> TraceLog {
        TraceLog {
            turns: Mutex::default(),
            keep: Mutex::new(keep.max(1)),
            counts: TurnCounts::default(),
        }
    }

    /// Keeps the last `keep` turns from now on.
    pub fn keep(&self, keep: usize) {
        *lock(&self.keep) = keep.max(1);
        let keep = keep.max(1);
        let mut turns = lock(&self.turns);
        while turns.len() > keep {
            turns.pop_front();
        }
    }

    /// Adds a finished trace when it holds a turn (its root, or one a task or hook ran);
    /// whether it did.
    pub fn add(&self, trace: &Arc<Trace>) -> bool {
        let Some(root) = turn_of(trace) else {
            return false;
        };
        self.counts.count(
            root.start_unix_nanos,
            root.text("clara.outcome") == Some("failed"),
        );
        let keep = *lock(&self.keep);
        let mut turns = lock(&self.turns);
        if turns.len() >= keep {
            turns.pop_front();
        }
        turns.push_back(trace.clone());
        true
    }

    /// How the turns of the last `minutes` (at most an hour) went: how many and how many
    /// failed of all of them, the times of those kept.
    pub fn stats(&self, minutes: usize) -> TurnStats {
        let now = unix_nanos_now();
        let (counted, failed) = self.counts.since(now, minutes);
        let since = now.saturating_sub(minutes.min(MINUTES) as u64 * 60 * 1_000_000_000);
        let turns = lock(&self.turns);
        let mut durations: Vec<f64> = turns
            .iter()
            .filter_map(|t| turn_of(t))
            .filter(|root| root.start_unix_nanos >= since)
            .map(SpanRecord::duration_ms)
            .collect();
        durations.sort_by(f64::total_cmp);
        let pct = |q: f64| {
            (!durations.is_empty()).then(|| durations[((durations.len() - 1) as f64 * q) as usize])
        };
        TurnStats {
            turns: counted,
            failed,
            timed: durations.len(),
            p50_ms: pct(0.5),
            p95_ms: pct(0.95),
        }
    }

    /// The turns `filter` admits, newest first, as `/turns` shows them.
    pub fn list(&self, filter: &TurnFilter) -> Value {
        let turns = lock(&self.turns);
        let listed: Vec<Value> = turns
            .iter()
            .rev()
            .filter(|t| turn_of(t).is_some_and(|r| filter.admits(r)))
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(|t| summary(t))
            .collect();
        json!({ "turns": listed })
    }

    /// One turn's timeline, by its trace id.
    pub fn get(&self, id: &str) -> Option<Value> {
        let turns = lock(&self.turns);
        let trace = turns.iter().find(|t| t.id_hex() == id)?;
        let root = turn_of(trace)?;
        let mut spans: Vec<&SpanRecord> = trace.spans.iter().collect();
        spans.sort_by_key(|s| s.start_unix_nanos);
        let start = root.start_unix_nanos;
        let timeline: Vec<Value> = spans
            .iter()
            .map(|s| {
                json!({
                    "id": span_hex(s.span_id),
                    "parent": s.parent_id.map(span_hex),
                    "name": s.name,
                    "label": label(s),
                    "start_ms": s.start_unix_nanos.saturating_sub(start) as f64 / 1e6,
                    "duration_ms": s.duration_ms(),
                    "failed": s.failed(),
                    "attributes": attributes(s),
                })
            })
            .collect();
        let mut out = summary(trace);
        out["spans"] = Value::from(timeline);
        Some(out)
    }
}

/// The turn a trace is about: its root, or the turn a task or hook ran (under its span).
fn turn_of(trace: &Trace) -> Option<&SpanRecord> {
    trace
        .spans
        .iter()
        .filter(|s| s.name == "turn")
        .min_by_key(|s| s.start_unix_nanos)
}

/// How the recent turns went.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TurnStats {
    /// Turns that started in the window.
    pub turns: u64,
    /// How many of them failed.
    pub failed: u64,
    /// How many of them are still kept, which the times are of.
    pub timed: usize,
    /// Their median time, in milliseconds.
    pub p50_ms: Option<f64>,
    /// Their 95th percentile, in milliseconds.
    pub p95_ms: Option<f64>,
}

fn unix_nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A turn as `/turns` lists it: when, how long, whose, and what it did.
pub fn summary(trace: &Trace) -> Value {
    let Some(root) = turn_of(trace) else {
        return Value::Null;
    };
    let count = |name: &str| trace.spans.iter().filter(|s| s.name == name).count();
    let tokens = |key: &str| -> i64 { trace.spans.iter().filter_map(|s| s.int(key)).sum() };
    json!({
        "id": trace.id_hex(),
        "started_at": rfc3339(root.start_unix_nanos),
        "duration_ms": root.duration_ms(),
        "pipeline": root.text("clara.pipeline"),
        "platform": root.text("clara.platform"),
        "user_id": root.text("clara.user_id"),
        "conversation": root.text("clara.conversation"),
        "session_id": root.text("clara.session_id"),
        "tier": root.text("clara.tier"),
        "outcome": root.text("clara.outcome"),
        "error": root.text("error.type"),
        "steps": count("step"),
        "model_calls": count("chat"),
        "tool_calls": count("execute_tool"),
        "input_tokens": tokens("gen_ai.usage.input_tokens"),
        "output_tokens": tokens("gen_ai.usage.output_tokens"),
        "cache_read_tokens": tokens("gen_ai.usage.cache_read.input_tokens"),
    })
}

/// What a timeline shows for a span: a step by its type, a call by its model or tool.
fn label(span: &SpanRecord) -> String {
    match span.name {
        "step" => format!("step {}", span.text("clara.step.id").unwrap_or_default()),
        _ => span.display_name().to_owned(),
    }
}

fn attributes(span: &SpanRecord) -> Value {
    let map: Map<String, Value> = span
        .attributes
        .iter()
        .filter(|(k, _)| *k != "otel.name")
        .map(|(k, v)| ((*k).to_owned(), v.to_json()))
        .collect();
    Value::Object(map)
}

fn rfc3339(unix_nanos: u64) -> String {
    let nanos = i64::try_from(unix_nanos).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
