//! A running clara: the live configuration, the hook bus and its dispatcher, hot reload (file
//! watching and SIGHUP) and, for `clara run`, the scheduler, the Discord adapter and the
//! status endpoint. `clara chat` and `clara run` start one and shut it down the same way.

use std::sync::Arc;
use std::time::Duration;

use clara_core::engine::event_data::{EventData, GatewayShutdown, GatewayStartup};
use clara_core::engine::{Clock, Event, EventSink};
use tokio::task::JoinHandle;

use crate::discord::{Discord, Observers};
use crate::hooks::{self, HookBus};
use crate::live::watch::{self, Watcher};
use crate::live::{Live, LiveError, Loader};
use crate::status::{self, Health, Metrics, StatusServer};

/// Why clara could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(clara_config::ConfigError),
    /// The configuration could not be made live (the store, the engine).
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The Discord adapter cannot start (no token).
    #[error(transparent)]
    Discord(#[from] crate::discord::DiscordError),
    /// The status endpoint cannot listen.
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
}

/// How long shutdown waits for `gateway:shutdown` hooks (and any still running) to finish.
const HOOK_FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// What to start besides the configuration and hooks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    /// Run scheduled tasks (`clara run`).
    pub scheduler: bool,
    /// Work through the durable job queue (memory extraction, session summaries) in the
    /// background (`clara run`; `clara chat` does it after each reply).
    pub jobs: bool,
    /// Start the enabled adapters (Discord) and the status endpoint (`clara run`).
    pub adapters: bool,
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
    discord: Option<Discord>,
    /// Runs the hooks of queued events.
    dispatcher: JoinHandle<()>,
    /// What starts new work on its own: the scheduler, the job worker, SIGHUP reloads.
    background: Vec<JoinHandle<()>>,
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
            crate::discord::check(&first)?;
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
        let dispatcher = hooks::dispatch(queue, live.clone(), bus.clone());
        let mut background = vec![reload_on_sighup(live.clone())];
        if features.scheduler {
            let context = Arc::new(hooks::actions::Context {
                live: live.clone(),
                client: live.http_client().clone(),
            });
            // Leases name the process, not just the host: a restarted or second instance on
            // the same host must not pass for this one.
            let holder = format!("{node_id}:{}", std::process::id());
            background.push(crate::scheduler::runner::start(
                live.clone(),
                context,
                bus.clone(),
                holder,
            ));
        }
        if features.jobs {
            background.push(work_jobs(live.clone()));
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
        let (discord, status) = if features.adapters {
            let observers = Observers {
                bus: bus.clone(),
                health: health.clone(),
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
                    )
                    .await?,
                )
            } else {
                None
            };
            (Discord::start(live.clone(), observers)?, status)
        } else {
            (None, None)
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
            discord,
            dispatcher,
            background,
            watcher,
        })
    }

    /// Stops everything that starts new work at once (the scheduler, the job worker,
    /// reloads), then the adapters (their running and queued turns finish first, within the
    /// grace time), then runs the `gateway:shutdown` hooks ahead of any hook backlog while the
    /// backlog drains (both within a limit), and stops the status endpoint and every MCP
    /// server.
    pub async fn shutdown(self, reason: &str) {
        for task in &self.background {
            task.abort();
        }
        drop(self.watcher);
        if let Some(discord) = self.discord {
            let grace = self
                .live
                .current()
                .config
                .clara
                .value
                .runtime
                .shutdown_grace_secs;
            discord.stop(Duration::from_secs(u64::from(grace))).await;
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
        self.dispatcher.abort();
        if let Some(status) = self.status {
            status.shutdown().await;
        }
        self.live.shutdown().await;
    }
}

/// Batches of memories (re-)embedded at a time when the job queue is empty.
const REEMBED_BATCHES: u32 = 4;

/// How often the background worker looks for due jobs.
const JOB_POLL: Duration = Duration::from_secs(2);

/// Ends sessions gone idle (queuing their summaries) and runs due jobs on the current
/// generation, a batch at a time.
fn work_jobs(live: Arc<Live>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let generation = live.current();
            if let Err(error) = generation.end_idle_sessions(64).await {
                tracing::warn!(%error, "idle sessions could not be ended");
            }
            match generation.run_due_jobs(16).await {
                Ok(report) if report.done + report.failed > 0 => continue,
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the job queue could not be read"),
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
            tokio::time::sleep(JOB_POLL).await;
        }
    })
}

/// Reloads on every SIGHUP.
fn reload_on_sighup(live: Arc<Live>) -> JoinHandle<()> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP");
                return;
            };
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading");
                live.reload().await;
            }
        }
    })
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
