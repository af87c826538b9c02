//! The running configuration: the current [`Generation`], rebuilt from the root and swapped
//! atomically on reload. A turn takes the generation once and keeps it to its end, so a reload
//! never changes a turn half-way; the next turn sees the new files.

pub mod applied;
mod hook_runs;
mod outlets;
mod reloads;
pub mod watch;

use std::sync::Arc;

use arc_swap::ArcSwap;
use clara_config::diff::{self, Changes};
use clara_config::plan::Plan;
use clara_config::{ConfigError, ConfigSet, Problem};
use clara_core::engine::event_data::{ConfigReloadFailed, ConfigReloaded, EventData};
use clara_core::engine::{Approvers, Clock, EngineError, Event, EventSink, Generation, Parts};
use clara_core::store::Store;

use crate::llm::Providers;
use crate::store::{OpenError, open_default};
use crate::tools::ToolSet;
use crate::tools::mcp::McpServers;

pub use hook_runs::{HookRun, HookRuns};
pub use outlets::{Outlet, Outlets};
pub use reloads::Reloads;

/// Why the running configuration could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(ConfigError),
    /// The default store could not be opened.
    #[error(transparent)]
    Store(#[from] OpenError),
    /// The engine could not be built (a template failed to compile).
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// How the root is loaded, at start and on every reload.
pub type Loader = Box<dyn Fn() -> Result<ConfigSet, ConfigError> + Send + Sync>;

/// The current generation and what rebuilding it reuses.
pub struct Live {
    current: ArcSwap<Generation>,
    /// Every generation made current, for whatever waits on a reload instead of asking.
    changes: tokio::sync::watch::Sender<Arc<Generation>>,
    loader: Loader,
    /// What the last build made, for the next one to keep; held across a whole reload, so
    /// reloads run one at a time.
    kept: tokio::sync::Mutex<Kept>,
    mcp: McpServers,
    shared: Shared,
    outlets: Outlets,
    client: reqwest::Client,
    /// Whether the last reload failed: the one that next succeeds says so at the failure's
    /// level, so a user who saw the error also sees the fix take.
    failing: std::sync::atomic::AtomicBool,
    reloads: reloads::ReloadLog,
    hook_runs: HookRuns,
}

/// What every generation is handed unchanged.
struct Shared {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    approvers: Arc<Approvers>,
}

struct Kept {
    providers: Providers,
    tools: ToolSet,
}

/// What a reload did.
#[derive(Debug, PartialEq)]
pub enum Reload {
    /// A new generation serves from now on.
    Applied(Changes),
    /// The files are as before; nothing was rebuilt.
    Unchanged,
    /// The files have problems; the running generation stays.
    Invalid(Vec<Problem>),
    /// The change needs a restart; the running generation stays.
    Refused(String),
    /// The new generation could not be built; the running one stays.
    Failed(String),
}

impl Live {
    /// Loads the root with `loader`, opens the store and builds the first generation.
    pub async fn start(
        loader: Loader,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventSink>,
    ) -> Result<Arc<Live>, LiveError> {
        let set = loader().map_err(LiveError::Config)?;
        let store = open_default(&set, crate::store::Access::ReadWrite).await?;
        let client = crate::tools::http_client();
        let mcp = McpServers::new(client.clone());
        let providers = Providers::build(&set.clara.value, &set.env);
        let tools = crate::tools::build(&set, &client, None);
        let shared = Shared {
            store,
            clock,
            events,
            approvers: Arc::default(),
        };
        let generation = Arc::new(assemble(set, &providers, &tools, &mcp, &shared)?);
        Ok(Arc::new(Live {
            changes: tokio::sync::watch::Sender::new(generation.clone()),
            current: ArcSwap::new(generation),
            loader,
            kept: tokio::sync::Mutex::new(Kept { providers, tools }),
            mcp,
            shared,
            outlets: Outlets::default(),
            client,
            failing: std::sync::atomic::AtomicBool::new(false),
            reloads: reloads::ReloadLog::new(),
            hook_runs: HookRuns::default(),
        }))
    }

    /// Which generation runs, since when, and how the last reload went.
    pub fn reloads(&self) -> Reloads {
        self.reloads.get()
    }

    /// The last hook runs, for the console.
    pub fn hook_runs(&self) -> &HookRuns {
        &self.hook_runs
    }

    /// What applying the files on disk now would do to the running configuration, as
    /// `clara plan` says it: nothing while the watcher keeps up, a pending edit that needs a
    /// restart, or every problem of files that do not load.
    pub fn pending(&self) -> Plan {
        match (self.loader)() {
            Ok(set) => Plan::between(&self.current().config, &set),
            Err(error) => Plan::rejected(&error),
        }
    }

    /// The generation new work starts on.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// The generation made current by each reload from now on: `changed().await` wakes when
    /// one lands, so an adapter follows its settings without polling.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<Arc<Generation>> {
        self.changes.subscribe()
    }

    /// How long stopping waits for work under way (`runtime.shutdown_grace_secs`, as the
    /// current configuration says).
    pub fn shutdown_grace(&self) -> std::time::Duration {
        let secs = self
            .current()
            .config
            .clara
            .value
            .runtime
            .shutdown_grace_secs;
        std::time::Duration::from_secs(u64::from(secs))
    }

    /// The MCP servers the generations use.
    pub fn mcp(&self) -> &McpServers {
        &self.mcp
    }

    /// The grants of the current configuration's OAuth MCP servers (`None` without a secret
    /// key).
    pub fn mcp_grants(&self) -> Option<Arc<crate::tools::mcp::Grants>> {
        let generation = self.current();
        let services = &generation.services;
        self.mcp
            .grants(&generation.config, &services.store, &services.clock)
    }

    /// The HTTP client tools, MCP servers and webhooks share.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Where adapters register their way to ask for tool approvals.
    pub fn approvers(&self) -> &Approvers {
        &self.shared.approvers
    }

    /// Where pipelines run by tasks and hooks post their replies.
    pub fn outlets(&self) -> &Outlets {
        &self.outlets
    }

    /// Loads the root again and, when it is valid and can be applied without a restart, swaps
    /// in a generation built from it (keeping every unchanged provider, tool and MCP server,
    /// and the store). Every outcome is logged and fires `config:reloaded` or
    /// `config:reload_failed`.
    pub async fn reload(&self) -> Reload {
        let outcome = self.reload_unwinding().await;
        self.reloads.record(&outcome);
        let failed = matches!(
            outcome,
            Reload::Invalid(_) | Reload::Refused(_) | Reload::Failed(_)
        );
        let was_failing = self
            .failing
            .swap(failed, std::sync::atomic::Ordering::SeqCst);
        if was_failing && !failed {
            tracing::warn!(
                "the configuration on disk is valid again and is the one running; the earlier reload problem is fixed"
            );
        }
        outcome
    }

    async fn reload_unwinding(&self) -> Reload {
        use futures_util::FutureExt;
        // Whatever a file does, a reload must not take clara (or the watcher) down: a panic
        // while loading or building is a failed reload like any other.
        match std::panic::AssertUnwindSafe(self.try_reload())
            .catch_unwind()
            .await
        {
            Ok(outcome) => outcome,
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                tracing::error!("reload failed: {why}; the running configuration stays");
                self.emit_failed("build", Some(why.clone()), None);
                Reload::Failed(why)
            }
        }
    }

    fn emit_failed(&self, reason: &str, message: Option<String>, problems: Option<Vec<String>>) {
        self.shared
            .events
            .emit(Event::global(EventData::ConfigReloadFailed(
                ConfigReloadFailed {
                    reason: reason.to_owned(),
                    message,
                    problems,
                },
            )));
    }

    async fn try_reload(&self) -> Reload {
        let mut kept = self.kept.lock().await;
        let old = self.current();
        let set = match (self.loader)() {
            Ok(set) => set,
            Err(error) => {
                let problems = error.problems().to_vec();
                for problem in &problems {
                    tracing::error!("{problem}");
                }
                tracing::error!("{error}; the running configuration stays");
                let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
                self.emit_failed("invalid", None, Some(listed));
                return Reload::Invalid(problems);
            }
        };
        if let Some(reason) = diff::needs_restart(&old.config, &set) {
            tracing::warn!("reload refused: {reason}");
            self.emit_failed("needs_restart", Some(reason.clone()), None);
            return Reload::Refused(reason);
        }
        let changes = diff::changes(&old.config, &set);
        if changes.is_empty() {
            return Reload::Unchanged;
        }
        // Each warning once: when the edit that causes it arrives, not on every reload after.
        for warning in set
            .warnings
            .iter()
            .filter(|w| !old.config.warnings.contains(w))
        {
            tracing::warn!("{warning}");
        }
        let plan = Plan::between(&old.config, &set);
        let providers = Providers::rebuild(&set.clara.value, &set.env, Some(&kept.providers));
        let tools = crate::tools::build(&set, &self.client, Some(&kept.tools));
        let built = assemble(set, &providers, &tools, &self.mcp, &self.shared);
        let generation = match built {
            Ok(generation) => generation,
            Err(error) => {
                tracing::error!("reload failed: {error}; the running configuration stays");
                self.emit_failed("build", Some(error.to_string()), None);
                return Reload::Failed(error.to_string());
            }
        };
        let generation = Arc::new(generation);
        self.current.store(generation.clone());
        self.changes.send_replace(generation);
        *kept = Kept { providers, tools };
        tracing::info!(
            added = ?changes.added,
            changed = ?changes.changed,
            removed = ?changes.removed,
            "configuration reloaded"
        );
        // What the edit changed in personas' prompts and pipelines' steps, as `clara plan`
        // shows it before an edit.
        for detail in &plan.details {
            tracing::info!("{}: {}", detail.what, detail.lines.join("\n"));
        }
        self.shared
            .events
            .emit(Event::global(EventData::ConfigReloaded(ConfigReloaded {
                added: changes.added.clone(),
                changed: changes.changed.clone(),
                removed: changes.removed.clone(),
            })));
        Reload::Applied(changes)
    }

    /// Stops what the generations started (MCP servers) and writes the model usage the store
    /// still holds.
    pub async fn shutdown(&self) {
        self.mcp.shutdown().await;
        if let Err(error) = self.shared.store.flush_usage().await {
            tracing::warn!(%error, "model usage held in memory could not be written at shutdown");
        }
    }
}

fn assemble(
    set: ConfigSet,
    providers: &Providers,
    tools: &ToolSet,
    mcp: &McpServers,
    shared: &Shared,
) -> Result<Generation, EngineError> {
    let parts = Parts {
        providers: set
            .clara
            .value
            .providers
            .keys()
            .filter_map(|name| Some((name.clone(), providers.get(name)?)))
            .collect(),
        embedder: providers.embedder(),
        store: shared.store.clone(),
        tools: tools.tools.clone(),
        tool_sources: {
            let grants = mcp.grants(&set, &shared.store, &shared.clock);
            let mut sources = mcp.sync(&set, grants.as_ref());
            if set.clara.value.mcp.chat_tools {
                sources.push(mcp.admin_tools(&set, grants));
            }
            sources
        },
        clock: shared.clock.clone(),
        events: shared.events.clone(),
        approvers: shared.approvers.clone(),
        config: Arc::new(set),
    };
    Generation::new(parts)
}
