//! What a parsed template may not do: pull in other templates (each template stands alone;
//! `{% include "/etc/passwd" %}` would fail every turn), read the environment, or call a macro
//! that calls itself (unbounded recursion at render time) or that does not exist.

use std::collections::{BTreeMap, BTreeSet};

use tera::ast::{Expr, ExprVal, Node};

use super::TemplateProblem;

pub(super) fn check(template: &tera::Template, text: &str) -> Result<(), TemplateProblem> {
    let mut found = Found::default();
    nodes(&template.ast, &mut found, None);
    if let Some(tag) = found.pulls_in {
        return Err(at(
            text,
            &format!(r"\{{%-?\s*{tag}\b"),
            format!("`{{% {tag} %}}` is not available: each template stands alone"),
        ));
    }
    if found.reads_env {
        return Err(at(
            text,
            r"\bget_env\b",
            "`get_env` is not available: templates cannot read the environment (an HTTP tool's templates get the variables its `secrets_env` names as `env.NAME`)".to_owned(),
        ));
    }
    for called in found.calls.values().flatten().chain(&found.top_calls) {
        if !template.macros.contains_key(called) {
            return Err(at(
                text,
                &format!(r"self::{called}\b"),
                format!("there is no macro `{called}` in this template"),
            ));
        }
    }
    for name in template.macros.keys() {
        if reaches_itself(name, &found.calls) {
            return Err(at(
                text,
                &format!(r"\{{%-?\s*macro\s+{name}\b"),
                format!(
                    "macro `{name}` calls itself (directly or through another macro); recursion is not available in templates"
                ),
            ));
        }
    }
    Ok(())
}

/// The variables a parsed template reads and the filters it applies.
pub(super) fn usage(template: &tera::Template) -> super::Usage {
    let mut found = Found::default();
    nodes(&template.ast, &mut found, None);
    super::Usage {
        variables: found.variables,
        filters: found.filters,
    }
}

#[derive(Default)]
struct Found {
    /// Root names of every variable read.
    variables: BTreeSet<String>,
    /// Every filter applied.
    filters: BTreeSet<String>,
    pulls_in: Option<&'static str>,
    reads_env: bool,
    /// The macros each macro calls.
    calls: BTreeMap<String, BTreeSet<String>>,
    /// Macros called outside any macro.
    top_calls: BTreeSet<String>,
}

impl Found {
    fn call(&mut self, inside: Option<&str>, name: &str) {
        match inside {
            Some(macro_name) => {
                self.calls
                    .entry(macro_name.to_owned())
                    .or_default()
                    .insert(name.to_owned());
            }
            None => {
                self.top_calls.insert(name.to_owned());
            }
        }
    }
}

fn nodes(list: &[Node], found: &mut Found, inside: Option<&str>) {
    for node in list {
        match node {
            Node::Extends(..) => found.pulls_in = found.pulls_in.or(Some("extends")),
            Node::Include(..) => found.pulls_in = found.pulls_in.or(Some("include")),
            Node::ImportMacro(..) => found.pulls_in = found.pulls_in.or(Some("import")),
            Node::VariableBlock(_, e) => expr(e, found, inside),
            Node::MacroDefinition(_, definition, _) => {
                found.calls.entry(definition.name.clone()).or_default();
                for default in definition.args.values().flatten() {
                    expr(default, found, Some(&definition.name));
                }
                nodes(&definition.body, found, Some(&definition.name));
            }
            Node::Set(_, set) => expr(&set.value, found, inside),
            Node::FilterSection(_, section, _) => {
                found.filters.insert(section.filter.name.clone());
                section
                    .filter
                    .args
                    .values()
                    .for_each(|e| expr(e, found, inside));
                nodes(&section.body, found, inside);
            }
            Node::Block(_, block, _) => nodes(&block.body, found, inside),
            Node::Forloop(_, forloop, _) => {
                expr(&forloop.container, found, inside);
                nodes(&forloop.body, found, inside);
                if let Some(empty) = &forloop.empty_body {
                    nodes(empty, found, inside);
                }
            }
            Node::If(branches, _) => {
                for (_, condition, body) in &branches.conditions {
                    expr(condition, found, inside);
                    nodes(body, found, inside);
                }
                if let Some((_, body)) = &branches.otherwise {
                    nodes(body, found, inside);
                }
            }
            Node::Super
            | Node::Text(_)
            | Node::Raw(..)
            | Node::Break(_)
            | Node::Continue(_)
            | Node::Comment(..) => {}
        }
    }
}

fn expr(e: &Expr, found: &mut Found, inside: Option<&str>) {
    for filter in &e.filters {
        found.filters.insert(filter.name.clone());
        filter.args.values().for_each(|a| expr(a, found, inside));
    }
    value(&e.val, found, inside);
}

fn value(v: &ExprVal, found: &mut Found, inside: Option<&str>) {
    match v {
        ExprVal::Math(m) => {
            expr(&m.lhs, found, inside);
            expr(&m.rhs, found, inside);
        }
        ExprVal::Logic(l) => {
            expr(&l.lhs, found, inside);
            expr(&l.rhs, found, inside);
        }
        ExprVal::In(i) => {
            expr(&i.lhs, found, inside);
            expr(&i.rhs, found, inside);
        }
        ExprVal::Test(t) => t.args.iter().for_each(|a| expr(a, found, inside)),
        ExprVal::MacroCall(call) => {
            if call.namespace == "self" {
                found.call(inside, &call.name);
            } else {
                found.pulls_in = found.pulls_in.or(Some("import"));
            }
            call.args.values().for_each(|a| expr(a, found, inside));
        }
        ExprVal::FunctionCall(call) => {
            if call.name == "get_env" {
                found.reads_env = true;
            }
            call.args.values().for_each(|a| expr(a, found, inside));
        }
        ExprVal::Array(items) => items.iter().for_each(|a| expr(a, found, inside)),
        ExprVal::StringConcat(concat) => {
            concat.values.iter().for_each(|v| value(v, found, inside));
        }
        ExprVal::Ident(name) => {
            let root = name.split(['.', '[']).next().unwrap_or(name);
            found.variables.insert(root.to_owned());
        }
        ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => {}
    }
}

/// Whether following calls from `start` leads back to it.
fn reaches_itself(start: &str, calls: &BTreeMap<String, BTreeSet<String>>) -> bool {
    let mut seen = BTreeSet::new();
    let mut pending: Vec<&str> = calls
        .get(start)
        .map(|c| c.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(name) = pending.pop() {
        if name == start {
            return true;
        }
        if seen.insert(name) {
            pending.extend(calls.get(name).into_iter().flatten().map(String::as_str));
        }
    }
    false
}

/// A problem at the first match of `pattern` in `text` (the start when there is none).
fn at(text: &str, pattern: &str, message: String) -> TemplateProblem {
    let offset = regex::Regex::new(pattern)
        .ok()
        .and_then(|re| re.find(text))
        .map_or(0, |m| m.start());
    TemplateProblem {
        offset: Some(offset),
        line_col: None,
        message,
    }
}
