//! Every `*_env` key names an environment variable. A value that cannot be a variable's name
//! is most likely the secret itself pasted in, so it is reported without being repeated.

use crate::doc::{Node, Value};
use crate::env::is_variable_name;
use crate::problem::Problem;
use crate::set::Source;

use super::Report;

pub(crate) fn check(source: &Source, report: &mut Report<'_>) {
    walk(source, &source.doc, report);
}

fn walk(source: &Source, node: &Node, report: &mut Report<'_>) {
    match &node.value {
        Value::Map(entries) => {
            for entry in entries {
                if entry.key.ends_with("_env") {
                    names(source, &entry.key, &entry.value, report);
                } else {
                    walk(source, &entry.value, report);
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|item| walk(source, item, report)),
        _ => {}
    }
}

/// Checks the names held by `key`: a string, a list of them, or a table of them.
fn names(source: &Source, key: &str, node: &Node, report: &mut Report<'_>) {
    match &node.value {
        Value::Str(name) if !is_variable_name(name) => report.problems.push(Problem::at(
            &source.rel,
            node.at.clone(),
            format!(
                "`{key}` takes the name of an environment variable (like `OPENROUTER_API_KEY`), and this is not one; if it is the secret itself, put it in .env under a name, write that name here, and rotate the secret (it is not repeated here)"
            ),
        )),
        Value::Seq(items) => items.iter().for_each(|n| names(source, key, n, report)),
        Value::Map(entries) => entries
            .iter()
            .for_each(|e| names(source, key, &e.value, report)),
        _ => {}
    }
}
