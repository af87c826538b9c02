//! `[telemetry]`: tracing every turn. Each turn is a trace and each step, model call, tool
//! call, memory search, job and hook a span; the last turns' timelines stay in memory for the
//! status endpoint's `/turns`, and with an `endpoint` every trace also goes to an OpenTelemetry
//! collector over OTLP/HTTP.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where traces go and what they hold.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP address, e.g. `http://127.0.0.1:4318` (traces go to
    /// `{endpoint}/v1/traces`). Unset: nothing leaves the machine.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Extra headers sent with every export (not for secrets: see `headers_env`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers whose values come from environment variables, header name to variable name
    /// (e.g. `Authorization = "OTEL_AUTHORIZATION"`, or a vendor's API key header).
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// The share of traces exported, from 0 to 1. Every turn's timeline is still kept for
    /// `/turns`.
    #[serde(default = "default_sample_ratio")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sample_ratio: f64,
    /// `service.name` on every exported span.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Put what was said in the spans: the messages sent to the model and its reply, and tool
    /// arguments and results. Off, spans hold only counts, names, models and timings.
    #[serde(default)]
    pub capture_content: bool,
    /// How many of the latest turns' timelines `/turns` keeps.
    #[serde(default = "default_keep_turns")]
    #[schemars(range(min = 1, max = 10000))]
    pub keep_turns: u32,
    /// The most spans waiting for export. A collector that is slow or gone never holds up a
    /// turn: past this, spans are dropped and counted in `/metrics`.
    #[serde(default = "default_queue_spans")]
    #[schemars(range(min = 16, max = 1000000))]
    pub queue_spans: u32,
    /// The longest one export may take.
    #[serde(default = "default_timeout_secs")]
    #[schemars(range(min = 1, max = 300))]
    pub timeout_secs: u32,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            endpoint: None,
            headers: BTreeMap::new(),
            headers_env: BTreeMap::new(),
            sample_ratio: default_sample_ratio(),
            service_name: default_service_name(),
            capture_content: false,
            keep_turns: default_keep_turns(),
            queue_spans: default_queue_spans(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

fn default_sample_ratio() -> f64 {
    1.0
}
fn default_service_name() -> String {
    "clara".to_owned()
}
fn default_keep_turns() -> u32 {
    100
}
fn default_queue_spans() -> u32 {
    4096
}
fn default_timeout_secs() -> u32 {
    10
}
