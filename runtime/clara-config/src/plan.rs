//! What an edit will do before it is applied: between the configuration that runs (or any
//! other) and the files on disk, each file that changes, whether the edit applies live, needs
//! a restart (and why) or is rejected (with every problem), and how personas' prompts and
//! pipelines' steps change. `clara plan` prints it; `clara run` logs it on every reload.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::diff::{changes, needs_restart};
use crate::model::pipeline::Pipeline;
use crate::model::steps::Step;
use crate::problem::{ConfigError, Problem};
use crate::set::{CLARA_FILE, ConfigSet};
use crate::text_diff::changed_lines;

/// What applying the files would do.
pub struct Plan {
    /// Files added, changed or removed, by path in the root.
    pub files: Vec<FileChange>,
    /// What happens to the edit as a whole.
    pub verdict: Verdict,
    /// How each persona's prompt and each pipeline's steps change.
    pub details: Vec<Detail>,
}

/// One file that differs.
#[derive(Debug, PartialEq, Eq)]
pub struct FileChange {
    /// Its path in the root.
    pub path: String,
    /// `added`, `changed` or `removed`.
    pub how: &'static str,
}

/// What happens to an edit.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing differs.
    Unchanged,
    /// A running clara picks it up without a restart.
    AppliesLive,
    /// A running clara keeps its configuration until restarted, for this reason.
    NeedsRestart(String),
    /// The files do not load: a running clara keeps its configuration; these are the problems
    /// (`path:line:col: message`).
    Rejected(Vec<String>),
}

/// How one persona or pipeline changes.
#[derive(Debug, PartialEq, Eq)]
pub struct Detail {
    /// `persona clara` or `pipeline chat`.
    pub what: String,
    /// The lines saying how.
    pub lines: Vec<String>,
}

impl Plan {
    /// The plan for files that do not load.
    pub fn rejected(err: &ConfigError) -> Plan {
        let mut problems: Vec<String> = err.problems().iter().map(Problem::to_string).collect();
        if problems.is_empty() {
            problems.push(err.to_string());
        }
        Plan {
            files: Vec::new(),
            verdict: Verdict::Rejected(problems),
            details: Vec::new(),
        }
    }

