//! Tracing of turns: the `tracing` layer that records clara's spans, the last turns' timelines
//! for `/turns`, and export to an OpenTelemetry collector (`[telemetry]`). One `Telemetry`
//! serves the process, since the `tracing` subscriber it feeds is the process's too.

mod otlp;
mod recorder;
mod span_record;
mod trace_log;
mod turn_counts;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use clara_config::Env;
use clara_config::model::telemetry::TelemetryConfig;

pub use otlp::{ExportCounts, Exporter, ExporterError, encode};
pub use recorder::TraceRecorder;
pub use span_record::{AttrValue, SpanRecord, Trace};
pub use trace_log::{TraceLog, TurnFilter, TurnStats, summary};

/// The process's telemetry: settings, the turn log and the exporter.
pub struct Telemetry {
    log: TraceLog,
    exporter: ArcSwapOption<Exporter>,
    /// `sample_ratio` as a threshold on a trace id's top 64 bits.
    sample_below: std::sync::atomic::AtomicU64,
    counts: Arc<ExportCounts>,
    /// Finished turns, for whoever watches them live (the console); sent only while someone
    /// does, and a watcher that falls behind misses turns rather than holding any up.
    feed: tokio::sync::broadcast::Sender<Arc<Trace>>,
}

/// How many finished turns wait for a slow watcher before it starts missing them.
const FEED_BUFFER: usize = 64;

static GLOBAL: OnceLock<Arc<Telemetry>> = OnceLock::new();

impl Telemetry {
    fn new() -> Telemetry {
        let defaults = TelemetryConfig::default();
        Telemetry {
            log: TraceLog::new(defaults.keep_turns as usize),
            exporter: ArcSwapOption::empty(),
            sample_below: std::sync::atomic::AtomicU64::new(u64::MAX),
            counts: Arc::default(),
            feed: tokio::sync::broadcast::channel(FEED_BUFFER).0,
        }
    }

    /// The process's telemetry and the layer that feeds it, made on the first call; later
    /// calls give the same telemetry and a layer that feeds it too.
    pub fn install() -> (Arc<Telemetry>, TraceRecorder) {
        let telemetry = GLOBAL.get_or_init(|| Arc::new(Telemetry::new())).clone();
        let layer = TraceRecorder::new(telemetry.clone());
        (telemetry, layer)
    }

    /// The process's telemetry, once [`install`](Self::install)ed.
    pub fn global() -> Option<Arc<Telemetry>> {
        GLOBAL.get().cloned()
    }

    /// Applies `[telemetry]`: how many turns to keep, the sampling, and (with an
    /// `endpoint`) export, started on the current tokio runtime. Header values come from
    /// `env` for `headers_env`; one that is unset is left out (validate names it).
    pub fn configure(&self, config: &TelemetryConfig, env: &Env) -> Result<(), ExporterError> {
        self.log.keep(config.keep_turns as usize);
        let ratio = config.sample_ratio.clamp(0.0, 1.0);
        let threshold = if ratio >= 1.0 {
            u64::MAX
        } else {
            (ratio * u64::MAX as f64) as u64
        };
        self.sample_below.store(threshold, Ordering::Relaxed);
        let Some(endpoint) = &config.endpoint else {
            self.exporter.store(None);
            return Ok(());
        };
        let mut headers: Vec<(String, String)> = config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, var) in &config.headers_env {
            if let Some(value) = env.get(var) {
                headers.push((name.clone(), value.to_owned()));
            }
        }
        let exporter = Arc::new(Exporter::new(
            endpoint,
            &headers,
            &config.service_name,
            config.queue_spans as usize,
            Duration::from_secs(u64::from(config.timeout_secs)),
            self.counts.clone(),
        )?);
        tokio::spawn(exporter.clone().run());
        self.exporter.store(Some(exporter));
        Ok(())
    }

    /// Sends what is queued for export, within `within`, before the process exits.
    pub async fn flush(&self, within: Duration) {
        if let Some(exporter) = self.exporter.load_full() {
            let _ = tokio::time::timeout(within, exporter.flush()).await;
        }
    }

    /// The last turns.
    pub fn turns(&self) -> &TraceLog {
        &self.log
    }

    /// Finished turns from now on, as they finish.
    pub fn watch_turns(&self) -> tokio::sync::broadcast::Receiver<Arc<Trace>> {
        self.feed.subscribe()
    }

    /// What export has done.
    pub fn counts(&self) -> &ExportCounts {
        &self.counts
    }

    /// Whether the trace `trace_id` goes to the collector.
    fn samples(&self, trace_id: u128) -> bool {
        // u64::MAX is a ratio of 1: every trace, the one whose high half is u64::MAX too.
        let below = self.sample_below.load(Ordering::Relaxed);
        below == u64::MAX || ((trace_id >> 64) as u64) < below
    }

    /// A trace whose root closed.
    fn finished(&self, trace: Trace) {
        let trace = Arc::new(trace);
        if self.log.add(&trace) && self.feed.receiver_count() > 0 {
            let _ = self.feed.send(trace.clone());
        }
        if trace.sampled
            && let Some(exporter) = &*self.exporter.load()
        {
            exporter.push(trace);
        }
    }
}
