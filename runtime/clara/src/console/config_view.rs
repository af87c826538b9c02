//! The console's config page: the files the running configuration was built from, each with
//! its state, and what the files on disk would change (`clara plan`'s words), problems and all.

use std::sync::Arc;

use clara_config::plan::{Plan, Verdict};
use clara_config::set;

use super::html::{escape, facts, post_button, table};
use crate::live::Live;

/// Every running file with its kind, size and state; the pending edit; the warnings.
pub(super) async fn config(live: &Arc<Live>, csrf: &str) -> String {
    let generation = live.current();
    let set = &generation.config;
    let reloads = live.reloads();
    // Reading the whole root is file I/O and parsing: off the threads that serve turns.
    let reading = live.clone();
    let plan = tokio::task::spawn_blocking(move || reading.pending())
        .await
        .unwrap_or_else(|_| Plan {
            files: Vec::new(),
            verdict: Verdict::Rejected(vec!["reading the files on disk failed".to_owned()]),
            details: Vec::new(),
        });
    let problems = match &plan.verdict {
        Verdict::Rejected(problems) => problems.clone(),
        _ => Vec::new(),
    };
    let running = set.source_files();
    let mut rows: Vec<Vec<String>> = running
        .iter()
        .map(|(path, text)| {
            let here = |line: &&String| line.starts_with(&format!("{path}:"));
            let problems_here = problems.iter().filter(here).count();
            let change = plan.files.iter().find(|f| &f.path == path);
            let state = match (problems_here, change, &plan.verdict) {
                (0, _, Verdict::Rejected(_)) => {
                    "running; the files on disk do not load (see below)".to_owned()
                }
                (0, None, _) => "<span class=\"state-ready\">valid, running</span>".to_owned(),
                (0, Some(change), Verdict::NeedsRestart(_)) => {
                    format!("{} on disk, waits for a restart", change.how)
                }
                (0, Some(change), _) => format!("{} on disk, applies on reload", change.how),
                (n, _, _) => format!(
                    "<span class=\"state-failed\">{n} problem{} on disk</span>",
                    if n == 1 { "" } else { "s" }
                ),
            };
            let warnings = set.warnings.iter().filter(|w| &w.file == path).count();
            vec![
                format!("<code>{}</code>", escape(path)),
                kind(path).to_owned(),
                format!("{} lines", text.lines().count()),
                state,
                if warnings == 0 {
                    String::new()
                } else {
                    format!("{warnings} warning{}", if warnings == 1 { "" } else { "s" })
                },
            ]
        })
        .collect();
    for added in plan.files.iter().filter(|f| !running.contains_key(&f.path)) {
        let state = match plan.verdict {
            Verdict::NeedsRestart(_) => "added on disk, waits for a restart",
            _ => "added on disk, applies on reload",
        };
        rows.push(vec![
            format!("<code>{}</code>", escape(&added.path)),
            kind(&added.path).to_owned(),
            String::new(),
            state.to_owned(),
            String::new(),
        ]);
    }
    let mut out = String::from("<h1>Configuration</h1>");
    out.push_str(&facts(&[
        ("root", escape(&set.root.display().to_string())),
        (
            "running",
            format!(
                "generation {} since {}",
                reloads.generation,
                escape(
                    &reloads
                        .loaded_at
                        .format("%Y-%m-%d %H:%M:%S UTC")
                        .to_string()
                )
            ),
        ),
        ("files on disk", escape(verdict(&plan))),
    ]));
    out.push_str(&post_button(
        "/console/config/reload",
        csrf,
        &[],
        "Reload the files now",
    ));
    out.push_str(&table(
        "Files of the running configuration",
        &["file", "kind", "size", "state", ""],
        &rows,
        "no files",
    ));
    out.push_str(&format!(
        "<h2>Pending edits</h2><p>What <code>clara plan</code> says of the files on disk against the running configuration:</p><pre class=\"{}\">{}</pre>",
        if problems.is_empty() { "plan" } else { "problems" },
        escape(&plan.to_string())
    ));
    if !set.warnings.is_empty() {
        let lines: Vec<String> = set
            .warnings
            .iter()
            .map(|w| escape(&w.to_string()))
            .collect();
        out.push_str(&format!("<h2>Warnings</h2><pre>{}</pre>", lines.join("\n")));
    }
    out
}

fn verdict(plan: &Plan) -> &'static str {
    match plan.verdict {
        Verdict::Unchanged => "the same as the running configuration",
        Verdict::AppliesLive => "edited; the next reload applies them",
        Verdict::NeedsRestart(_) => "edited in a way that needs a restart",
        Verdict::Rejected(_) => "invalid; the running configuration stays",
    }
}

/// What a file in the root is, by the folder it lives in.
fn kind(path: &str) -> &'static str {
    let kinds = [
        (set::PERSONAS_DIR, "persona"),
        (set::PIPELINES_DIR, "pipeline"),
        (set::TOOLS_DIR, "tool"),
        (set::HOOKS_DIR, "hooks and tasks"),
        (set::EMAIL_PRESETS_DIR, "email rule preset"),
    ];
    if path == set::CLARA_FILE {
        return "settings";
    }
    kinds
        .iter()
        .find(|(dir, _)| {
            path.strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .map_or("file", |(_, kind)| kind)
}
