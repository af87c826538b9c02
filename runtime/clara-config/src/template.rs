//! Tera, the one way clara renders templates (prompts, command lines, URLs, headers), and the
//! limits `clara validate` puts on a template before it ever renders. The engine never
//! escapes HTML (nothing here is HTML), cannot read the process environment (a template sees
//! a secret only as the `env.NAME` its manifest declares) and bounds `range`. A template that
//! passes [`check`] cannot overflow the stack, pull in another file or recurse.

mod limits;
mod safety;
mod url;

pub use url::{encode_component, has_dot_segment, url_engine};

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// The most items `range` may produce.
pub const MAX_RANGE_ITEMS: usize = 10_000;

/// A problem with a template: where in its text (a byte offset) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateProblem {
    /// Byte offset into the template text; `None` when the parser gave a line and column.
    pub offset: Option<usize>,
    /// 1-based line and column in the template, when the parser gave them.
    pub line_col: Option<(u32, u32)>,
    /// What is wrong.
    pub message: String,
}

/// A tera engine set up the clara way. Add templates to it with `add_raw_templates`.
pub fn engine() -> tera::Tera {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::new());
    tera.register_function("get_env", |_: &HashMap<String, Value>| {
        Err(tera::Error::msg(
            "templates cannot read the environment; a tool names the variables it may use in `secrets_env`",
        ))
    });
    tera.register_function("range", bounded_range);
    tera
}

/// Renders `text` once with `context` on a clara engine (for templates used a single time).
pub fn render_once(text: &str, context: &tera::Context) -> Result<String, tera::Error> {
    let mut tera = engine();
    tera.add_raw_template("template", text)?;
    tera.render("template", context)
}

/// Checks that `text` parses and is safe to render: nesting within the limits, no
/// `include`/`import`/`extends`, no `get_env`, no macro that calls itself, no call to a macro
/// that does not exist.
pub fn check(text: &str) -> Result<(), TemplateProblem> {
    limits::check(text)?;
    let template = tera::Template::new("template", None, text).map_err(|err| {
        let (line_col, message) = parse_error(&err);
        TemplateProblem {
            offset: None,
            line_col,
            message,
        }
    })?;
    safety::check(&template, text)
}

/// What a template uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The variables it reads, by their first name (`args` for `{{ args.owner }}`).
    pub variables: BTreeSet<String>,
    /// The filters it applies (`safe`, `upper`, …).
    pub filters: BTreeSet<String>,
}

/// What `text` uses; nothing when it does not parse.
pub fn usage(text: &str) -> Usage {
    if limits::check(text).is_err() {
        return Usage::default();
    }
    tera::Template::new("template", None, text)
        .map(|t| safety::usage(&t))
        .unwrap_or_default()
}

/// An error with its sources, `outer: inner: …` (tera puts the useful part in a source).
#[cfg(test)]
pub(crate) fn chain(error: &tera::Error) -> String {
    let mut all = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        all = format!("{all}: {inner}");
        source = inner.source();
    }
    all
}

/// The parser's position and reason.
fn parse_error(err: &tera::Error) -> (Option<(u32, u32)>, String) {
    let detail =
        std::error::Error::source(err).map_or_else(|| err.to_string(), ToString::to_string);
    let line_col = detail
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .and_then(|pos| pos.split_once(':'))
        .and_then(|(l, c)| Some((l.trim().parse().ok()?, c.trim().parse().ok()?)));
    let reason = detail
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .unwrap_or(detail.lines().next().unwrap_or("cannot parse"))
        .trim()
        .to_owned();
    (line_col, reason)
}

