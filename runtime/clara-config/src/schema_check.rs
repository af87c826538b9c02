//! Checks a document against its kind's JSON Schema and reports *every* mismatch with the
//! position of the offending key or value. Running the schema (rather than serde, which stops
//! at the first error and loses positions inside tagged enums) is what lets `clara validate`
//! list all problems at once. It understands the subset schemars emits for our types.

use serde_json::{Map, Value as J};

use crate::doc::{At, Node, Value};
use crate::suggest;

/// One mismatch: where, and what is wrong.
pub type Issue = (At, String);

/// Checks `node` against `root` (a draft-07 schema with `definitions`).
pub fn check(node: &Node, root: &J) -> Vec<Issue> {
    let mut issues = Vec::new();
    Checker { root }.node(node, root, &node.at, &mut issues);
    issues
}

struct Checker<'s> {
    root: &'s J,
}

impl<'s> Checker<'s> {
    fn resolve(&self, schema: &'s J) -> &'s J {
        let Some(reference) = schema.get("$ref").and_then(J::as_str) else {
            return schema;
        };
        let name = reference.trim_start_matches("#/definitions/");
        self.root
            .get("definitions")
            .and_then(|d| d.get(name))
            .map_or(schema, |s| self.resolve(s))
    }

    /// `key_at` is where the node's key was written, for "missing key" messages.
    fn node(&self, node: &Node, schema: &'s J, key_at: &At, out: &mut Vec<Issue>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(J::as_array) {
            for part in all {
                self.node(node, part, key_at, out);
            }
        }
        if let Some(branches) = schema.get("oneOf").and_then(J::as_array) {
            self.one_of(node, branches, key_at, out);
        }
        if let Some(branches) = schema.get("anyOf").and_then(J::as_array) {
            self.any_of(node, branches, key_at, out);
        }
        if let Some(expected) = schema.get("type")
            && !type_matches(node, expected)
        {
            out.push((
                node.at.clone(),
                format!(
                    "expected {}, found {}",
                    describe_type(expected),
                    node.type_name()
                ),
            ));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(J::as_array) {
            self.enumerated(node, allowed, out);
        }
        if let Some(constant) = schema.get("const")
            && node.to_json() != *constant
        {
            out.push((node.at.clone(), format!("expected `{}`", plain(constant))));
        }
        self.numbers(node, schema, out);
        match &node.value {
            Value::Map(_)
                if schema.get("properties").is_some()
                    || schema.get("additionalProperties").is_some() =>
            {
                self.table(node, schema, key_at, out);
            }
            Value::Seq(items) => {
                if let Some(min) = schema.get("minItems").and_then(J::as_u64)
                    && (items.len() as u64) < min
                {
                    let message = if min == 1 {
                        "must not be empty".to_owned()
                    } else {
                        format!("needs at least {min} items")
                    };
                    out.push((node.at.clone(), message));
                }
                if let Some(item_schema) = schema.get("items") {
                    for item in items {
                        self.node(item, item_schema, &item.at, out);
                    }
                }
            }
            Value::Str(s) => {
                if let Some(min) = schema.get("minLength").and_then(J::as_u64)
                    && (s.chars().count() as u64) < min
                {
                    out.push((node.at.clone(), "must not be empty".to_owned()));
                }
            }
            _ => {}
        }
    }

    fn table(&self, node: &Node, schema: &'s J, key_at: &At, out: &mut Vec<Issue>) {
        let Value::Map(entries) = &node.value else {
            return;
        };
        let empty = Map::new();
        let properties = schema
            .get("properties")
            .and_then(J::as_object)
            .unwrap_or(&empty);
        let additional = schema.get("additionalProperties");
        for entry in entries {
            if let Some(property) = properties.get(&entry.key) {
                self.node(&entry.value, property, &entry.key_at, out);
            } else {
                match additional {
                    Some(J::Bool(false)) => {
                        out.push((entry.key_at.clone(), unknown_key(&entry.key, properties)));
                    }
                    Some(extra) if extra.is_object() => {
                        self.node(&entry.value, extra, &entry.key_at, out);
                    }
                    _ => {}
                }
            }
        }
        for required in schema
            .get("required")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = required.as_str() else {
                continue;
            };
            if node.entry(name).is_none() {
                out.push((key_at.clone(), format!("missing required key `{name}`")));
            }
        }
    }

