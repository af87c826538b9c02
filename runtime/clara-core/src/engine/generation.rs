//! A generation: one loaded config with everything built from it (services, personas,
//! pipelines with their compiled steps). A turn takes the generation once and keeps it to its
//! end, so a reload never changes a turn half-way.

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::ConfigSet;

use super::EngineError;
use super::approval::Approvers;
use super::budget::Budgets;
use super::clock::Clock;
use super::events::EventSink;
use super::persona::Persona;
use super::pipeline::Pipeline;
use super::run::Run;
use super::services::Services;
use super::session::SessionRules;
use super::steps::Ingest;
use super::tools::{Tool, ToolSource};
use crate::llm::{DeltaSink, Embedder, Provider};
use crate::store::Store;

/// Everything a turn needs, immutable.
pub struct Generation {
    /// The loaded files.
    pub config: Arc<ConfigSet>,
    /// Providers, store, tools, clock and events.
    pub services: Services,
    personas: BTreeMap<String, Persona>,
    /// What a pipeline gets when its persona has no file.
    no_persona: Persona,
    pipelines: BTreeMap<String, Pipeline>,
    sessions: SessionRules,
}

/// The parts a generation is built from.
pub struct Parts {
    /// The loaded files.
    pub config: Arc<ConfigSet>,
    /// Providers by name.
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// The embedder.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The fixed tools.
    pub tools: Vec<Arc<dyn Tool>>,
    /// Tools whose list changes while the generation runs.
    pub tool_sources: Vec<Arc<dyn ToolSource>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// The adapters' ways to ask for tool approvals (none: every call that needs one is
    /// denied).
    pub approvers: Arc<Approvers>,
}

impl Generation {
    /// Builds a generation, compiling every template and step once.
    pub fn new(parts: Parts) -> Result<Generation, EngineError> {
        let config = parts.config;
        let clara = &config.clara.value;
        let personas = config
            .personas
            .iter()
            .map(|(name, loaded)| Ok((name.clone(), Persona::build(name, loaded)?)))
            .collect::<Result<_, EngineError>>()?;
        let pipelines: BTreeMap<String, Pipeline> = config
            .pipelines
            .iter()
            .map(|(name, file)| Ok((name.clone(), Pipeline::build(name, &file.value, clara)?)))
            .collect::<Result<_, EngineError>>()?;
        let services = Services {
            providers: parts.providers,
            embedder: parts.embedder,
            store: parts.store,
            tools: parts.tools,
            tool_sources: parts.tool_sources,
            clock: parts.clock,
            events: parts.events,
            default_provider: clara.default_provider().map(str::to_owned),
            search: (clara.memory.search_candidates, clara.memory.rrf_k),
            config: config.clone(),
            unpriced: std::sync::Mutex::default(),
            rates: super::rate_windows::RateWindows::default(),
            approvers: parts.approvers,
            budgets: Budgets::new(
                &clara.budgets,
                pipelines
                    .iter()
                    .map(|(name, p)| (name.clone(), p.persona.clone()))
                    .collect(),
            ),
        };
        Ok(Generation {
            sessions: SessionRules::new(&config, pipelines.values().any(Pipeline::ends_sessions)),
            config,
            services,
            personas,
            no_persona: Persona::missing("Sorry, something went wrong."),
            pipelines,
        })
    }

    /// The pipeline that answers messages from `adapter`.
    pub(crate) fn message_pipeline(&self, adapter: &str) -> Option<(&str, &Pipeline)> {
        self.pipelines
            .iter()
            .find(|(_, p)| p.answers(adapter))
            .map(|(name, p)| (name.as_str(), p))
    }

    /// A pipeline by name.
    pub(crate) fn pipeline(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines.get(name)
    }

    /// Pipelines that run when a session ends.
    pub(crate) fn session_end_pipelines(&self) -> impl Iterator<Item = (&str, &Pipeline)> {
        self.pipelines
            .iter()
            .filter(|(_, p)| p.ends_sessions())
            .map(|(name, p)| (name.as_str(), p))
    }

    /// How sessions start and end.
    pub(crate) fn sessions(&self) -> SessionRules {
        self.sessions
    }

    /// Whether `text` from `adapter` is a stop phrase of the pipeline that answers it, so an
    /// adapter can cancel the conversation's running turn before queueing anything.
    pub fn is_stop_phrase(&self, adapter: &str, text: &str) -> bool {
        self.message_pipeline(adapter)
            .and_then(|(_, p)| p.ingest())
            .is_some_and(|ingest| ingest.is_stop_phrase(text))
    }

    /// How long a repeat of a user's message counts as a duplicate on `adapter` (its message
    /// pipeline's `ingest.dedupe_window_secs`), so an adapter can drop a copy still waiting in
    /// its queue; zero when duplicates are not dropped.
    pub fn dedupe_window(&self, adapter: &str) -> std::time::Duration {
        let secs = self
            .message_pipeline(adapter)
            .and_then(|(_, p)| p.ingest())
            .map_or(0, Ingest::dedupe_window_secs);
        std::time::Duration::from_secs(u64::from(secs))
    }

    /// A run of `pipeline` (named `name`) that streams reply text to `on_delta`.
    pub(crate) fn start_run<'a>(
        &'a self,
        name: &'a str,
        pipeline: &'a Pipeline,
        on_delta: DeltaSink<'a>,
    ) -> Run<'a> {
        let persona = self
            .personas
            .get(&pipeline.persona)
            .unwrap_or(&self.no_persona);
        Run::new(
            &self.services,
            self.sessions,
            name,
            pipeline.tools(),
            persona,
            on_delta,
        )
    }
}