    /// The plan for replacing `old` with `new`.
    pub fn between(old: &ConfigSet, new: &ConfigSet) -> Plan {
        let changed = changes(old, new);
        let mut files: Vec<FileChange> = Vec::new();
        for (paths, how) in [
            (&changed.added, "added"),
            (&changed.changed, "changed"),
            (&changed.removed, "removed"),
        ] {
            files.extend(paths.iter().map(|path| FileChange {
                path: path.clone(),
                how,
            }));
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let verdict = if files.is_empty() {
            Verdict::Unchanged
        } else {
            match needs_restart(old, new) {
                Some(reason) => Verdict::NeedsRestart(reason),
                None => Verdict::AppliesLive,
            }
        };
        let mut details = persona_details(old, new);
        details.extend(pipeline_details(old, new));
        details.extend(cache_detail(old, new, &files));
        Plan {
            files,
            verdict,
            details,
        }
    }
}

fn persona_details(old: &ConfigSet, new: &ConfigSet) -> Vec<Detail> {
    let names: BTreeSet<&String> = old.personas.keys().chain(new.personas.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let lines = match (old.personas.get(name), new.personas.get(name)) {
            (None, Some(_)) => vec!["added".to_owned()],
            (Some(_), None) => vec!["removed".to_owned()],
            (Some(a), Some(b)) if a.prompt != b.prompt => {
                let mut lines = vec!["its prompt:".to_owned()];
                lines.extend(changed_lines(&a.prompt, &b.prompt));
                lines
            }
            _ => continue,
        };
        out.push(Detail {
            what: format!("persona {name}"),
            lines,
        });
    }
    out
}

fn pipeline_details(old: &ConfigSet, new: &ConfigSet) -> Vec<Detail> {
    let names: BTreeSet<&String> = old.pipelines.keys().chain(new.pipelines.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let lines = match (old.pipelines.get(name), new.pipelines.get(name)) {
            (None, Some(_)) => vec!["added".to_owned()],
            (Some(_), None) => vec!["removed".to_owned()],
            (Some(a), Some(b)) if a.value != b.value => step_lines(&a.value, &b.value),
            _ => continue,
        };
        out.push(Detail {
            what: format!("pipeline {name}"),
            lines,
        });
    }
    out
}

/// How a pipeline's steps change: the list of kinds when it changes, then each step at the same
/// place and of the same kind whose settings differ, by key.
fn step_lines(a: &Pipeline, b: &Pipeline) -> Vec<String> {
    let kinds = |p: &Pipeline| {
        p.steps
            .iter()
            .map(Step::kind)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut lines = Vec::new();
    let (before, after) = (kinds(a), kinds(b));
    if before != after {
        lines.push("its steps:".to_owned());
        lines.extend(crate::text_diff::line_diff(&before, &after));
    }
    for (index, (x, y)) in a.steps.iter().zip(&b.steps).enumerate() {
        if x == y || x.kind() != y.kind() {
            continue;
        }
        let keys = changed_keys(&to_map(x), &to_map(y));
        lines.push(format!(
            "step {} ({}): {} changed",
            index + 1,
            x.kind(),
            keys.join(", ")
        ));
    }
    let rest = |p: &Pipeline| (p.description.clone(), p.triggers.clone(), p.persona.clone());
    if rest(a) != rest(b) {
        lines.push("its description, triggers or persona changed".to_owned());
    }
    lines
}

/// The build_context settings that shape the cached start of a prompt.
const CACHED_START_KEYS: &[&str] = &[
    "instructions_template",
    "background_template",
    "history_timestamps",
    "timestamp_format",
    "timezone",
];

/// What in the edit changes the cached start of prompts (tools, instructions, persona,
/// background, history as rendered): after it, each session's next turn pays to write that
/// start to the provider's cache again.
fn cache_detail(old: &ConfigSet, new: &ConfigSet, files: &[FileChange]) -> Option<Detail> {
    let mut causes = Vec::new();
    for (name, persona) in &new.personas {
        if old
            .personas
            .get(name)
            .is_some_and(|o| o.prompt != persona.prompt)
        {
            causes.push(format!("persona {name}'s prompt"));
        }
    }
    for (name, pipeline) in &new.pipelines {
        let Some(before) = old.pipelines.get(name) else {
            continue;
        };
        let steps = before.value.steps.iter().zip(&pipeline.value.steps);
        for (index, (a, b)) in steps.enumerate() {
            let (Step::BuildContext(x), Step::BuildContext(y)) = (a, b) else {
                continue;
            };
            let keys = changed_keys(&to_map(x), &to_map(y));
            let keys: Vec<&String> = keys
                .iter()
                .filter(|k| CACHED_START_KEYS.iter().any(|c| k.trim_matches('`') == *c))
                .collect();
            if !keys.is_empty() || x.background() != y.background() {
                causes.push(format!(
                    "pipeline {name} step {} (build_context)",
                    index + 1
                ));
            }
        }
    }
    let tools = files
        .iter()
        .filter(|f| f.path.starts_with(crate::set::TOOLS_DIR))
        .count();
    if tools > 0 {
        causes.push("the tools offered (their names and definitions)".to_owned());
    }
    if causes.is_empty() {
        return None;
    }
    let mut lines = vec![
        "the cached start of prompts changes; each session's next turn writes it again:".to_owned(),
    ];
    lines.extend(causes.into_iter().map(|c| format!("- {c}")));
    Some(Detail {
        what: "prompt cache".to_owned(),
        lines,
    })
}

fn to_map(value: &impl serde::Serialize) -> BTreeMap<String, serde_json::Value> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}

fn changed_keys(
    a: &BTreeMap<String, serde_json::Value>,
    b: &BTreeMap<String, serde_json::Value>,
) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("`{k}`"))
        .collect()
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::Unchanged => return writeln!(f, "plan: nothing changes"),
            Verdict::Rejected(problems) => {
                writeln!(
                    f,
                    "plan: rejected: the files do not load, so a running clara keeps its configuration"
                )?;
                for problem in problems {
                    writeln!(f, "  {problem}")?;
                }
                return Ok(());
            }
            Verdict::AppliesLive | Verdict::NeedsRestart(_) => {}
        }
        for file in &self.files {
            // A reload applies all of an edit or none of it.
            let outcome = match &self.verdict {
                Verdict::NeedsRestart(_) if file.path == CLARA_FILE => "needs a restart",
                Verdict::NeedsRestart(_) => "waits for that restart",
                _ => "applies live",
            };
            writeln!(f, "{}: {}, {outcome}", file.path, file.how)?;
        }
        for detail in &self.details {
            writeln!(f, "  {}: {}", detail.what, detail.lines[0])?;
            for line in &detail.lines[1..] {
                writeln!(f, "    {line}")?;
            }
        }
        let count = match self.files.len() {
            1 => "1 file changes".to_owned(),
            n => format!("{n} files change"),
        };
        match &self.verdict {
            Verdict::NeedsRestart(reason) => writeln!(f, "plan: {count}; {reason}"),
            _ => writeln!(
                f,
                "plan: {count}; a running clara applies it on its next reload"
            ),
        }
    }
}
