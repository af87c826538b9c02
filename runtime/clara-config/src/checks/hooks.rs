//! Hook and task checks: one action each, known pipelines and adapters, valid schedules,
//! unique names.

use std::collections::BTreeMap;

use chrono::DateTime;
use croner::parser::{CronParser, Seconds};

use crate::doc::Seg;
use crate::model::hook::{Delivery, HookFile, HookKind, TaskKind, Webhook};
use crate::path;
use crate::set::{Loaded, Partial, Source};

use super::clara::{check_timezone, is_http_url};
use super::pipeline::ADAPTERS;
use super::{Names, Report};

pub(crate) fn check_all(set: &Partial<'_>, names: &Names, report: &mut Report<'_>) {
    let mut hook_names: BTreeMap<String, String> = BTreeMap::new();
    let mut task_names: BTreeMap<String, String> = BTreeMap::new();
    for file in set.hook_files.values().flatten() {
        check(file, names, report, &mut hook_names, &mut task_names);
    }
}

fn check(
    file: &Loaded<HookFile>,
    names: &Names,
    report: &mut Report<'_>,
    hook_names: &mut BTreeMap<String, String>,
    task_names: &mut BTreeMap<String, String>,
) {
    let source = &file.source;
    for (i, hook) in file.value.hooks.iter().enumerate() {
        let base = |field: &str| path!["hooks", i, field];
        unique(
            report,
            source,
            &base("name"),
            "hook",
            &hook.name,
            hook_names,
        );
        match (&hook.event, hook.on.is_empty()) {
            (Some(_), false) => report.key(
                source,
                &base("event"),
                "set `on` (a list) or `event` (one), not both",
            ),
            (None, true) => report.key(
                source,
                &path!["hooks", i],
                "missing `on`: the events that fire this hook",
            ),
            _ => {}
        }
        if hook.kind == HookKind::Python {
            report.value(source, &base("type"), "python hooks are not supported by clara; use a shell `command`, a `webhook` or a `pipeline`");
        }
        Action {
            command: &hook.command,
            webhook: &hook.webhook,
            pipeline: &hook.pipeline,
            deliver: &hook.deliver,
        }
        .check(report, source, &path!["hooks", i], names);
    }
    for (i, task) in file.value.tasks.iter().enumerate() {
        let base = |field: &str| path!["tasks", i, field];
        unique(
            report,
            source,
            &base("name"),
            "task",
            &task.name,
            task_names,
        );
        let misplaced = |field: &str, used_by: &str| {
            format!("`{field}` is only used by tasks of type `{used_by}`")
        };
        match task.kind {
            TaskKind::Cron => match &task.cron {
                None => report.key(
                    source,
                    &path!["tasks", i],
                    "a `cron` task needs `cron`, e.g. `cron = \"0 9 * * 1-5\"`",
                ),
                Some(expr) => check_cron(report, source, &base("cron"), expr),
            },
            TaskKind::Interval if task.interval.is_none() => {
                report.key(
                    source,
                    &path!["tasks", i],
                    "an `interval` task needs `interval` (seconds between runs)",
                );
            }
            TaskKind::OneShot => {
                if let Some(at) = &task.run_at
                    && DateTime::parse_from_rfc3339(at).is_err()
                {
                    report.value(source, &base("run_at"), "expected an RFC 3339 time with an offset, like `2026-12-01T09:00:00+01:00`");
                }
            }
            TaskKind::Interval => {}
        }
        if task.kind != TaskKind::Cron {
            if task.cron.is_some() {
                report.key(source, &base("cron"), misplaced("cron", "cron"));
            }
            if task.timezone.is_some() {
                report.key(source, &base("timezone"), misplaced("timezone", "cron"));
            }
        }
        if task.kind != TaskKind::Interval && task.interval.is_some() {
            report.key(source, &base("interval"), misplaced("interval", "interval"));
        }
        if task.kind != TaskKind::OneShot && task.run_at.is_some() {
            report.key(source, &base("run_at"), misplaced("run_at", "one_shot"));
        }
        if let Some(tz) = &task.timezone {
            check_timezone(report, source, &base("timezone"), tz);
        }
        Action {
            command: &task.command,
            webhook: &task.webhook,
            pipeline: &task.pipeline,
            deliver: &task.deliver,
        }
        .check(report, source, &path!["tasks", i], names);
    }
}

