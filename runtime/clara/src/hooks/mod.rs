//! Event hooks: the event bus every generation emits into, and the dispatcher that runs the
//! hooks of the current configuration for each event. Emitting never waits: events queue, and
//! at most `runtime.hook_concurrency` actions run at once, so hooks never slow a turn.

pub mod actions;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clara_config::model::common::EventName;
use clara_config::model::hook::{Delivery, Hook};
use clara_core::engine::{Event, EventObserver, EventSink, Generation, LogEvents};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::live::Live;
use actions::{Action, Context, Run};

/// Events waiting for the dispatcher; beyond this many, new ones are dropped with a warning
/// rather than making a turn wait.
const QUEUE: usize = 4_096;

/// Events an adapter may lag behind by before it misses some (it only shows them).
const LISTENER_BACKLOG: usize = 256;

/// The sink generations emit into: logs each event, hands it to its observers (metrics) at
/// once, queues it for the hooks and passes it to listeners (adapters showing tool status).
pub struct HookBus {
    queue: mpsc::Sender<Queued>,
    /// Told of every event as it is emitted, before anything else; must not block.
    observers: Vec<Arc<dyn EventObserver>>,
    node_id: String,
    listeners: broadcast::Sender<Event>,
    /// Shared by every hook action; holding them all means none is running.
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Set when clara stops: later events run no hooks (nothing would be left to run them).
    closing: AtomicBool,
}

enum Queued {
    Event(Box<Stamped>),
    /// Answered once every earlier event's hooks have finished.
    Flush(oneshot::Sender<()>),
}

/// An event with the moment it fired.
struct Stamped {
    event: Event,
    at: chrono::DateTime<chrono::Utc>,
}

/// The receiving end, handed to [`dispatch`].
pub struct EventQueue(mpsc::Receiver<Queued>);

impl HookBus {
    /// A bus for this instance (`node_id` goes into every hook's environment) running at
    /// most `concurrency` hook actions at once, telling `observers` of every event.
    pub fn new(
        node_id: &str,
        concurrency: usize,
        observers: Vec<Arc<dyn EventObserver>>,
    ) -> (Arc<HookBus>, EventQueue) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let concurrency = concurrency.max(1);
        let bus = HookBus {
            queue,
            observers,
            node_id: node_id.to_owned(),
            listeners: broadcast::channel(LISTENER_BACKLOG).0,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            closing: AtomicBool::new(false),
        };
        (Arc::new(bus), EventQueue(receiver))
    }

    /// Every event from now on, as it is emitted (a slow listener misses the oldest).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.listeners.subscribe()
    }

    /// This instance's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Waits (at most `limit`) until the hooks of every event emitted so far have finished
    /// (tests use it to see what hooks did).
    pub async fn flush(&self, limit: Duration) -> bool {
        let (done, finished) = oneshot::channel();
        let flushed = async {
            self.queue.send(Queued::Flush(done)).await.ok()?;
            finished.await.ok()
        };
        matches!(tokio::time::timeout(limit, flushed).await, Ok(Some(())))
    }

    /// The last event clara emits (`gateway:shutdown`): its hooks run at once, ahead of any
    /// backlog and whatever it holds, while the events already queued get their hooks run
    /// too — all within `limit`. Returns whether everything finished in time; events emitted
    /// from now on run no hooks (nothing would be left to run them).
    pub async fn finish(&self, live: &Arc<Live>, event: Event, limit: Duration) -> bool {
        self.closing.store(true, Ordering::SeqCst);
        self.observe(&event);
        if self.listeners.receiver_count() > 0 {
            let _ = self.listeners.send(event.clone());
        }
        let at = chrono::Utc::now();
        let context = Context {
            live: live.clone(),
            client: live.http_client().clone(),
        };
        let generation = live.current();
        let data = event.data.to_json();
        let stamp = Stamp {
            data: &data,
            at,
            node_id: &self.node_id,
        };
        let last = futures_util::future::join_all(
            hooks_for(&generation, &event)
                .into_iter()
                .filter_map(|hook| Some((Action::of_hook(hook)?, hook)))
                .map(|(action, hook)| {
                    let (context, event, stamp) = (&context, &event, &stamp);
                    async move { run_hook(context, hook, &action, event, stamp).await }
                }),
        );
        let (last, backlog) = tokio::join!(tokio::time::timeout(limit, last), self.flush(limit));
        last.is_ok() && backlog
    }

    /// Logs `event` and tells the observers.
    fn observe(&self, event: &Event) {
        LogEvents.observe(event);
        for observer in &self.observers {
            observer.observe(event);
        }
    }

    /// Events queued whose hooks have not started.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

