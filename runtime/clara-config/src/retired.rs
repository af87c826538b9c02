//! Keys that once existed and do nothing now. They are accepted and dropped with a warning
//! that says what replaces them, so upgrading clara never stops a configuration that worked.

use crate::doc::{Node, Value};
use crate::problem::Problem;
use crate::schema::FileKind;

/// (file kind, key path, what to know instead).
const RETIRED: &[(FileKind, &[&str], &str)] = &[
    (
        FileKind::Clara,
        &["runtime", "data_dir"],
        "the SQLite file is `[stores.main] path`",
    ),
    (
        FileKind::Clara,
        &["adapters", "discord", "client_id"],
        "the application id comes from Discord",
    ),
    (
        FileKind::Clara,
        &["memory", "store"],
        "memories live in `defaults.store`",
    ),
    (
        FileKind::Pipeline,
        &["store"],
        "every pipeline uses `defaults.store`",
    ),
];

/// Removes the retired keys of a `kind` document, returning a warning for each one found.
pub(crate) fn drop_retired(kind: FileKind, rel: &str, doc: &mut Node) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (_, path, instead) in RETIRED.iter().filter(|(k, _, _)| *k == kind) {
        if let Some(at) = remove(doc, path) {
            warnings.push(Problem::at(
                rel,
                at,
                format!(
                    "`{}` is no longer used ({instead}); remove it",
                    path.join(".")
                ),
            ));
        }
    }
    warnings
}

/// Removes the entry at `path`, returning where its key was written.
fn remove(node: &mut Node, path: &[&str]) -> Option<crate::doc::At> {
    let (last, parents) = path.split_last()?;
    let mut node = node;
    for key in parents {
        let Value::Map(entries) = &mut node.value else {
            return None;
        };
        node = &mut entries.iter_mut().find(|e| e.key == *key)?.value;
    }
    let Value::Map(entries) = &mut node.value else {
        return None;
    };
    let index = entries.iter().position(|e| e.key == *last)?;
    Some(entries.remove(index).key_at)
}
