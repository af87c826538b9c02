//! Where a step is being built: its pipeline, the steps beside it and the root config, so a
//! step can take what it needs from them once instead of searching on every turn.

use clara_config::model::clara::ClaraConfig;
use clara_config::model::steps::{ClassifyTierStep, LlmCallStep, Step};

use crate::engine::EngineError;
use crate::engine::template::Template;

pub(crate) struct Site<'a> {
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The step's id.
    pub id: &'a str,
    /// Every step of the pipeline, this one included.
    pub steps: &'a [Step],
    /// `clara.toml`.
    pub clara: &'a ClaraConfig,
}

impl Site<'_> {
    /// Compiles one of the step's template options.
    pub(crate) fn template(&self, field: &str, text: &str) -> Result<Template, EngineError> {
        Template::compile(
            format!("pipeline/{}/{}/{field}", self.pipeline, self.id),
            text,
        )
    }

    /// The pipeline's `llm_call` step, whose request options the other model calls share.
    pub(crate) fn llm_call(&self) -> Option<&LlmCallStep> {
        self.steps.iter().find_map(|s| match s {
            Step::LlmCall(options) => Some(options),
            _ => None,
        })
    }

    /// The pipeline's `classify_tier` step, whose prefixes `ingest` takes off.
    pub(crate) fn classify_tier(&self) -> Option<&ClassifyTierStep> {
        self.steps.iter().find_map(|s| match s {
            Step::ClassifyTier(options) => Some(options),
            _ => None,
        })
    }

    /// The timezone `name` names, else the configured default, else UTC.
    pub(crate) fn timezone(&self, name: Option<&str>) -> chrono_tz::Tz {
        name.unwrap_or(&self.clara.defaults.timezone)
            .parse()
            .unwrap_or(chrono_tz::UTC)
    }
}
