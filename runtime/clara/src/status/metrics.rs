//! What clara has done, counted from its events on their way to the hooks, and rendered for
//! `/metrics`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use clara_config::model::common::EventName;
use clara_core::engine::event_data::{AdapterConnected, EventData};
use clara_core::engine::{Event, EventObserver};

use super::exposition::{Exposition, Kind};
use super::health::{AdapterState, Health};
use super::process;
use crate::telemetry::ExportCounts;

/// Upper bounds of the turn-duration histogram's buckets, in seconds (`+Inf` is implied).
const TURN_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A turn still unanswered after this long is forgotten: it will be too late to matter.
const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(10 * 60);

/// At most this many turns are timed at once; the oldest are forgotten first.
const MAX_IN_FLIGHT: usize = 10_000;

/// Label for events that name no platform.
const NO_PLATFORM: &str = "unknown";

/// Counts events, observing the bus. Recording is a few atomic additions and, for turn
/// events, one short lock, so the engine never waits on it.
pub struct Metrics {
    events: [AtomicU64; EventName::ALL.len()],
    turn_duration: Histogram,
    turns: Mutex<Turns>,
    gateway: Mutex<Gateway>,
    /// `(provider, model)` → what its calls used (from `llm:usage`). The models come from
    /// `clara.toml` (and what providers answer with), so the labels stay few.
    usage: Mutex<BTreeMap<(String, String), ModelTotals>>,
    /// `(budget, action)` → overruns (from `budget:exceeded`); budget names come from config.
    budgets: Mutex<BTreeMap<(String, String), u64>>,
    /// Decision → tool approvals (from `tool:approval`).
    approvals: Mutex<BTreeMap<String, u64>>,
}

/// What one model's calls used.
#[derive(Default)]
struct ModelTotals {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    cost_micros: i64,
}

/// Distinct platform labels kept; clients name their platform, so past this the rest count
/// as `other` and a client cannot grow `/metrics` without bound.
const MAX_PLATFORM_LABELS: usize = 32;

/// The gateway's traffic, by the platform of the node (`unregistered` before `register`).
#[derive(Default)]
struct Gateway {
    /// `(platform, "in" | "out")` → frames.
    frames: BTreeMap<(String, &'static str), u64>,
    /// Platform → connections that registered.
    connections: BTreeMap<String, u64>,
    /// The platform labels in use.
    labels: std::collections::BTreeSet<String>,
}

impl Gateway {
    /// `platform` as a label: itself while there is room, `other` after.
    fn label<'a>(&mut self, platform: &'a str) -> &'a str {
        if self.labels.contains(platform) {
            return platform;
        }
        if self.labels.len() < MAX_PLATFORM_LABELS {
            self.labels.insert(platform.to_owned());
            return platform;
        }
        "other"
    }
}

#[derive(Default)]
struct Turns {
    sent: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    in_flight: InFlight,
}

