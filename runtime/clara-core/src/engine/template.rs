//! A compiled template, owned by what renders it (a step's option, a persona's prompt), so a
//! turn never looks one up by name.

use super::EngineError;

/// One template, parsed once when the generation is built.
pub(crate) struct Template {
    /// Boxed: a step holds several, and steps sit side by side in an enum.
    engine: Box<tera::Tera>,
    name: String,
}

impl Template {
    /// Compiles `text`; `name` says where it came from in render errors
    /// (`pipeline/chat/context/context_template`).
    pub(crate) fn compile(name: String, text: &str) -> Result<Template, EngineError> {
        let mut engine = clara_config::template::engine();
        engine
            .add_raw_template(&name, text)
            .map_err(|e| EngineError::Template(with_sources(&e)))?;
        Ok(Template {
            engine: Box::new(engine),
            name,
        })
    }

    /// Renders it with `vars`.
    pub(crate) fn render(&self, vars: &tera::Context) -> Result<String, EngineError> {
        self.engine
            .render(&self.name, vars)
            .map_err(|e| EngineError::Template(with_sources(&e)))
    }
}

/// Tera keeps the useful part of an error (which variable, which line) in its sources.
fn with_sources(error: &tera::Error) -> String {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        detail = format!("{detail}: {inner}");
        source = inner.source();
    }
    detail
}
