//! Persona checks: where the prompt comes from, that it parses, and the tool policy.

use std::path::Path;

use crate::doc::At;
use crate::model::persona::Persona;
use crate::path;
use crate::problem::Problem;
use crate::set::{Loaded, LoadedPersona, PERSONAS_DIR};

use super::{Names, Report, templates};

/// Resolves a persona's prompt: inline `prompt`, `prompt_file`, or `NAME.md` beside the file.
/// Returns the text and the file it came from; reports what is missing or contradictory.
pub(crate) fn persona_prompt(
    root: &Path,
    persona: &Loaded<Persona>,
    problems: &mut Vec<Problem>,
) -> (String, String) {
    let source = &persona.source;
    let value = &persona.value;
    let mut report = Report { problems };
    match (&value.prompt, &value.prompt_file) {
        (Some(_), Some(_)) => {
            report.key(
                source,
                &path!["prompt_file"],
                "set either `prompt` or `prompt_file`, not both",
            );
            (String::new(), source.rel.clone())
        }
        (Some(prompt), None) => (prompt.clone(), source.rel.clone()),
        (None, explicit) => {
            let file_name = explicit
                .clone()
                .unwrap_or_else(|| format!("{}.md", persona.name));
            let rel = format!("{PERSONAS_DIR}/{file_name}");
            match crate::read::read_text(&root.join(&rel)) {
                Ok(text) => (text, rel),
                Err(err) if !err.is_not_found() => {
                    report.problems.push(Problem {
                        file: rel.clone(),
                        at: None,
                        message: err.to_string(),
                    });
                    (String::new(), rel)
                }
                Err(_) if explicit.is_some() => {
                    report.value(
                        source,
                        &path!["prompt_file"],
                        format!("prompt file `{rel}` not found"),
                    );
                    (String::new(), rel)
                }
                Err(_) => {
                    let message = format!(
                        "persona `{}` has no prompt: add `prompt = \"\"\"…\"\"\"` or write it in `{rel}`",
                        persona.name
                    );
                    report
                        .problems
                        .push(Problem::at(&source.rel, At::START, message));
                    (String::new(), rel)
                }
            }
        }
    }
}

pub(crate) fn check(persona: &LoadedPersona, names: &Names, report: &mut Report<'_>) {
    let source = &persona.file.source;
    if persona.file.value.prompt.is_some() {
        templates::check_value(report, source, &path!["prompt"], &persona.prompt);
    } else {
        templates::check_file(report, &persona.prompt_file, &persona.prompt);
    }
    for (i, pattern) in persona.file.value.tools.iter().enumerate() {
        if !names.tool_pattern_known(pattern) {
            report.reference(source, &path!["tools", i], "tool", pattern, &names.tools);
        }
    }
}