impl Metrics {
    /// Nothing counted yet.
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics {
            events: std::array::from_fn(|_| AtomicU64::new(0)),
            turn_duration: Histogram::default(),
            turns: Mutex::default(),
            gateway: Mutex::default(),
            usage: Mutex::default(),
            budgets: Mutex::default(),
            approvals: Mutex::default(),
        })
    }

    /// Counts a gateway frame received (`inbound`) or sent by a node of `platform`.
    pub fn gateway_frame(&self, platform: &str, inbound: bool) {
        let direction = if inbound { "in" } else { "out" };
        let mut gateway = self.gateway.lock().unwrap_or_else(PoisonError::into_inner);
        let platform = gateway.label(platform).to_owned();
        *gateway.frames.entry((platform, direction)).or_default() += 1;
    }

    fn record(&self, event: &Event) {
        if let Some(index) = EventName::ALL.iter().position(|n| *n == event.name()) {
            self.events[index].fetch_add(1, Ordering::Relaxed);
        }
        let platform = || event.platform.as_deref().unwrap_or(NO_PLATFORM).to_owned();
        match event.name() {
            EventName::MessageReceived => {
                if let Some(request) = &event.request_id {
                    self.lock_turns()
                        .in_flight
                        .start(request.clone(), Instant::now());
                }
            }
            EventName::MessageSent => {
                let now = Instant::now();
                let took = {
                    let mut turns = self.lock_turns();
                    *turns.sent.entry(platform()).or_default() += 1;
                    event
                        .request_id
                        .as_deref()
                        .and_then(|request| turns.in_flight.finish(request, now))
                };
                if let Some(took) = took {
                    self.turn_duration.observe(took);
                }
            }
            EventName::LlmUsage => {
                if let EventData::LlmUsage(call) = &event.data {
                    let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
                    let totals = usage
                        .entry((call.provider.clone(), call.model.clone()))
                        .or_default();
                    totals.input += u64::from(call.input_tokens);
                    totals.output += u64::from(call.output_tokens);
                    totals.cache_read += u64::from(call.cache_read_tokens);
                    totals.cache_write += u64::from(call.cache_write_tokens);
                    totals.cost_micros += call.cost_micros;
                }
            }
            EventName::BudgetExceeded => {
                if let EventData::BudgetExceeded(spending) = &event.data {
                    let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
                    *budgets
                        .entry((spending.budget.clone(), spending.action.clone()))
                        .or_default() += 1;
                }
            }
            EventName::ToolApproval => {
                if let EventData::ToolApproval(approval) = &event.data {
                    let mut approvals = self
                        .approvals
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    *approvals.entry(approval.decision.clone()).or_default() += 1;
                }
            }
            EventName::MessageCancelled => {
                if let Some(request) = &event.request_id {
                    self.lock_turns().in_flight.finish(request, Instant::now());
                }
            }
            EventName::AdapterConnected => {
                if let EventData::AdapterConnected(AdapterConnected {
                    node: Some(node), ..
                }) = &event.data
                {
                    let mut gateway = self.gateway.lock().unwrap_or_else(PoisonError::into_inner);
                    let platform = gateway.label(&node.platform).to_owned();
                    *gateway.connections.entry(platform).or_default() += 1;
                }
            }
            EventName::MessageFailed => {
                let mut turns = self.lock_turns();
                *turns.errors.entry(platform()).or_default() += 1;
                if let Some(request) = &event.request_id {
                    turns.in_flight.finish(request, Instant::now());
                }
            }
            _ => {}
        }
    }

    /// Everything counted so far, with `health`'s adapters and what trace export did, in the
    /// Prometheus text format 0.0.4.
    pub fn render(&self, health: &Health, traces: Option<&ExportCounts>) -> String {
        let mut out = Exposition::default();
        let count = |name: EventName| {
            EventName::ALL
                .iter()
                .position(|n| *n == name)
                .map_or(0, |i| self.events[i].load(Ordering::Relaxed))
        };

        out.family(
            "clara_events_total",
            Kind::Counter,
            "Events clara fired, by event name.",
        );
        for &name in EventName::ALL {
            out.sample(
                "clara_events_total",
                &[("event", name.as_str())],
                count(name),
            );
        }

        let (sent, errors) = {
            let turns = self.lock_turns();
            (turns.sent.clone(), turns.errors.clone())
        };
        out.family(
            "clara_turns_total",
            Kind::Counter,
            "Turns answered (message:sent), by platform.",
        );
        for (platform, n) in &sent {
            out.sample("clara_turns_total", &[("platform", platform)], *n);
        }
        out.family(
            "clara_turn_errors_total",
            Kind::Counter,
            "Turns that failed and got the persona's error reply, by platform.",
        );
        for (platform, n) in &errors {
            out.sample("clara_turn_errors_total", &[("platform", platform)], *n);
        }

        out.family(
            "clara_turn_duration_seconds",
            Kind::Histogram,
            "Time from message:received to message:sent of the same turn.",
        );
        self.turn_duration
            .render(&mut out, "clara_turn_duration_seconds");

        out.family(
            "clara_tool_calls_total",
            Kind::Counter,
            "Tool calls that finished, by outcome (tool:end is ok, tool:error is error).",
        );
        out.sample(
            "clara_tool_calls_total",
            &[("outcome", "ok")],
            count(EventName::ToolEnd),
        );
        out.sample(
            "clara_tool_calls_total",
            &[("outcome", "error")],
            count(EventName::ToolError),
        );

        {
            let usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
            out.family(
                "clara_llm_tokens_total",
                Kind::Counter,
                "Tokens the model calls reported, by provider, model and kind (input at the full rate, output, cache_read, cache_write).",
            );
            for ((provider, model), t) in usage.iter() {
                for (kind, n) in [
                    ("input", t.input),
                    ("output", t.output),
                    ("cache_read", t.cache_read),
                    ("cache_write", t.cache_write),
                ] {
                    out.sample(
                        "clara_llm_tokens_total",
                        &[("provider", provider), ("model", model), ("kind", kind)],
                        n,
                    );
                }
            }
            out.family(
                "clara_llm_cost_dollars_total",
                Kind::Counter,
                "What the model calls cost by the price table, in US dollars, by provider and model.",
            );
            for ((provider, model), t) in usage.iter() {
                out.sample(
                    "clara_llm_cost_dollars_total",
                    &[("provider", provider), ("model", model)],
                    t.cost_micros as f64 / 1e6,
                );
            }
        }

        {
            let budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
            out.family(
                "clara_budget_exceeded_total",
                Kind::Counter,
                "Model calls that would have passed a budget's cap, by budget and what was done (warn, downgrade, refuse).",
            );
            for ((budget, action), n) in budgets.iter() {
                out.sample(
                    "clara_budget_exceeded_total",
                    &[("budget", budget), ("action", action)],
                    *n,
                );
            }
            let approvals = self
                .approvals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            out.family(
                "clara_tool_approvals_total",
                Kind::Counter,
                "Tool calls that needed approval, by decision (approved, denied, timed_out, unavailable).",
            );
            for (decision, n) in approvals.iter() {
                out.sample("clara_tool_approvals_total", &[("decision", decision)], *n);
            }
        }

        out.family(
            "clara_reloads_total",
            Kind::Counter,
            "Configuration reloads, by result.",
        );
        out.sample(
            "clara_reloads_total",
            &[("result", "applied")],
            count(EventName::ConfigReloaded),
        );
        out.sample(
            "clara_reloads_total",
            &[("result", "failed")],
            count(EventName::ConfigReloadFailed),
        );

        let report = health.snapshot();
        out.family(
            "clara_adapter_up",
            Kind::Gauge,
            "1 when the adapter is connected, 0 otherwise.",
        );
        for (adapter, state) in &report.adapters {
            let up = u64::from(state.state == AdapterState::Connected.name());
            out.sample("clara_adapter_up", &[("adapter", adapter)], up);
        }
        out.family(
            "clara_adapter_state",
            Kind::Gauge,
            "1 for the state the adapter is in, 0 for the others.",
        );
        for (adapter, state) in &report.adapters {
            for name in AdapterState::NAMES {
                let labels = [("adapter", adapter.as_str()), ("state", name)];
                out.sample(
                    "clara_adapter_state",
                    &labels,
                    u64::from(state.state == name),
                );
            }
        }

        // The gateway lists its nodes in /health; counted here by platform.
        let nodes = report
            .adapters
            .get("gateway")
            .and_then(|gateway| gateway.detail.get("nodes"))
            .and_then(serde_json::Value::as_array);
        if let Some(nodes) = nodes {
            let mut by_platform: std::collections::BTreeMap<&str, u64> = Default::default();
            for node in nodes {
                *by_platform
                    .entry(node["platform"].as_str().unwrap_or(""))
                    .or_default() += 1;
            }
            out.family(
                "clara_gateway_nodes",
                Kind::Gauge,
                "Platform adapters connected to the gateway, by platform.",
            );
            for (platform, n) in by_platform {
                out.sample("clara_gateway_nodes", &[("platform", platform)], n);
            }
        }

        let (frames, connections) = {
            let gateway = self.gateway.lock().unwrap_or_else(PoisonError::into_inner);
            (gateway.frames.clone(), gateway.connections.clone())
        };
        if !frames.is_empty() || !connections.is_empty() {
            out.family(
                "clara_gateway_frames_total",
                Kind::Counter,
                "Gateway frames, by the node's platform and direction (in: from the node).",
            );
            for ((platform, direction), n) in &frames {
                let labels = [("platform", platform.as_str()), ("direction", direction)];
                out.sample("clara_gateway_frames_total", &labels, *n);
            }
            out.family(
                "clara_gateway_connections_total",
                Kind::Counter,
                "Gateway connections that registered, by platform.",
            );
            for (platform, n) in &connections {
                out.sample(
                    "clara_gateway_connections_total",
                    &[("platform", platform)],
                    *n,
                );
            }
        }

        if let Some(bytes) = process::resident_memory_bytes() {
            out.family(
                "process_resident_memory_bytes",
                Kind::Gauge,
                "Resident memory size in bytes.",
            );
            out.sample("process_resident_memory_bytes", &[], bytes);
        }
        out.family(
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since unix epoch in seconds.",
        );
        out.sample(
            "process_start_time_seconds",
            &[],
            process::start_time_seconds(),
        );
        out.family(
            "clara_uptime_seconds",
            Kind::Gauge,
            "Seconds since the runtime started.",
        );
        out.sample("clara_uptime_seconds", &[], health.uptime().as_secs_f64());
        if let Some(traces) = traces {
            let spans = [
                (
                    "clara_trace_spans_exported_total",
                    "Spans the OTLP collector accepted.",
                    &traces.exported,
                ),
                (
                    "clara_trace_spans_dropped_total",
                    "Spans not exported: the queue was full, or the collector refused or could not be reached.",
                    &traces.dropped,
                ),
                (
                    "clara_trace_export_failures_total",
                    "Trace export requests that failed.",
                    &traces.failures,
                ),
            ];
            for (name, help, value) in spans {
                out.family(name, Kind::Counter, help);
                out.sample(name, &[], value.load(Ordering::Relaxed));
            }
        }

        out.finish()
    }

    // The locked sections cannot leave the counts half-written, so a panic elsewhere must not
    // stop events from flowing.
    fn lock_turns(&self) -> MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventObserver for Metrics {
    fn observe(&self, event: &Event) {
        self.record(event);
    }
}

