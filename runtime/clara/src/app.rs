//! A running clara: the live configuration, the hook bus and its dispatcher, hot reload (file
//! watching and SIGHUP) and, for `clara run`, the scheduler, the Discord adapter and the
//! status endpoint. `clara chat` and `clara run` start one and shut it down the same way.

use std::sync::Arc;
use std::time::Duration;

use clara_config::model::common::EventName;
use clara_core::engine::event_data::{EventData, GatewayShutdown, GatewayStartup};
use clara_core::engine::{Clock, Event, EventSink};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::adapters::{self, Adapter, Observers};
use crate::connections::{Connector, OAuthPages};
use crate::console::Console;
use crate::email::{EmailConnectPages, InboxWatch};
use crate::hooks::{self, HookBus};
use crate::live::watch::{self, Watcher};
use crate::live::{Live, LiveError, Loader};
use crate::status::{self, Health, Metrics, StatusServer};
use crate::status::{McpOAuthPages, McpRestartPage};
use crate::telemetry::Telemetry;
use crate::web_page::PageSource;

/// Why clara could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(clara_config::ConfigError),
    /// The configuration could not be made live (the store, the engine).
    #[error(transparent)]
    Live(#[from] LiveError),
    /// An enabled adapter cannot start (Discord without its token).
    #[error(transparent)]
    Adapter(#[from] adapters::AdapterError),
    /// The status endpoint cannot listen.
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
    /// Trace export could not be set up.
    #[error("{0}")]
    Telemetry(String),
}

/// How long shutdown waits for `gateway:shutdown` hooks (and any still running) to finish.
const HOOK_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// How long shutdown waits for queued spans to reach the collector.
const TRACE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// What to start besides the configuration and hooks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    /// Run scheduled tasks (`clara run`).
    pub scheduler: bool,
    /// Work through the durable job queue (memory extraction, session summaries) in the
    /// background, beside the conversation (`clara run`, `clara chat`).
    pub jobs: bool,
    /// Start the enabled adapters (Discord) and the status endpoint (`clara run`).
    pub adapters: bool,
    /// Without adapters, still serve the status endpoint's OAuth pages when a connection is
    /// set up (`clara chat`), if its address is free: a `clara run` on the same root and
    /// store answers them otherwise.
    pub connections: bool,
}

/// The parts of a running clara.
pub struct App {
    /// The current configuration.
    pub live: Arc<Live>,
    /// Where events go.
    pub bus: Arc<HookBus>,
    /// The adapters' states, for `/health`.
    pub health: Arc<Health>,
    /// What clara has done, for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The status endpoint, when it runs.
    pub status: Option<StatusServer>,
    adapters: Vec<Box<dyn Adapter>>,
    /// Runs the hooks of queued events, until `hooks_done`.
    dispatcher: JoinHandle<()>,
    hooks_done: CancellationToken,
    /// Cancelled when clara stops admitting work: the scheduler, the job worker and SIGHUP
    /// reloads start nothing new after it, and what they run finishes.
    admitting: CancellationToken,
    /// Every scheduled run, job round and hook action under way, so shutdown waits for them
    /// instead of cutting one off mid-call.
    work: TaskTracker,
    watcher: Option<Watcher>,
}

