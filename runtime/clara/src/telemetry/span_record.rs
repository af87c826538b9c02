//! What a finished span holds, and a finished trace: the spans of one turn (or job, hook or
//! task), root last.

use std::fmt::Write;

/// An attribute's value, as OpenTelemetry types them.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Text.
    Str(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction.
    Float(f64),
    /// Yes or no.
    Bool(bool),
}

impl AttrValue {
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AttrValue::Str(s) => serde_json::Value::from(s.as_str()),
            AttrValue::Int(i) => serde_json::Value::from(*i),
            AttrValue::Float(f) => serde_json::Value::from(*f),
            AttrValue::Bool(b) => serde_json::Value::from(*b),
        }
    }
}

/// One finished span.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    /// Its id, unique in its trace.
    pub span_id: u64,
    /// Its parent's id; `None` for the trace's root.
    pub parent_id: Option<u64>,
    /// The name it was made with (`turn`, `step`, `chat`, …).
    pub name: &'static str,
    /// When it started and ended, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// See `start_unix_nanos`.
    pub end_unix_nanos: u64,
    /// Its fields, in the order they were declared (`otel.name` among them).
    pub attributes: Vec<(&'static str, AttrValue)>,
}

impl SpanRecord {
    /// An attribute by name.
    pub fn attribute(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// A text attribute by name.
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.attribute(key) {
            Some(AttrValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// A whole-number attribute by name.
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.attribute(key) {
            Some(AttrValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// The name shown for it: `otel.name` when it set one (`chat gpt-4o`), else its own.
    pub fn display_name(&self) -> &str {
        self.text("otel.name").unwrap_or(self.name)
    }

    /// How long it took, in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        self.end_unix_nanos.saturating_sub(self.start_unix_nanos) as f64 / 1e6
    }

    /// Whether it failed (it set `error.type`).
    pub fn failed(&self) -> bool {
        self.attribute("error.type").is_some()
    }
}

/// The spans of one trace, the root last (each span finishes after its children).
#[derive(Clone, Debug)]
pub struct Trace {
    /// The trace's id.
    pub trace_id: u128,
    /// Whether it goes to the collector (`[telemetry] sample_ratio`).
    pub sampled: bool,
    /// Its spans, in the order they finished.
    pub spans: Vec<SpanRecord>,
}

impl Trace {
    /// The root span.
    pub fn root(&self) -> Option<&SpanRecord> {
        self.spans.iter().find(|s| s.parent_id.is_none())
    }

    /// The trace id as OpenTelemetry writes it: 32 lowercase hex digits.
    pub fn id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

/// A span id as OpenTelemetry writes it: 16 lowercase hex digits.
pub fn span_hex(id: u64) -> String {
    let mut out = String::with_capacity(16);
    let _ = write!(out, "{id:016x}");
    out
}
