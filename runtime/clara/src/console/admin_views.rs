//! The console's views of what clara is set up to do: the schedule and the hooks, and the
//! tools with their policies and the MCP servers behind some of them.

use chrono::{TimeZone, Utc};
use clara_config::model::hook::{Hook, MissedRuns, Task};

use super::html::{escape, post_button, table};
use crate::live::Live;
use crate::scheduler::schedule::Schedule;

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
            escape(&task_action(task)),
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
            vec![
                escape(&hook.name),
                escape(&events.join(", ")),
                if hook.enabled {
                    "yes".to_owned()
                } else {
                    "no".to_owned()
                },
                escape(&hook_action(hook)),
            ]
        })
        .collect();
    out.push_str(&table(
        "Hooks",
        &["hook", "on", "enabled", "does"],
        &hooks,
        "no hooks",
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
    let servers: Vec<Vec<String>> = live
        .mcp()
        .statuses()
        .into_iter()
        .map(|(name, state, count)| {
            vec![
                escape(&name),
                escape(&state),
                count.to_string(),
                post_button("/console/mcp/restart", csrf, &[("name", &name)], "Restart"),
            ]
        })
        .collect();
    out.push_str(&table(
        "MCP servers",
        &["server", "state", "tools", ""],
        &servers,
        "no MCP servers",
    ));
    out
}

fn task_action(task: &Task) -> String {
    match (&task.command, &task.webhook, &task.pipeline) {
        (Some(command), _, _) => format!("runs `{command}`"),
        (_, Some(webhook), _) => format!("posts to {}", webhook.url),
        (_, _, Some(pipeline)) => format!("runs the pipeline {pipeline}"),
        _ => "nothing".to_owned(),
    }
}

fn hook_action(hook: &Hook) -> String {
    match (&hook.command, &hook.webhook, &hook.pipeline) {
        (Some(command), _, _) => format!("runs `{command}`"),
        (_, Some(webhook), _) => format!("posts to {}", webhook.url),
        (_, _, Some(pipeline)) => format!("runs the pipeline {pipeline}"),
        _ => "nothing".to_owned(),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

fn time(at: i64) -> String {
    Utc.timestamp_millis_opt(at)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}