impl App {
    /// Loads the root, starts hooks, hot reload and the chosen features, and fires
    /// `gateway:startup`.
    pub async fn start(
        loader: Loader,
        clock: Arc<dyn Clock>,
        features: Features,
    ) -> Result<App, StartError> {
        let first = loader().map_err(StartError::Config)?;
        if features.adapters {
            adapters::check(&first)?;
        }
        let runtime = first.clara.value.runtime.clone();
        let root = first.root.clone();
        let hooks_loaded = first
            .hook_files
            .values()
            .map(|f| f.value.hooks.len())
            .sum::<usize>();
        let tasks_loaded = first
            .hook_files
            .values()
            .map(|f| f.value.tasks.len())
            .sum::<usize>();
        drop(first);
        let node_id = runtime.node_id.clone().unwrap_or_else(host_name);
        let metrics = Metrics::new();
        let (bus, queue) = HookBus::new(
            &node_id,
            runtime.hook_concurrency as usize,
            vec![metrics.clone()],
        );
        let health = Health::new();
        let live = Live::start(loader, clock, bus.clone()).await?;
        if let Some(telemetry) = Telemetry::global() {
            let config = &live.current().config;
            telemetry
                .configure(&config.clara.value.telemetry, &config.env)
                .map_err(|e| StartError::Telemetry(e.to_string()))?;
        }
        let work = TaskTracker::new();
        let admitting = CancellationToken::new();
        let hooks_done = CancellationToken::new();
        let dispatcher = hooks::dispatch(
            queue,
            live.clone(),
            bus.clone(),
            work.clone(),
            hooks_done.clone(),
        );
        work.spawn(reload_on_sighup(live.clone(), admitting.clone()));
        if features.scheduler {
            let context = Arc::new(hooks::actions::Context {
                live: live.clone(),
                client: live.http_client().clone(),
            });
            // Leases name the process, not just the host: a restarted or second instance on
            // the same host must not pass for this one.
            let holder = format!("{node_id}:{}", std::process::id());
            work.spawn(crate::scheduler::runner::run(
                crate::scheduler::runner::Scheduler {
                    live: live.clone(),
                    context,
                    events: bus.clone(),
                    holder,
                    work: work.clone(),
                },
                admitting.clone(),
            ));
        }
        if features.scheduler {
            // It looks at `[email]` on every round, so enabling it needs no restart.
            let inboxes = InboxWatch::new(live.clone(), bus.clone());
            work.spawn(inboxes.run(admitting.clone()));
        }
        if features.jobs {
            work.spawn(work_jobs(live.clone(), bus.clone(), admitting.clone()));
        }
        let watcher = if runtime.watch {
            let debounce = Duration::from_millis(u64::from(runtime.reload_debounce_ms));
            match watch::watch(live.clone(), &root, debounce) {
                Ok(watcher) => Some(watcher),
                Err(error) => {
                    tracing::warn!(
                        "cannot watch {} for changes ({error}); send SIGHUP to reload",
                        root.display()
                    );
                    None
                }
            }
        } else {
            None
        };
        if features.adapters {
            // What `clara plan` compares an edit with.
            work.spawn(crate::live::applied::keep(live.clone(), admitting.clone()));
        }
        let (adapters, status) = if features.adapters {
            let observers = Observers {
                bus: bus.clone(),
                health: health.clone(),
                metrics: metrics.clone(),
            };
            // The endpoint first: a taken port stops start-up before Discord connects.
            let settings = &live.current().config.clara.value.status;
            let status = if settings.enabled {
                Some(
                    status::serve(
                        &settings.bind,
                        settings.max_connections,
                        health.clone(),
                        metrics.clone(),
                        run_pages(&live),
                        Telemetry::global(),
                        Some(Arc::new(Console::new(
                            live.clone(),
                            health.clone(),
                            Telemetry::global(),
                            &settings.bind,
                        ))),
                    )
                    .await?,
                )
            } else {
                None
            };
            (adapters::start(&live, &observers).await?, status)
        } else if features.connections {
            (Vec::new(), connection_pages(&live, &health, &metrics).await)
        } else {
            (Vec::new(), None)
        };
        bus.emit(Event::global(EventData::GatewayStartup(GatewayStartup {
            node_id: node_id.clone(),
            pid: std::process::id(),
            hooks_loaded,
            tasks_loaded,
        })));
        Ok(App {
            live,
            bus,
            health,
            metrics,
            status,
            adapters,
            dispatcher,
            hooks_done,
            admitting,
            work,
            watcher,
        })
    }

    /// Stops admitting work (the scheduler, the job worker and reloads start nothing new),
    /// then the adapters (their running and queued turns finish first, within the grace
    /// time), waits within the grace time for the scheduled runs, jobs and hooks under way,
    /// then runs the `gateway:shutdown` hooks ahead of any hook backlog while the backlog
    /// drains (both within a limit), stops the status endpoint and every MCP server, and
    /// writes the model usage the store still holds.
    /// Nothing is cut off mid-call except what outlives the grace time.
    pub async fn shutdown(self, reason: &str) {
        self.admitting.cancel();
        drop(self.watcher);
        let grace = self.live.shutdown_grace();
        adapters::stop_all(self.adapters, grace).await;
        self.work.close();
        if tokio::time::timeout(grace, self.work.wait()).await.is_err() {
            tracing::warn!(
                running = self.work.len(),
                "scheduled runs, jobs or hooks were still running after the grace time"
            );
        }
        let last = Event::global(EventData::GatewayShutdown(GatewayShutdown {
            reason: reason.to_owned(),
        }));
        if !self.bus.finish(&self.live, last, HOOK_FLUSH_LIMIT).await {
            tracing::warn!(
                not_started = self.bus.queued(),
                "some hooks were still running or waiting at shutdown"
            );
        }
        self.hooks_done.cancel();
        let _ = self.dispatcher.await;
        if let Some(status) = self.status {
            status.shutdown().await;
        }
        self.live.shutdown().await;
        if let Some(telemetry) = Telemetry::global() {
            telemetry.flush(TRACE_FLUSH_LIMIT).await;
        }
    }
}