    fn one_of(&self, node: &Node, branches: &'s [J], key_at: &At, out: &mut Vec<Issue>) {
        let branches: Vec<&J> = branches.iter().map(|b| self.resolve(b)).collect();
        if let Some(values) = constants(&branches) {
            self.enumerated(node, &values, out);
            return;
        }
        if let Some(tag) = tag_field(&branches) {
            self.tagged(node, &branches, tag, key_at, out);
            return;
        }
        self.best_branch(node, &branches, key_at, out);
    }

    fn any_of(&self, node: &Node, branches: &'s [J], key_at: &At, out: &mut Vec<Issue>) {
        let branches: Vec<&J> = branches.iter().map(|b| self.resolve(b)).collect();
        self.best_branch(node, &branches, key_at, out);
    }

    /// Passes when one branch matches; otherwise reports the closest branch's issues.
    fn best_branch(&self, node: &Node, branches: &[&'s J], key_at: &At, out: &mut Vec<Issue>) {
        let mut best: Option<Vec<Issue>> = None;
        for branch in branches {
            let is_null_branch = branch.get("type").and_then(J::as_str) == Some("null");
            let mut issues = Vec::new();
            self.node(node, branch, key_at, &mut issues);
            if issues.is_empty() {
                return;
            }
            if is_null_branch {
                continue;
            }
            if best.as_ref().is_none_or(|b| issues.len() < b.len()) {
                best = Some(issues);
            }
        }
        out.extend(best.unwrap_or_default());
    }

    /// An internally tagged enum: pick the branch by its tag value and check against it only.
    fn tagged(
        &self,
        node: &Node,
        branches: &[&'s J],
        tag: &str,
        key_at: &At,
        out: &mut Vec<Issue>,
    ) {
        if !matches!(node.value, Value::Map(_)) {
            out.push((
                node.at.clone(),
                format!("expected a table, found {}", node.type_name()),
            ));
            return;
        }
        let names: Vec<&str> = branches.iter().filter_map(|b| tag_value(b, tag)).collect();
        let Some(entry) = node.entry(tag) else {
            out.push((
                key_at.clone(),
                format!(
                    "missing required key `{tag}` (one of: {})",
                    names.join(", ")
                ),
            ));
            return;
        };
        let Value::Str(chosen) = &entry.value.value else {
            out.push((
                entry.value.at.clone(),
                format!("expected a string, found {}", entry.value.type_name()),
            ));
            return;
        };
        match branches.iter().find(|b| tag_value(b, tag) == Some(chosen)) {
            Some(branch) => self.node(node, branch, key_at, out),
            None => out.push((
                entry.value.at.clone(),
                suggest::unknown(tag, chosen, &names),
            )),
        }
    }

    fn enumerated(&self, node: &Node, allowed: &[J], out: &mut Vec<Issue>) {
        let value = node.to_json();
        if allowed.contains(&value) {
            return;
        }
        let names: Vec<String> = allowed.iter().map(plain).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let message = match &node.value {
            Value::Str(s) => suggest::unknown("value", s, &names),
            _ => format!(
                "expected one of: {}, found {}",
                names.join(", "),
                node.type_name()
            ),
        };
        out.push((node.at.clone(), message));
    }

    fn numbers(&self, node: &Node, schema: &J, out: &mut Vec<Issue>) {
        let number = match node.value {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => return,
        };
        let (format_min, format_max) = format_bounds(schema.get("format").and_then(J::as_str));
        let min = schema
            .get("minimum")
            .and_then(J::as_f64)
            .into_iter()
            .chain(format_min)
            .reduce(f64::max);
        let max = schema
            .get("maximum")
            .and_then(J::as_f64)
            .into_iter()
            .chain(format_max)
            .reduce(f64::min);
        if let Some(min) = min.filter(|m| number < *m) {
            out.push((
                node.at.clone(),
                format!("must be at least {}", show_number(min)),
            ));
        } else if let Some(max) = max.filter(|m| number > *m) {
            out.push((
                node.at.clone(),
                format!("must be at most {}", show_number(max)),
            ));
        }
    }
}

fn unknown_key(key: &str, properties: &Map<String, J>) -> String {
    let secret_twin = format!("{key}_env");
    if properties.contains_key(&secret_twin) {
        return format!(
            "unknown key `{key}`: secrets are never written in files; set `{secret_twin}` to the name of the environment variable that holds it"
        );
    }
    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
    match suggest::closest(key, names.iter().copied()) {
        Some(best) => format!("unknown key `{key}`, did you mean `{best}`?"),
        None if names.len() <= 12 && !names.is_empty() => {
            format!("unknown key `{key}`; expected one of: {}", names.join(", "))
        }
        None => format!("unknown key `{key}`"),
    }
}

/// When every branch is a constant (a unit-variant enum), the constants.
fn constants(branches: &[&J]) -> Option<Vec<J>> {
    branches.iter().map(|b| b.get("const").cloned()).collect()
}

/// The field every branch pins with a `const` (the serde tag), if there is one.
fn tag_field<'a>(branches: &[&'a J]) -> Option<&'a str> {
    let first = branches.first()?.get("properties")?.as_object()?;
    first
        .iter()
        .filter(|(_, p)| p.get("const").is_some())
        .map(|(name, _)| name.as_str())
        .find(|name| branches.iter().all(|b| tag_value(b, name).is_some()))
}

