//! What steps, jobs and tools call on: providers, the embedder, the store, the tools, the
//! clock and the event sink. Steps see these, never the generation that holds them.

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::model::common::{glob_match, is_glob};

use super::EngineError;
use super::clock::Clock;
use super::events::EventSink;
use super::tools::{Tool, ToolContext, ToolSource};
use crate::llm::{Embedder, Provider};
use crate::store::Store;

/// The live parts of a generation, shared by everything that runs in it.
pub struct Services {
    /// Providers by name (with their fallback chains).
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// The embedder, when embeddings are on.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The fixed tools; personas and pipelines choose from these and from `tool_sources`.
    pub tools: Vec<Arc<dyn Tool>>,
    /// Tools whose list changes while the generation runs (MCP servers).
    pub tool_sources: Vec<Arc<dyn ToolSource>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// `defaults.provider`, or the only provider.
    pub(crate) default_provider: Option<String>,
    /// Fusion settings for memory search: (candidates per side, rrf k).
    pub(crate) search: (u32, u32),
}

impl Services {
    /// A provider by name, or the default one (`defaults.provider`, or the only provider).
    pub fn provider(&self, name: Option<&str>) -> Result<Arc<dyn Provider>, EngineError> {
        let chosen = name.or(self.default_provider.as_deref());
        let chosen = chosen.ok_or_else(|| {
            EngineError::Config("no provider configured: set `defaults.provider`".to_owned())
        })?;
        self.providers
            .get(chosen)
            .cloned()
            .ok_or_else(|| EngineError::Config(format!("unknown provider `{chosen}`")))
    }

    /// What tool calls (and memory work) for `user_id` may use.
    pub fn tool_context<'a>(&'a self, user_id: &'a str) -> ToolContext<'a> {
        ToolContext {
            user_id,
            store: self.store.as_ref(),
            embedder: self.embedder.as_deref(),
            clock: self.clock.as_ref(),
            search: self.search,
        }
    }

    /// The tools a turn may offer: in the persona's list and the pipeline's list.
    pub fn allowed_tools(&self, persona: &[String], pipeline: &[String]) -> Vec<Arc<dyn Tool>> {
        let allowed = |patterns: &[String], name: &str| {
            patterns.iter().any(|p| {
                if is_glob(p) {
                    glob_match(p, name)
                } else {
                    p == name
                }
            })
        };
        let offered = |t: &Arc<dyn Tool>| {
            allowed(persona, &t.spec().name) && allowed(pipeline, &t.spec().name)
        };
        let mut tools: Vec<Arc<dyn Tool>> =
            self.tools.iter().filter(|t| offered(t)).cloned().collect();
        for source in &self.tool_sources {
            tools.extend(source.tools().iter().filter(|t| offered(t)).cloned());
        }
        tools
    }
}