impl EventSink for HookBus {
    fn emit(&self, event: Event) {
        self.observe(&event);
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        if self.listeners.receiver_count() > 0 {
            let _ = self.listeners.send(event.clone());
        }
        let stamped = Stamped {
            event,
            at: chrono::Utc::now(),
        };
        if let Err(mpsc::error::TrySendError::Full(Queued::Event(dropped))) =
            self.queue.try_send(Queued::Event(Box::new(stamped)))
        {
            tracing::warn!(
                event = dropped.event.name().as_str(),
                "hooks are behind; this event runs no hooks"
            );
        }
    }
}

/// Runs the hooks of `live`'s current configuration for every queued event until `done`, each
/// action tracked by `work`. The hook list is read per event, so a removed hook never fires
/// again.
pub fn dispatch(
    mut queue: EventQueue,
    live: Arc<Live>,
    bus: Arc<HookBus>,
    work: TaskTracker,
    done: CancellationToken,
) -> JoinHandle<()> {
    let context = Arc::new(Context {
        live: live.clone(),
        client: live.http_client().clone(),
    });
    let permits = bus.permits.clone();
    let concurrency = bus.concurrency;
    tokio::spawn(async move {
        loop {
            let queued = tokio::select! {
                biased;
                () = done.cancelled() => None,
                queued = queue.0.recv() => queued,
            };
            let Some(queued) = queued else {
                break;
            };
            let Stamped { event, at } = match queued {
                Queued::Event(stamped) => *stamped,
                Queued::Flush(done) => {
                    // Holding every permit means every running action has finished.
                    let all = permits
                        .acquire_many(concurrency as u32)
                        .await
                        .expect("the semaphore is never closed");
                    drop(all);
                    let _ = done.send(());
                    continue;
                }
            };
            let generation = live.current();
            let hooks = hooks_for(&generation, &event);
            if hooks.is_empty() {
                continue;
            }
            // Serialised once for every hook the event fires.
            let data = Arc::new(event.data.to_json());
            for hook in hooks {
                let Some(action) = Action::of_hook(hook) else {
                    continue;
                };
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let context = context.clone();
                let hook = hook.clone();
                let event = event.clone();
                let data = data.clone();
                let node_id = bus.node_id.clone();
                work.spawn(async move {
                    let _permit = permit;
                    let stamp = Stamp {
                        data: &data,
                        at,
                        node_id: &node_id,
                    };
                    run_hook(&context, &hook, &action, &event, &stamp).await;
                });
            }
        }
    })
}

/// The enabled hooks of `generation` that `event` fires, highest priority first. A pipeline
/// hook is left out for automated events: its own events would start it again, without end.
fn hooks_for<'g>(generation: &'g Generation, event: &Event) -> Vec<&'g Hook> {
    let mut hooks: Vec<&Hook> = generation
        .config
        .hook_files
        .values()
        .flat_map(|file| &file.value.hooks)
        .filter(|hook| hook.enabled && fires_on(hook, event.name()))
        .filter(|hook| {
            !(event.automated && matches!(Action::of_hook(hook), Some(Action::Pipeline { .. })))
        })
        .collect();
    hooks.sort_by_key(|hook| std::cmp::Reverse(hook.priority));
    hooks
}

fn fires_on(hook: &Hook, name: EventName) -> bool {
    hook.event == Some(name) || hook.on.contains(&name)
}