fn tag_value<'a>(branch: &'a J, tag: &str) -> Option<&'a str> {
    branch.get("properties")?.get(tag)?.get("const")?.as_str()
}

fn type_matches(node: &Node, expected: &J) -> bool {
    match expected {
        J::String(t) => single_type_matches(node, t),
        J::Array(types) => types
            .iter()
            .filter_map(J::as_str)
            .any(|t| single_type_matches(node, t)),
        _ => true,
    }
}

fn single_type_matches(node: &Node, expected: &str) -> bool {
    matches!(
        (expected, &node.value),
        ("null", Value::Null)
            | ("boolean", Value::Bool(_))
            | ("integer", Value::Int(_))
            | ("number", Value::Int(_) | Value::Float(_))
            | ("string", Value::Str(_) | Value::Datetime(_))
            | ("array", Value::Seq(_))
            | ("object", Value::Map(_))
    )
}

fn describe_type(expected: &J) -> String {
    let name = |t: &str| match t {
        "boolean" => "a boolean (true or false)",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "an array",
        "object" => "a table",
        _ => "null",
    };
    match expected {
        J::String(t) => name(t).to_owned(),
        J::Array(types) => types
            .iter()
            .filter_map(J::as_str)
            .filter(|t| *t != "null")
            .map(name)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".to_owned(),
    }
}

fn format_bounds(format: Option<&str>) -> (Option<f64>, Option<f64>) {
    match format {
        Some("uint8") => (Some(0.0), Some(u8::MAX as f64)),
        Some("uint16") => (Some(0.0), Some(u16::MAX as f64)),
        Some("uint32") => (Some(0.0), Some(u32::MAX as f64)),
        Some("uint64" | "uint") => (Some(0.0), None),
        Some("int32") => (Some(i32::MIN as f64), Some(i32::MAX as f64)),
        _ => (None, None),
    }
}

fn show_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn plain(value: &J) -> String {
    match value {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}
