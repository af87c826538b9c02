//! A `tracing` layer that turns clara's spans (target `clara::trace`) into finished traces:
//! each span's fields and times are kept while it runs, and when a trace's root closes, the
//! whole trace goes to [`Telemetry`](super::Telemetry).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterFn, Filtered};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::Telemetry;
use super::span_record::{AttrValue, SpanRecord, Trace};

/// The layer. Install it through [`TraceRecorder::clara_spans`], which lets only
/// `clara::trace` through.
pub struct TraceRecorder {
    telemetry: Arc<Telemetry>,
}

impl TraceRecorder {
    pub(super) fn new(telemetry: Arc<Telemetry>) -> TraceRecorder {
        TraceRecorder { telemetry }
    }

    /// This layer seeing clara's own spans only, as every subscriber that records turns
    /// installs it (`clara run`, the benches).
    pub fn clara_spans<S>(self) -> Filtered<TraceRecorder, FilterFn, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn clara_span(meta: &Metadata<'_>) -> bool {
            meta.target() == clara_core::engine::trace::TARGET
        }
        self.with_filter(FilterFn::new(clara_span as fn(&Metadata<'_>) -> bool))
    }
}

/// What a trace's spans share while it runs.
struct TraceBuffer {
    trace_id: u128,
    sampled: bool,
    finished: Mutex<Vec<SpanRecord>>,
}

/// A running span, kept in the registry's extensions.
struct Open {
    record: SpanRecord,
    started: Instant,
    trace: Arc<TraceBuffer>,
}

impl<S> Layer<S> for TraceRecorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent = span.parent().and_then(|parent| {
            let extensions = parent.extensions();
            let open = extensions.get::<Open>()?;
            Some((open.record.span_id, open.trace.clone()))
        });
        let (parent_id, trace) = match parent {
            Some((parent_id, trace)) => (Some(parent_id), trace),
            None => {
                let trace_id = nonzero_u128();
                let trace = Arc::new(TraceBuffer {
                    trace_id,
                    sampled: self.telemetry.samples(trace_id),
                    finished: Mutex::default(),
                });
                (None, trace)
            }
        };
        let mut record = SpanRecord {
            span_id: nonzero_u64(),
            parent_id,
            name: attrs.metadata().name(),
            start_unix_nanos: unix_nanos(),
            end_unix_nanos: 0,
            attributes: Vec::with_capacity(attrs.metadata().fields().len()),
        };
        attrs.record(&mut Fields(&mut record.attributes));
        span.extensions_mut().insert(Open {
            record,
            started: Instant::now(),
            trace,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(open) = span.extensions_mut().get_mut::<Open>()
        {
            values.record(&mut Fields(&mut open.record.attributes));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        let Open {
            mut record,
            started,
            trace,
        } = open;
        record.end_unix_nanos =
            record.start_unix_nanos + u64::try_from(started.elapsed().as_nanos()).unwrap_or(0);
        let root = record.parent_id.is_none();
        let mut finished = trace
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        finished.push(record);
        if root {
            let spans = std::mem::take(&mut *finished);
            drop(finished);
            self.telemetry.finished(Trace {
                trace_id: trace.trace_id,
                sampled: trace.sampled,
                spans,
            });
        }
    }
}

/// Writes a span's fields as attributes; a field recorded again replaces its value.
struct Fields<'a>(&'a mut Vec<(&'static str, AttrValue)>);

impl Fields<'_> {
    fn set(&mut self, field: &Field, value: AttrValue) {
        let name = field.name();
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, AttrValue::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, AttrValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(
            field,
            AttrValue::Int(i64::try_from(value).unwrap_or(i64::MAX)),
        );
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, AttrValue::Float(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, AttrValue::Bool(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, AttrValue::Str(format!("{value:?}")));
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn nonzero_u64() -> u64 {
    rand::random::<u64>().max(1)
}

fn nonzero_u128() -> u128 {
    rand::random::<u128>().max(1)
}