/// tera's `range`, refusing to build more than [`MAX_RANGE_ITEMS`] items (a model-supplied
/// `end` must not allocate the machine away).
fn bounded_range(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let number = |name: &str, default: Option<u64>| -> tera::Result<u64> {
        match args.get(name) {
            Some(value) => value.as_u64().ok_or_else(|| {
                tera::Error::msg(format!("`range`: `{name}` must be a whole number"))
            }),
            None => default.ok_or_else(|| tera::Error::msg(format!("`range` needs `{name}`"))),
        }
    };
    let start = number("start", Some(0))?;
    let end = number("end", None)?;
    let step = number("step_by", Some(1))?.max(1);
    if start > end {
        return Err(tera::Error::msg("`range`: `start` is after `end`"));
    }
    let count = (end - start).div_ceil(step);
    if count > MAX_RANGE_ITEMS as u64 {
        return Err(tera::Error::msg(format!(
            "`range` would make {count} items; at most {MAX_RANGE_ITEMS}"
        )));
    }
    Ok(Value::Array(
        (start..end)
            .step_by(step as usize)
            .map(Value::from)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str) -> Result<String, String> {
        render_once(text, &tera::Context::new()).map_err(|e| chain(&e))
    }

    #[test]
    fn the_engine_cannot_read_the_environment_and_bounds_range() {
        // SAFETY (test): PATH is always set; nothing else is changed.
        let err = render("{{ get_env(name=\"PATH\") }}").unwrap_err();
        assert!(err.contains("cannot read the environment"), "{err}");
        assert_eq!(
            render("{% for i in range(end=3) %}{{ i }}{% endfor %}").unwrap(),
            "012"
        );
        assert_eq!(
            render("{% for i in range(start=1, end=8, step_by=3) %}{{ i }}{% endfor %}").unwrap(),
            "147"
        );
        let err = render("{% for i in range(end=1000000000000) %}{% endfor %}").unwrap_err();
        assert!(err.contains("at most 10000"), "{err}");
        assert_eq!(render("<b>{{ \"&\" }}</b>").unwrap(), "<b>&</b>");
    }

    #[test]
    fn unsafe_templates_are_refused_before_they_render() {
        let message = |t: &str| check(t).unwrap_err().message;
        assert!(
            message("{% include \"/etc/passwd\" %}").contains("{% include %}` is not available")
        );
        assert!(message("{% import \"m\" as m %}").contains("{% import %}` is not available"));
        assert!(message("{{ get_env(name=\"OPENROUTER_API_KEY\") }}").contains("get_env"));
        assert!(
            message("{% macro f(n) %}{{ self::f(n=n) }}{% endmacro f %}{{ self::f(n=1) }}")
                .contains("calls itself")
        );
        assert!(message(
            "{% macro a() %}{{ self::b() }}{% endmacro a %}{% macro b() %}{{ self::a() }}{% endmacro b %}"
        )
        .contains("calls itself"));
        assert!(message("{{ self::nope() }}").contains("no macro `nope`"));
        let deep = format!("{{{{ {}a{} }}}}", "(".repeat(3000), ")".repeat(3000));
        assert!(message(&deep).contains("nested"));
        let blocks = format!(
            "{}x{}",
            "{% if a %}".repeat(2000),
            "{% endif %}".repeat(2000)
        );
        assert!(message(&blocks).contains("nested"));
        let chain = format!("{{{{ a{} }}}}", " + a".repeat(20_000));
        assert!(message(&chain).contains("operators"));
        assert!(check("{% macro greet(name) %}Hi {{ name }}{% endmacro greet %}{{ self::greet(name=\"x\") }}").is_ok());
        assert!(check("{% raw %}{{ ((((((((((((((((((((((((((((((((((( }}{% endraw %}").is_ok());
        let used = usage(
            "{{ args.owner | safe }}/{% for x in args.list %}{{ x | upper }}{{ env.T }}{% endfor %}",
        );
        assert_eq!(
            used.variables,
            ["args", "env", "x"].map(String::from).into()
        );
        assert_eq!(used.filters, ["safe", "upper"].map(String::from).into());
        assert!(check("Sad :( :( :( {{ user_name }} (\"{{ \"))))\" }}\")").is_ok());
    }
}
