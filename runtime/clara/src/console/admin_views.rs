//! The console's views of what clara is set up to do: the schedule and the hooks, and the
//! tools with their policies and the MCP servers behind some of them.

use chrono::Utc;
use clara_config::model::hook::{MissedRuns, Webhook};

use super::html::{escape, post_button, table, time};
use crate::hooks::actions::webhook_host;
use crate::live::Live;
use crate::scheduler::schedule::Schedule;

/// Hook runs listed at most.
const RECENT_HOOK_RUNS: usize = 30;

/// Every task with its schedule, next and last run and outcome; every hook with its events.
pub(super) async fn schedule(live: &Live) -> String {
    let generation = live.current();
    let config = &generation.config;
    let store = &generation.services.store;
    let timezone = config.clara.value.defaults.timezone.clone();
    let now = Utc::now().timestamp_millis();
    let mut rows = Vec::new();
    for task in config.hook_files.values().flat_map(|f| &f.value.tasks) {
        let run = store.task_run(&task.name).await.ok().flatten();
        let (when, next) = match Schedule::new(task, &timezone) {
            Ok(schedule) => {
                let last_due = run.as_ref().map(|r| r.last_due_at);
                let next = schedule
                    .next_due(last_due, now, now, MissedRuns::Skip)
                    .filter(|_| task.enabled);
                (schedule.describe(), next.map_or("–".to_owned(), time))
            }
            Err(error) => (error.to_string(), "–".to_owned()),
        };
        let (last, outcome) = match &run {
            Some(run) => (
                time(run.last_started_at),
                match (run.last_ok, &run.last_error, &run.running_by) {
                    (_, _, Some(node)) => format!("running on {node}"),
                    (Some(true), _, _) => "ok".to_owned(),
                    (Some(false), Some(error), _) => format!("failed: {error}"),
                    _ => "–".to_owned(),
                },
            ),
            None => ("never".to_owned(), "–".to_owned()),
        };
        rows.push(vec![
            escape(&task.name),
            escape(&when),
            if task.enabled {
                "yes".to_owned()
            } else {
                "no".to_owned()
            },
            escape(&next),
            escape(&last),
            escape(&outcome),
            escape(&action(
                task.command.as_deref(),
                task.webhook.as_ref(),
                task.pipeline.as_deref(),
            )),
        ]);
    }
    let mut out = String::from("<h1>Schedule and hooks</h1>");
    out.push_str(&table(
        "Tasks",
        &[
            "task", "when", "enabled", "next run", "last run", "outcome", "does",
        ],
        &rows,
        "no tasks",
    ));
    let hooks: Vec<Vec<String>> = config
        .hook_files
        .values()
        .flat_map(|f| &f.value.hooks)
        .map(|hook| {
            let events: Vec<&str> = hook
                .event
                .iter()
                .chain(&hook.on)
                .map(|e| e.as_str())
                .collect();
            let last = live.hook_runs().recent(Some(&hook.name), 1);
            vec![
                escape(&hook.name),
                escape(&events.join(", ")),
                if hook.enabled {
                    "yes".to_owned()
                } else {
                    "no".to_owned()
                },
                escape(&action(
                    hook.command.as_deref(),
                    hook.webhook.as_ref(),
                    hook.pipeline.as_deref(),
                )),
                last.first().map_or_else(
                    || "–".to_owned(),
                    |run| {
                        format!(
                            "{} {}",
                            if run.ok { "ok" } else { "failed" },
                            escape(&run.at.format("%H:%M:%S UTC").to_string())
                        )
                    },
                ),
            ]
        })
        .collect();
    out.push_str(&table(
        "Hooks",
        &["hook", "on", "enabled", "does", "last run"],
        &hooks,
        "no hooks",
    ));
    let runs: Vec<Vec<String>> = live
        .hook_runs()
        .recent(None, RECENT_HOOK_RUNS)
        .iter()
        .map(|run| {
            vec![
                escape(&run.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()),
                escape(&run.hook),
                escape(&run.event),
                format!("{} ms", run.ms),
                if run.ok {
                    "<span class=\"outcome-ok\">ok</span>".to_owned()
                } else {
                    "<span class=\"outcome-failed\">failed</span>".to_owned()
                },
                escape(&run.output),
            ]
        })
        .collect();
    out.push_str(&table(
        "Recent hook runs, newest first",
        &["finished", "hook", "event", "took", "outcome", "said"],
        &runs,
        "no hook has run since clara started",
    ));
    out
}

/// Every tool offered to the personas, with its policy; the MCP servers with their state and a
/// restart button.
pub(super) fn tools(live: &Live, csrf: &str) -> String {
    let generation = live.current();
    let services = &generation.services;
    let mut tools: Vec<_> = services.tools.clone();
    for source in &services.tool_sources {
        tools.extend(source.tools().iter().cloned());
    }
    tools.sort_by(|a, b| a.spec().name.cmp(&b.spec().name));
    let rows: Vec<Vec<String>> = tools
        .iter()
        .map(|tool| {
            let policy = tool.policy();
            let who = if policy.admin_only {
                "admins".to_owned()
            } else if policy.allowed_users.is_empty() {
                "everyone".to_owned()
            } else {
                policy.allowed_users.join(", ")
            };
            vec![
                format!("<code>{}</code>", escape(&tool.spec().name)),
                escape(&first_line(&tool.spec().description)),
                escape(&who),
                escape(&format!("{:?}", policy.approval).to_lowercase()),
            ]
        })
        .collect();
    let mut out = String::from("<h1>Tools and MCP</h1>");
    out.push_str(&table(
        "Tools",
        &["tool", "what it does", "who may use it", "approval"],
        &rows,
        "no tools",
    ));
    let running = live.mcp().statuses();
    let servers: Vec<Vec<String>> = crate::tools::mcp::manifests(&generation.config)
        .into_iter()
        .map(|manifest| {
            let name = manifest.name.as_str();
            let status = running.iter().find(|(n, _, _)| n == name);
            let (state, count) = match (manifest.enabled, status) {
                (false, _) => ("off".to_owned(), String::new()),
                (true, Some((_, state, count))) => (state.clone(), count.to_string()),
                (true, None) => ("on, not started".to_owned(), String::new()),
            };
            let mut actions = Vec::new();
            if status.is_some() {
                actions.push(post_button(
                    "/console/mcp/restart",
                    csrf,
                    &[("name", name)],
                    "Restart",
                ));
            }
            let (on, label) = if manifest.enabled {
                ("0", "Turn off")
            } else {
                ("1", "Turn on")
            };
            actions.push(post_button(
                "/console/mcp/enabled",
                csrf,
                &[("name", name), ("on", on)],
                label,
            ));
            vec![
                escape(name),
                if manifest.http { "HTTP" } else { "program" }.to_owned(),
                format!("<code>{}</code>", escape(&manifest.file)),
                escape(&state),
                count,
                actions.join(" "),
            ]
        })
        .collect();
    out.push_str(&table(
        "MCP servers",
        &["server", "reached as", "manifest", "state", "tools", ""],
        &servers,
        "no MCP servers",
    ));
    out
}

/// What a task or hook does.
fn action(command: Option<&str>, webhook: Option<&Webhook>, pipeline: Option<&str>) -> String {
    match (command, webhook, pipeline) {
        (Some(command), _, _) => format!("runs `{command}`"),
        (_, Some(webhook), _) => format!("posts to {}", webhook_host(&webhook.url)),
        (_, _, Some(pipeline)) => format!("runs the pipeline {pipeline}"),
        _ => "nothing".to_owned(),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}