/// When each unanswered turn began, bounded in age and number.
#[derive(Default)]
struct InFlight {
    started: HashMap<String, (u64, Instant)>,
    // Oldest first. A turn that finished leaves its entry here until it ages out; the sequence
    // number tells such a leftover from a newer turn that reused the id.
    order: VecDeque<(u64, Instant, String)>,
    next: u64,
}

impl InFlight {
    fn start(&mut self, request: String, now: Instant) {
        self.expire(now);
        let sequence = self.next;
        self.next += 1;
        self.started.insert(request.clone(), (sequence, now));
        self.order.push_back((sequence, now, request));
        while self.order.len() > MAX_IN_FLIGHT {
            self.forget_oldest();
        }
    }

    /// How long `request` took, if it was being timed.
    fn finish(&mut self, request: &str, now: Instant) -> Option<Duration> {
        self.expire(now);
        let (_, began) = self.started.remove(request)?;
        Some(now.saturating_duration_since(began))
    }

    fn expire(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(_, began, _)| now.saturating_duration_since(*began) > IN_FLIGHT_LIMIT)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        if let Some((sequence, _, request)) = self.order.pop_front()
            && self
                .started
                .get(&request)
                .is_some_and(|(s, _)| *s == sequence)
        {
            self.started.remove(&request);
        }
    }
}

