//! Cross-file checks: references between files, templates, schedules, names and secrets.
//! Each problem points at the value that is wrong.

mod budget;
mod clara;
mod email_presets;
mod env_names;
mod hooks;
mod persona;
mod pipeline;
mod prompt_cache;
mod templates;
mod tools;

use std::collections::{BTreeMap, BTreeSet};

pub(crate) use clara::memory_model_advice;
pub(crate) use persona::persona_prompt;
pub(crate) use prompt_cache::prompt_cache_advice;

use crate::doc::{Node, Seg, Value};
use crate::model::clara::ClaraConfig;
use crate::model::common::{glob_match, is_glob};
use crate::model::pipeline::Pipeline;
use crate::model::tool::{BUILTIN_TOOLS, MCP_SEPARATOR, Runner, ToolManifest};
use crate::problem::Problem;
use crate::set::{Loaded, LoadedPersona, PERSONAS_DIR, Partial, Source, TOOLS_DIR};
use crate::suggest;

/// The names that references may point at. A file that failed to load still contributes its
/// name, so one mistake is not reported twice.
pub(crate) struct Names {
    pub personas: BTreeSet<String>,
    pub pipelines: BTreeSet<String>,
    pub tools: BTreeSet<String>,
    pub mcp_servers: BTreeSet<String>,
    /// `None` when `clara.toml` could not be parsed: provider and store references go
    /// unchecked.
    pub providers: Option<BTreeSet<String>>,
    pub stores: Option<BTreeSet<String>>,
    /// `[connections]`, unchecked (`None`) when `clara.toml` could not be parsed.
    pub connections: Option<BTreeSet<String>>,
}

impl Names {
    pub(crate) fn new(
        listed: &BTreeMap<&'static str, BTreeSet<String>>,
        clara_doc: Option<&Node>,
        clara: &Option<Loaded<ClaraConfig>>,
        personas: &BTreeMap<String, LoadedPersona>,
        pipelines: &BTreeMap<String, Option<Loaded<Pipeline>>>,
        tools: &BTreeMap<String, Loaded<ToolManifest>>,
    ) -> Names {
        let mut persona_names: BTreeSet<String> = personas.keys().cloned().collect();
        persona_names.extend(listed.get(PERSONAS_DIR).into_iter().flatten().cloned());
        let mut tool_names: BTreeSet<String> = tools.keys().cloned().collect();
        tool_names.extend(listed.get(TOOLS_DIR).into_iter().flatten().cloned());
        tool_names.extend(BUILTIN_TOOLS.iter().map(|t| (*t).to_owned()));
        let mcp_servers = tools
            .values()
            .filter(|t| matches!(t.value.runner, Runner::Mcp { .. }))
            .map(|t| t.name.clone())
            .collect();
        Names {
            personas: persona_names,
            pipelines: pipelines.keys().cloned().collect(),
            tools: tool_names,
            mcp_servers,
            providers: match clara {
                Some(c) => Some(c.value.providers.keys().cloned().collect()),
                None => clara_doc.map(|doc| table_keys(doc, "providers").unwrap_or_default()),
            },
            stores: match clara {
                Some(c) => Some(c.value.stores.keys().cloned().collect()),
                None => clara_doc.map(|doc| {
                    table_keys(doc, "stores").unwrap_or_else(|| BTreeSet::from(["main".to_owned()]))
                }),
            },
            connections: match clara {
                Some(c) => Some(c.value.connections.keys().cloned().collect()),
                None => clara_doc.map(|doc| table_keys(doc, "connections").unwrap_or_default()),
            },
        }
    }

    /// Whether a tool policy entry can match anything: a glob, a known tool, or a tool of a
    /// known MCP server.
    pub(crate) fn tool_pattern_known(&self, pattern: &str) -> bool {
        if is_glob(pattern) || self.tools.contains(pattern) {
            return true;
        }
        pattern
            .split_once(MCP_SEPARATOR)
            .is_some_and(|(server, _)| self.mcp_servers.contains(server))
            || self.tools.iter().any(|t| glob_match(pattern, t))
    }
}

/// The keys of a top-level table of a document that did not pass its checks.
fn table_keys(doc: &Node, table: &str) -> Option<BTreeSet<String>> {
    match &doc.entry(table)?.value.value {
        Value::Map(entries) => Some(entries.iter().map(|e| e.key.clone()).collect()),
        _ => None,
    }
}

/// Collects problems against one source file.
pub(crate) struct Report<'a> {
    pub problems: &'a mut Vec<Problem>,
}

impl Report<'_> {
    /// A problem with the value at `path`.
    pub(crate) fn value(&mut self, source: &Source, path: &[Seg], message: impl Into<String>) {
        let at = source.doc.value_at(path);
        self.problems.push(Problem::at(&source.rel, at, message));
    }

    /// A problem with the key at the end of `path`.
    pub(crate) fn key(&mut self, source: &Source, path: &[Seg], message: impl Into<String>) {
        let at = source.doc.key_at(path);
        self.problems.push(Problem::at(&source.rel, at, message));
    }

    /// Reports `name` at `path` unless it is one of `known`.
    pub(crate) fn reference<K: AsRef<str>>(
        &mut self,
        source: &Source,
        path: &[Seg],
        what: &str,
        name: &str,
        known: impl IntoIterator<Item = K>,
    ) {
        let known: Vec<K> = known.into_iter().collect();
        let known: Vec<&str> = known.iter().map(AsRef::as_ref).collect();
        if !known.contains(&name) {
            self.value(source, path, suggest::unknown(what, name, &known));
        }
    }
}

pub(crate) fn run(set: &Partial<'_>, names: &Names, problems: &mut Vec<Problem>) {
    let mut report = Report { problems };
    for source in set.sources() {
        env_names::check(source, &mut report);
    }
    if let Some(clara) = set.clara {
        clara::check(clara, set, names, &mut report);
    }
    for persona in set.personas.values() {
        persona::check(persona, names, &mut report);
    }
    pipeline::check_all(set, names, &mut report);
    tools::check_all(set, names, &mut report);
    hooks::check_all(set, names, &mut report);
    email_presets::check_all(set, &mut report);
}
