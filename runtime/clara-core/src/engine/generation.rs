//! A generation: one loaded config with everything built from it (providers, store, tools,
//! compiled templates). A turn takes the generation once and keeps it to its end, so a reload
//! never changes a turn half-way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use clara_config::ConfigSet;
use clara_config::model::common::{glob_match, is_glob};
use clara_config::model::pipeline::{Pipeline, Trigger};
use clara_config::model::steps::Step;
use regex::{Regex, RegexBuilder};

use super::EngineError;
use super::clock::Clock;
use super::events::EventSink;
use super::tools::{Tool, ToolContext, ToolSource};
use crate::llm::{Embedder, Provider};
use crate::store::Store;

/// Everything a turn needs, immutable.
pub struct Generation {
    /// The loaded files.
    pub config: Arc<ConfigSet>,
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
    templates: tera::Tera,
    /// Each tool loop's compiled `auto_continue.patterns`, by pipeline and step index.
    proceed_patterns: HashMap<(String, usize), Vec<Regex>>,
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
}

/// The template name of a persona's prompt.
pub(crate) fn persona_template(persona: &str) -> String {
    format!("persona/{persona}")
}

/// The template name of a step option.
pub(crate) fn step_template(pipeline: &str, step: usize, field: &str) -> String {
    format!("pipeline/{pipeline}/{step}/{field}")
}

impl Generation {
    /// Builds a generation, compiling every template once.
    pub fn new(parts: Parts) -> Result<Generation, EngineError> {
        let mut templates = clara_config::template::engine();
        let mut sources: Vec<(String, String)> = Vec::new();
        for (name, persona) in &parts.config.personas {
            sources.push((persona_template(name), persona.prompt.clone()));
        }
        for (name, pipeline) in &parts.config.pipelines {
            for (i, step) in pipeline.value.steps.iter().enumerate() {
                for (field, text) in step_templates(step) {
                    sources.push((step_template(name, i, field), text.to_owned()));
                }
            }
        }
        templates
            .add_raw_templates(sources)
            .map_err(|e| EngineError::Template(e.to_string()))?;
        let mut proceed_patterns = HashMap::new();
        for (name, pipeline) in &parts.config.pipelines {
            for (i, step) in pipeline.value.steps.iter().enumerate() {
                if let Step::ToolLoop(tool_loop) = step {
                    let compiled = compile_proceed_patterns(&tool_loop.auto_continue.patterns);
                    proceed_patterns.insert((name.clone(), i), compiled);
                }
            }
        }
        Ok(Generation {
            config: parts.config,
            providers: parts.providers,
            embedder: parts.embedder,
            store: parts.store,
            tools: parts.tools,
            tool_sources: parts.tool_sources,
            clock: parts.clock,
            events: parts.events,
            templates,
            proceed_patterns,
        })
    }

    /// The compiled `auto_continue.patterns` of a tool loop step.
    pub(crate) fn proceed_patterns(&self, pipeline: &str, step: usize) -> &[Regex] {
        self.proceed_patterns
            .get(&(pipeline.to_owned(), step))
            .map_or(&[], Vec::as_slice)
    }

    /// Renders a compiled template.
    pub(crate) fn render(
        &self,
        name: &str,
        context: &tera::Context,
    ) -> Result<String, EngineError> {
        self.templates.render(name, context).map_err(|e| {
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                detail = format!("{detail}: {inner}");
                source = inner.source();
            }
            EngineError::Template(detail)
        })
    }

    /// The pipeline that answers messages from `adapter`.
    pub fn message_pipeline(&self, adapter: &str) -> Option<(&str, &Pipeline)> {
        self.config.pipelines.iter().find_map(|(name, p)| {
            let answers = p.value.triggers.iter().any(|t| matches!(t, Trigger::Message { adapters } if adapters.is_empty() || adapters.iter().any(|a| a == adapter)));
            answers.then_some((name.as_str(), &p.value))
        })
    }

    /// Whether `text` from `adapter` is a stop phrase of the pipeline that answers it, so an
    /// adapter can cancel the conversation's running turn before queueing anything.
    pub fn is_stop_phrase(&self, adapter: &str, text: &str) -> bool {
        let Some((_, pipeline)) = self.message_pipeline(adapter) else {
            return false;
        };
        pipeline.steps.iter().any(|step| match step {
            Step::Ingest(options) => crate::engine::steps::ingest::is_stop_phrase_of(text, options),
            _ => false,
        })
    }

    /// How long a repeat of a user's message counts as a duplicate on `adapter` (its message
    /// pipeline's `ingest.dedupe_window_secs`), so an adapter can drop a copy still waiting in
    /// its queue; zero when duplicates are not dropped.
    pub fn dedupe_window(&self, adapter: &str) -> std::time::Duration {
        let secs = self
            .message_pipeline(adapter)
            .and_then(|(_, pipeline)| {
                pipeline.steps.iter().find_map(|step| match step {
                    Step::Ingest(options) => Some(options.dedupe_window_secs),
                    _ => None,
                })
            })
            .unwrap_or(0);
        std::time::Duration::from_secs(u64::from(secs))
    }

    /// Pipelines that run when a session ends.
    pub fn session_end_pipelines(&self) -> Vec<(&str, &Pipeline)> {
        let ends = |p: &Pipeline| {
            p.triggers
                .iter()
                .any(|t| matches!(t, Trigger::SessionEnd {}))
        };
        self.config
            .pipelines
            .iter()
            .filter(|(_, p)| ends(&p.value))
            .map(|(n, p)| (n.as_str(), &p.value))
            .collect()
    }

    /// A provider by name, or the default one (`defaults.provider`, or the only provider).
    pub fn provider(&self, name: Option<&str>) -> Result<Arc<dyn Provider>, EngineError> {
        let chosen = name.or_else(|| self.config.clara.value.default_provider());
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
        let memory = &self.config.clara.value.memory;
        ToolContext {
            user_id,
            store: self.store.as_ref(),
            embedder: self.embedder.as_deref(),
            clock: self.clock.as_ref(),
            search: (memory.search_candidates, memory.rrf_k),
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

/// Case-insensitive patterns where `.` also matches line breaks. Validation has already
/// refused patterns that do not compile.
fn compile_proceed_patterns(patterns: &[String]) -> Vec<Regex> {
    patterns
        .iter()
        .filter_map(|p| {
            RegexBuilder::new(p)
                .case_insensitive(true)
                .dot_matches_new_line(true)
                .build()
                .ok()
        })
        .collect()
}

/// The template-valued options of a step, by field name.
fn step_templates(step: &Step) -> Vec<(&'static str, &str)> {
    match step {
        Step::BuildContext(s) => vec![
            ("instructions_template", s.instructions_template.as_str()),
            ("context_template", s.context_template.as_str()),
            ("memories_template", s.memories_template.as_str()),
        ],
        Step::ClassifyTier(s) => vec![("classifier_prompt", s.classifier_prompt.as_str())],
        Step::LlmCall(s) => s
            .instruction
            .iter()
            .map(|i| ("instruction", i.as_str()))
            .collect(),
        Step::ToolLoop(s) => vec![("truncation_note", s.truncation_note.as_str())],
        Step::WriteMemory(s) => vec![
            ("extraction_prompt", s.extraction_prompt.as_str()),
            ("reconcile_prompt", s.reconcile_prompt.as_str()),
        ],
        Step::Ingest(_) => Vec::new(),
    }
}