/// A histogram over [`TURN_BUCKETS`], kept in atomics.
struct Histogram {
    // Per bucket, not cumulative; the last is for values above every bound.
    buckets: [AtomicU64; TURN_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    fn observe(&self, value: Duration) {
        let secs = value.as_secs_f64();
        let bucket = TURN_BUCKETS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(TURN_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn render(&self, out: &mut Exposition, name: &str) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0;
        for (index, bound) in TURN_BUCKETS.iter().enumerate() {
            cumulative += self.buckets[index].load(Ordering::Relaxed);
            let le = bound.to_string();
            out.sample(&bucket_name, &[("le", &le)], cumulative);
        }
        cumulative += self.buckets[TURN_BUCKETS.len()].load(Ordering::Relaxed);
        out.sample(&bucket_name, &[("le", "+Inf")], cumulative);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        out.sample(&format!("{name}_sum"), &[], sum);
        // The count is the +Inf bucket by definition; deriving it keeps the two equal even
        // while an observation lands mid-render.
        out.sample(&format!("{name}_count"), &[], cumulative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_turns_expire_after_the_limit() {
        let mut in_flight = InFlight::default();
        let start = Instant::now();
        in_flight.start("old".into(), start);
        let later = start + IN_FLIGHT_LIMIT + Duration::from_secs(1);
        in_flight.start("new".into(), later);
        assert_eq!(in_flight.finish("old", later), None);
        assert_eq!(
            in_flight.finish("new", later + Duration::from_secs(2)),
            Some(Duration::from_secs(2))
        );
        assert!(in_flight.started.is_empty());
    }

    #[test]
    fn in_flight_turns_are_capped() {
        let mut in_flight = InFlight::default();
        let now = Instant::now();
        for i in 0..MAX_IN_FLIGHT + 5 {
            in_flight.start(format!("r{i}"), now);
        }
        assert_eq!(in_flight.started.len(), MAX_IN_FLIGHT);
        assert_eq!(in_flight.order.len(), MAX_IN_FLIGHT);
        assert!(in_flight.finish("r0", now).is_none());
        assert!(
            in_flight
                .finish(&format!("r{}", MAX_IN_FLIGHT + 4), now)
                .is_some()
        );
    }

    #[test]
    fn a_reused_id_is_not_forgotten_by_its_predecessor_leftover() {
        let mut in_flight = InFlight::default();
        let start = Instant::now();
        in_flight.start("r".into(), start);
        in_flight.finish("r", start);
        let later = start + Duration::from_secs(60);
        in_flight.start("r".into(), later);
        // The first "r"'s leftover ages out here; the second must survive it.
        let much_later = start + IN_FLIGHT_LIMIT + Duration::from_secs(1);
        assert!(in_flight.finish("r", much_later).is_some());
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_millis(30));
        histogram.observe(Duration::from_millis(700));
        histogram.observe(Duration::from_secs(120));
        let mut out = Exposition::default();
        histogram.render(&mut out, "h");
        let text = out.finish();
        assert!(text.contains("h_bucket{le=\"0.05\"} 1\n"), "{text}");
        assert!(text.contains("h_bucket{le=\"0.5\"} 1\n"), "{text}");
        assert!(text.contains("h_bucket{le=\"1\"} 2\n"), "{text}");
        assert!(text.contains("h_bucket{le=\"60\"} 2\n"), "{text}");
        assert!(text.contains("h_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("h_sum 120.73\n"), "{text}");
        assert!(text.contains("h_count 3\n"), "{text}");
    }
}