async fn run_hook(
    context: &Context,
    hook: &Hook,
    action: &Action,
    event: &Event,
    stamp: &Stamp<'_>,
) {
    let started = Instant::now();
    let payload = event_json(event, stamp);
    let run = Run {
        name: &hook.name,
        env: event_env(event, stamp),
        payload: &payload,
        working_dir: hook.working_dir.as_deref(),
        origin: origin(event),
        timeout: clara_config::model::common::seconds(hook.timeout),
    };
    let span = tracing::info_span!(
        target: clara_core::engine::trace::TARGET,
        "hook",
        clara.hook.name = hook.name.as_str(),
        clara.hook.event = event.name().as_str(),
        error.type = tracing::field::Empty,
    );
    let outcome = tracing::Instrument::instrument(context.run(action, run), span.clone()).await;
    if outcome.is_err() {
        span.record("error.type", "failed");
    }
    let ms = started.elapsed().as_millis() as u64;
    let (ok, output) = match &outcome {
        Ok(output) => (true, output.clone()),
        Err(why) => (false, why.clone()),
    };
    context.live.hook_runs().record(crate::live::HookRun {
        hook: hook.name.clone(),
        event: event.name().as_str().to_owned(),
        at: chrono::Utc::now(),
        ms,
        ok,
        output,
    });
    match outcome {
        Ok(output) if output.is_empty() => {
            tracing::info!(hook = %hook.name, event = event.name().as_str(), ms, "hook ran");
        }
        Ok(output) => {
            tracing::info!(hook = %hook.name, event = event.name().as_str(), ms, "hook ran: {output}");
        }
        Err(why) => {
            tracing::warn!(hook = %hook.name, event = event.name().as_str(), ms, "hook failed: {why}");
        }
    }
}

/// What a hook run adds to its event: the data as JSON, when the event arrived, and where.
pub struct Stamp<'a> {
    /// The event's data, serialised.
    pub data: &'a Value,
    /// When the bus received it.
    pub at: chrono::DateTime<chrono::Utc>,
    /// `runtime.node_id`.
    pub node_id: &'a str,
}

/// The event as JSON, as webhooks receive it.
pub fn event_json(event: &Event, stamp: &Stamp<'_>) -> Value {
    json!({
        "event": event.name().as_str(),
        "timestamp": stamp.at.to_rfc3339(),
        "node_id": stamp.node_id,
        "platform": event.platform,
        "user_id": event.user_id,
        "channel_id": event.channel_id,
        "request_id": event.request_id,
        "data": stamp.data,
    })
}

/// A shell hook's `CLARA_*` variables: the event's fields, `CLARA_EVENT_DATA` (JSON), and
/// `CLARA_<KEY>` for each plain value in the data (MyPalClara's hooks read those). A data key
/// never replaces one of the event's own variables.
pub fn event_env(event: &Event, stamp: &Stamp<'_>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    if let Some(data) = stamp.data.as_object() {
        for (key, value) in data {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            let name: String = key
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            env.insert(format!("CLARA_{name}"), text);
        }
    }
    let own = [
        ("CLARA_EVENT_TYPE", Some(event.name().as_str().to_owned())),
        ("CLARA_TIMESTAMP", Some(stamp.at.to_rfc3339())),
        ("CLARA_NODE_ID", Some(stamp.node_id.to_owned())),
        ("CLARA_PLATFORM", event.platform.clone()),
        ("CLARA_USER_ID", event.user_id.clone()),
        ("CLARA_CHANNEL_ID", event.channel_id.clone()),
        ("CLARA_REQUEST_ID", event.request_id.clone()),
        ("CLARA_EVENT_DATA", Some(stamp.data.to_string())),
    ];
    for (name, value) in own {
        env.insert(name.to_owned(), value.unwrap_or_default());
    }
    // A process environment cannot hold NUL: one in a value (a tool argument, say) would stop
    // the hook from starting at all.
    for value in env.values_mut() {
        if value.contains('\0') {
            *value = value.replace('\0', "\u{FFFD}");
        }
    }
    env
}

/// Where a pipeline hook without `deliver` posts: back to the event's conversation.
fn origin(event: &Event) -> Option<Delivery> {
    let adapter = event.platform.clone()?;
    let conversation = event.channel_id.as_deref()?;
    let (user, channel) = match conversation.split_once('-') {
        Some(("dm", user)) => (Some(user.to_owned()), None),
        Some(("channel", channel)) => (None, Some(channel.to_owned())),
        _ => return None,
    };
    Some(Delivery {
        adapter,
        channel,
        user,
    })
}