/// What a hook or task does: exactly one of a command, a webhook or a pipeline.
struct Action<'a> {
    command: &'a Option<String>,
    webhook: &'a Option<Webhook>,
    pipeline: &'a Option<String>,
    deliver: &'a Option<Delivery>,
}

impl Action<'_> {
    fn check(&self, report: &mut Report<'_>, source: &Source, base: &[Seg], names: &Names) {
        let at = |tail: &[&str]| -> Vec<Seg> {
            base.iter()
                .cloned()
                .chain(tail.iter().map(|t| Seg::from(*t)))
                .collect()
        };
        let count = [
            self.command.is_some(),
            self.webhook.is_some(),
            self.pipeline.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if count == 0 {
            report.key(
                source,
                base,
                "nothing to do: set one of `command`, `webhook` or `pipeline`",
            );
        } else if count > 1 {
            report.key(
                source,
                base,
                "set only one of `command`, `webhook` or `pipeline`",
            );
        }
        if let Some(webhook) = self.webhook
            && !is_http_url(&webhook.url)
        {
            report.value(
                source,
                &at(&["webhook", "url"]),
                "expected an http:// or https:// URL",
            );
        }
        if let Some(pipeline) = self.pipeline {
            report.reference(
                source,
                &at(&["pipeline"]),
                "pipeline",
                pipeline,
                &names.pipelines,
            );
        }
        match self.deliver {
            Some(_) if self.pipeline.is_none() => report.key(
                source,
                &at(&["deliver"]),
                "`deliver` is only used with `pipeline`",
            ),
            Some(deliver) => {
                report.reference(
                    source,
                    &at(&["deliver", "adapter"]),
                    "adapter",
                    &deliver.adapter,
                    ADAPTERS,
                );
                if deliver.channel.is_some() == deliver.user.is_some() {
                    report.key(
                        source,
                        &at(&["deliver"]),
                        "`deliver` needs exactly one of `channel` or `user`",
                    );
                }
            }
            None => {}
        }
    }
}

fn unique(
    report: &mut Report<'_>,
    source: &Source,
    at: &[Seg],
    what: &str,
    name: &str,
    seen: &mut BTreeMap<String, String>,
) {
    match seen.get(name) {
        Some(first) => report.value(
            source,
            at,
            format!("duplicate {what} name `{name}`: also defined in {first}"),
        ),
        None => {
            seen.insert(name.to_owned(), source.rel.clone());
        }
    }
}

fn check_cron(report: &mut Report<'_>, source: &Source, at: &[Seg], expr: &str) {
    let parser = CronParser::builder().seconds(Seconds::Disallowed).build();
    let Err(err) = parser.parse(expr) else { return };
    let fields: Vec<&str> = expr.split_whitespace().collect();
    const NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    // croner does not say which field is wrong; try each alone to name it.
    let culprit = (fields.len() == 5)
        .then(|| {
            (0..5).find(|&i| {
                let probe: Vec<&str> = (0..5)
                    .map(|j| if j == i { fields[i] } else { "*" })
                    .collect();
                parser.parse(&probe.join(" ")).is_err()
            })
        })
        .flatten();
    let detail = err.to_string();
    let reason = detail
        .trim_start_matches("Component error: ")
        .trim_end_matches('.');
    let message = match culprit {
        Some(i) => format!(
            "invalid cron expression `{expr}`: the {} field `{}` is invalid: {}",
            NAMES[i],
            fields[i],
            reason.to_lowercase()
        ),
        None => format!("invalid cron expression `{expr}`: {reason}"),
    };
    report.value(source, at, message);
}
