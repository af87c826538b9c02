//! `CLARA_SECTION__KEY` environment overrides, applied to the `clara.toml` document before it
//! is checked, so a bad override is reported like a bad line.

use std::sync::Arc;

use super::{At, Entry, Node, Value, parse_toml};

const PREFIX: &str = "CLARA_";

/// Applies every `CLARA_A__B…` variable as an override of key `a.b…`. Values are read as TOML
/// (`60`, `true`, `["a", "b"]`) and fall back to plain strings. Returns the problems found
/// (an override that would replace a non-table).
pub fn apply_env_overrides<'a>(
    root: &mut Node,
    vars: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(At, String)> {
    let mut problems = Vec::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            problems.push((
                At::Env(name.into()),
                "empty key in override name".to_owned(),
            ));
            continue;
        }
        let at = At::Env(Arc::from(name));
        let value = override_value(raw, &at);
        if let Err(message) = insert(root, &path, value, &at) {
            problems.push((at, message));
        }
    }
    problems
}

fn override_value(raw: &str, at: &At) -> Node {
    let mut node = parse_toml(&format!("v = {raw}"))
        .ok()
        .and_then(|doc| doc.entry("v").map(|e| e.value.clone()))
        .unwrap_or_else(|| Node::new(at.clone(), Value::Str(raw.to_owned())));
    relocate(&mut node, at);
    node
}

fn relocate(node: &mut Node, at: &At) {
    node.at = at.clone();
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|n| relocate(n, at)),
        Value::Map(entries) => entries.iter_mut().for_each(|e| {
            e.key_at = at.clone();
            relocate(&mut e.value, at);
        }),
        _ => {}
    }
}

fn insert(node: &mut Node, path: &[String], value: Node, at: &At) -> Result<(), String> {
    let Value::Map(entries) = &mut node.value else {
        return Err("overrides a value that is not a table".to_owned());
    };
    let (head, rest) = path.split_first().expect("override paths are never empty");
    let index = match entries.iter().position(|e| &e.key == head) {
        Some(i) => i,
        None => {
            entries.push(Entry {
                key: head.clone(),
                key_at: at.clone(),
                value: Node::new(at.clone(), Value::Map(Vec::new())),
            });
            entries.len() - 1
        }
    };
    let entry = &mut entries[index];
    if rest.is_empty() {
        entry.value = value;
        return Ok(());
    }
    if !matches!(entry.value.value, Value::Map(_)) {
        return Err(format!(
            "`{head}` is not a table, so it has no keys to override"
        ));
    }
    insert(&mut entry.value, rest, value, at)
}
