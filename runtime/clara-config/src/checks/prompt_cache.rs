//! Advice on prompt caching: a template in the cached start of the prompt (instructions,
//! persona, background) that reads a per-turn value changes that start every turn.

use crate::doc::{At, LineIndex};
use crate::model::steps::Step;
use crate::path;
use crate::problem::Problem;
use crate::prompt_cache::first_per_turn;
use crate::set::ConfigSet;

use super::templates::position_in_value;

/// One warning per template of the cached part that reads a per-turn variable.
pub(crate) fn prompt_cache_advice(set: &ConfigSet) -> Vec<Problem> {
    let mut warnings = Vec::new();
    let message = |name: &str, what: &str| {
        format!(
            "`{name}` changes from turn to turn, so this {what} keeps the prompt from being cached; move it to `context_template` or `memories_template`, which come after the history"
        )
    };
    for pipeline in set.pipelines.values() {
        let source = &pipeline.source;
        for (i, step) in pipeline.value.steps.iter().enumerate() {
            let Step::BuildContext(ctx) = step else {
                continue;
            };
            let templates = [
                ("instructions_template", Some(&ctx.instructions_template)),
                ("background_template", ctx.background_template.as_ref()),
            ];
            for (key, text) in templates {
                let Some((name, offset)) = text.and_then(|t| first_per_turn(t)) else {
                    continue;
                };
                let key_path = path!["steps", i, key];
                let at = position_in_value(source, &key_path, text.map_or("", |t| t), offset);
                warnings.push(Problem::at(&source.rel, at, message(name, "template")));
            }
        }
    }
    for persona in set.personas.values() {
        let Some((name, offset)) = first_per_turn(&persona.prompt) else {
            continue;
        };
        let at = if persona.prompt_file == persona.file.source.rel {
            position_in_value(
                &persona.file.source,
                &path!["prompt"],
                &persona.prompt,
                offset,
            )
        } else {
            LineIndex::new(&persona.prompt).at(offset)
        };
        let at = match at {
            At::Pos { .. } => at,
            _ => At::Pos { line: 1, col: 1 },
        };
        warnings.push(Problem::at(
            &persona.prompt_file,
            at,
            message(name, "persona prompt"),
        ));
    }
    warnings
}