/// The pages people open from links in the chat, served on the status endpoint.
fn browser_pages(live: &Arc<Live>) -> Vec<Arc<dyn PageSource>> {
    vec![
        Arc::new(OAuthPages::new(live.clone())),
        Arc::new(EmailConnectPages::new(live.clone())),
        Arc::new(McpOAuthPages::new(live.clone())),
    ]
}

/// The pages of `clara run`'s status endpoint: the browser pages, and the MCP restarts
/// `clara mcp restart` asks for (its token is written here, so only `clara run` writes it).
fn run_pages(live: &Arc<Live>) -> Vec<Arc<dyn PageSource>> {
    let mut pages = browser_pages(live);
    let root = live.current().config.root.clone();
    pages.push(Arc::new(McpRestartPage::new(live.clone(), &root)));
    pages
}

/// The status endpoint for OAuth callbacks, when a connection is set up and the address is
/// free.
async fn connection_pages(
    live: &Arc<Live>,
    health: &Arc<Health>,
    metrics: &Arc<Metrics>,
) -> Option<StatusServer> {
    let generation = live.current();
    let connector = Connector::new(&generation.config, live.http_client().clone());
    let settings = &generation.config.clara.value.status;
    if !settings.enabled || connector.available().next().is_none() {
        return None;
    }
    let pages = browser_pages(live);
    let served = status::serve(
        &settings.bind,
        settings.max_connections,
        health.clone(),
        metrics.clone(),
        pages,
        Telemetry::global(),
        None,
    )
    .await;
    match served {
        Ok(server) => Some(server),
        Err(error) => {
            tracing::info!(%error, "connection links are answered by the clara already on that address, if any");
            None
        }
    }
}

/// Batches of memories (re-)embedded at a time when the job queue is empty.
const REEMBED_BATCHES: u32 = 4;

/// How often the background worker looks for due jobs.
const JOB_POLL: Duration = Duration::from_secs(2);

/// Ends sessions gone idle (queuing their summaries) and runs due jobs on the current
/// generation, one at a time, until clara stops admitting work; a job under way finishes.
/// It wakes as soon as a reply is sent (whose memory work is then queued), so the work runs
/// beside the conversation, never in its way.
async fn work_jobs(live: Arc<Live>, bus: Arc<HookBus>, admitting: CancellationToken) {
    let mut events = bus.subscribe();
    while !admitting.is_cancelled() {
        let generation = live.current();
        match generation.run_due_jobs(1).await {
            Ok(report) if report.done + report.failed > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the job queue could not be read"),
        }
        // When the queue is empty: sessions gone idle end, queuing their summaries.
        match generation.end_idle_sessions(64).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(error) => tracing::warn!(%error, "idle sessions could not be ended"),
        }
        // When the queue is empty: memories not yet embedded by the current model (a
        // model change re-embeds them all, a batch at a time).
        match generation.reembed(REEMBED_BATCHES).await {
            Ok(0) => {}
            Ok(count) => {
                tracing::info!(count, "embedded memories for the current model");
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "re-embedding failed; memories stay searchable by text");
            }
        }
        let poll = tokio::time::sleep(JOB_POLL);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                () = admitting.cancelled() => break,
                () = &mut poll => break,
                event = events.recv() => match event {
                    Ok(event) if queues_work(&event) => break,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut poll).await;
                        break;
                    }
                },
            }
        }
    }
}

/// Whether `event` follows newly queued work: a reply (its memory extraction) or a session
/// that ended (its summary).
fn queues_work(event: &Event) -> bool {
    matches!(event.name(), EventName::MessageSent | EventName::SessionEnd)
}

/// Reloads on every SIGHUP until clara stops admitting work.
async fn reload_on_sighup(live: Arc<Live>, admitting: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP");
            return;
        };
        loop {
            tokio::select! {
                () = admitting.cancelled() => return,
                hangup = hangups.recv() => {
                    if hangup.is_none() {
                        return;
                    }
                }
            }
            tracing::info!("SIGHUP: reloading");
            live.reload().await;
        }
    }
}

/// The machine's name, for `CLARA_NODE_ID` when `runtime.node_id` is not set.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "clara".to_owned())
}
