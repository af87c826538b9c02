//! Pipeline checks: step order, references, templates, patterns, and that each adapter's
//! messages go to exactly one pipeline.

use std::collections::BTreeMap;

use crate::doc::Seg;
use crate::model::budget::CallKind;
use crate::model::common::regex_problem;
use crate::model::pipeline::{Pipeline, Trigger};
use crate::model::steps::Step;
use crate::path;
use crate::set::{Loaded, Partial, Source};

use super::clara::check_timezone;
use super::{Names, Report, budget, templates};

/// The adapters a message trigger can name.
pub(crate) const ADAPTERS: &[&str] = &["discord", "chat"];

pub(crate) fn check_all(set: &Partial<'_>, names: &Names, report: &mut Report<'_>) {
    let mut message_owner: BTreeMap<&str, &str> = BTreeMap::new();
    for pipeline in set.pipelines.values().flatten() {
        check(pipeline, names, report);
        claim_adapters(pipeline, &mut message_owner, report);
    }
    // A pipeline file that failed to load, or a trigger naming an unknown adapter (a typo),
    // may be what was meant to answer; that problem says what to fix first.
    let misnamed = set.pipelines.values().flatten().any(|p| {
        p.value.triggers.iter().any(|t| {
            matches!(t, Trigger::Message { adapters } if adapters.iter().any(|a| !ADAPTERS.contains(&a.as_str())))
        })
    });
    if !misnamed && set.pipelines.values().all(Option::is_some) {
        unanswered_adapters(set, &message_owner, report);
    }
}

/// An enabled adapter whose messages no pipeline answers would take every message and reply
/// to none.
fn unanswered_adapters(set: &Partial<'_>, owners: &BTreeMap<&str, &str>, report: &mut Report<'_>) {
    let Some(clara) = set.clara else {
        return;
    };
    let adapters = &clara.value.adapters;
    for (adapter, enabled) in [
        ("discord", adapters.discord.enabled),
        ("chat", adapters.chat.enabled),
    ] {
        if enabled && !owners.contains_key(adapter) {
            report.value(
                &clara.source,
                &path!["adapters", adapter, "enabled"],
                format!(
                    "the `{adapter}` adapter is enabled but no pipeline answers its messages: give a pipeline `triggers = [{{ type = \"message\" }}]` (or `adapters = [\"{adapter}\"]` on it), or set `enabled = false`"
                ),
            );
        }
    }
}

/// Step names are unique in a pipeline: queued work finds its step by name.
fn check_ids(source: &Source, pipeline: &Pipeline, report: &mut Report<'_>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, step) in pipeline.steps.iter().enumerate() {
        let id = step.id();
        let named = id != step.kind();
        if named && id.trim().is_empty() {
            report.value(
                source,
                &path!["steps", i, "id"],
                "a step's `id` cannot be empty",
            );
            continue;
        }
        if let Some(first) = seen.insert(id, i) {
            let (at, message) = if named {
                (
                    path!["steps", i, "id"],
                    format!(
                        "step {} already has the id `{id}`: step ids are unique in a pipeline",
                        first + 1
                    ),
                )
            } else {
                (
                    path!["steps", i, "type"],
                    format!(
                        "step {} is a `{id}` step too: give one of them an `id`, so work it queues can find it",
                        first + 1
                    ),
                )
            };
            report.value(source, &at, message);
        }
    }
}

fn check(pipeline: &Loaded<Pipeline>, names: &Names, report: &mut Report<'_>) {
    let source = &pipeline.source;
    let value = &pipeline.value;
    if let Some(persona) = &value.persona {
        report.reference(
            source,
            &path!["persona"],
            "persona",
            persona,
            &names.personas,
        );
    }
    check_order(source, value, report);
    check_ids(source, value, report);
    for (i, step) in value.steps.iter().enumerate() {
        let at = |field: &str| path!["steps", i, field];
        match step {
            Step::Ingest(_) => {}
            Step::RateLimit(limit) => {
                if limit.messages.is_none() && limit.tool_calls.is_none() {
                    report.key(
                        source,
                        &path!["steps", i],
                        "a `rate_limit` needs a limit: set `messages`, `tool_calls` or both",
                    );
                }
            }
            Step::Budget(step) => {
                for (name, limit) in &step.limits {
                    let at = path!["steps", i, "limits", name.as_str()];
                    budget::check(report, source, &at, limit, names);
                    if !limit.calls.is_empty() && limit.calls.iter().all(|c| *c == CallKind::Memory)
                    {
                        let calls = path!["steps", i, "limits", name.as_str(), "calls"];
                        report.value(source, &calls, "a `budget` step caps its pipeline's turns, not the memory work they queue: cap memory work in [budgets]");
                    }
                }
            }
            Step::BuildContext(ctx) => {
                if let Some(tz) = &ctx.timezone {
                    check_timezone(report, source, &at("timezone"), tz);
                }
                check_strftime(
                    report,
                    source,
                    &at("timestamp_format"),
                    &ctx.timestamp_format,
                );
                check_strftime(report, source, &at("now_format"), &ctx.now_format);
                templates::check_value(
                    report,
                    source,
                    &at("instructions_template"),
                    &ctx.instructions_template,
                );
                if let Some(background) = &ctx.background_template {
                    templates::check_value(report, source, &at("background_template"), background);
                }
                templates::check_value(
                    report,
                    source,
                    &at("context_template"),
                    &ctx.context_template,
                );
                templates::check_value(
                    report,
                    source,
                    &at("memories_template"),
                    &ctx.memories_template,
                );
            }
            Step::ClassifyTier(classify) => {
                templates::check_value(
                    report,
                    source,
                    &at("classifier_prompt"),
                    &classify.classifier_prompt,
                );
            }
            Step::LlmCall(call) => {
                if let Some(providers) = &names.providers {
                    if let Some(p) = &call.provider {
                        report.reference(source, &at("provider"), "provider", p, providers);
                    }
                    if let Some(p) = &call.tool_provider {
                        report.reference(source, &at("tool_provider"), "provider", p, providers);
                    }
                }
                if let Some(instruction) = &call.instruction {
                    templates::check_value(report, source, &at("instruction"), instruction);
                }
            }
            Step::ToolLoop(tools) => {
                for (j, pattern) in tools.tools.iter().enumerate() {
                    if !names.tool_pattern_known(pattern) {
                        report.reference(
                            source,
                            &path!["steps", i, "tools", j],
                            "tool",
                            pattern,
                            &names.tools,
                        );
                    }
                }
                templates::check_value(
                    report,
                    source,
                    &at("truncation_note"),
                    &tools.truncation_note,
                );
                for (j, pattern) in tools.auto_continue.patterns.iter().enumerate() {
                    if let Some(problem) = regex_problem(pattern) {
                        report.value(
                            source,
                            &path!["steps", i, "auto_continue", "patterns", j],
                            problem,
                        );
                    }
                }
            }
            Step::WriteMemory(write) => {
                templates::check_value(
                    report,
                    source,
                    &at("extraction_prompt"),
                    &write.extraction_prompt,
                );
                templates::check_value(
                    report,
                    source,
                    &at("reconcile_prompt"),
                    &write.reconcile_prompt,
                );
            }
        }
    }
    for (i, trigger) in value.triggers.iter().enumerate() {
        if let Trigger::Message { adapters } = trigger {
            for (j, adapter) in adapters.iter().enumerate() {
                report.reference(
                    source,
                    &path!["triggers", i, "adapters", j],
                    "adapter",
                    adapter,
                    ADAPTERS,
                );
            }
        }
    }
}

/// Rules that keep a turn meaningful: a user's message is stored (`ingest`) before any model
/// call, a tool loop follows a model call, and the tier is chosen before the model is called.
fn check_order(source: &Source, pipeline: &Pipeline, report: &mut Report<'_>) {
    let steps = &pipeline.steps;
    let position = |kind: &str| steps.iter().position(|s| s.kind() == kind);
    let first_call = position("llm_call");
    for (i, step) in steps.iter().enumerate() {
        let at = path!["steps", i, "type"];
        match step.kind() {
            "ingest" if i != 0 => report.value(source, &at, "`ingest` must be the first step"),
            "tool_loop" if first_call.is_none_or(|c| c > i) => report.value(
                source,
                &at,
                "`tool_loop` needs an `llm_call` step before it",
            ),
            "rate_limit" if position("ingest").is_none_or(|p| p > i) => report.value(
                source,
                &at,
                "`rate_limit` counts stored messages: put it after the `ingest` step",
            ),
            "budget" if position("ingest").is_none_or(|p| p > i) => report.value(
                source,
                &at,
                "`budget` may refuse a turn, and the message must be kept: put it after the `ingest` step",
            ),
            "budget" if first_call.is_some_and(|c| c < i) => report.value(
                source,
                &at,
                "`budget` caps the model calls after it: put it before the first `llm_call`",
            ),
            "classify_tier" if first_call.is_some_and(|c| c < i) => report.value(
                source,
                &at,
                "`classify_tier` must come before the first `llm_call`",
            ),
            _ => {}
        }
    }
    let answers_messages = pipeline
        .triggers
        .iter()
        .any(|t| matches!(t, Trigger::Message { .. }));
    if answers_messages && position("ingest") != Some(0) {
        report.key(source, &path!["steps"], "a pipeline triggered by messages must start with an `ingest` step, so the message is stored before any model call");
    }
}

/// Each adapter's messages must go to one pipeline; a second claim is reported.
fn claim_adapters<'a>(
    pipeline: &'a Loaded<Pipeline>,
    owners: &mut BTreeMap<&'a str, &'a str>,
    report: &mut Report<'_>,
) {
    for (i, trigger) in pipeline.value.triggers.iter().enumerate() {
        let Trigger::Message { adapters } = trigger else {
            continue;
        };
        let claimed: Vec<&str> = if adapters.is_empty() {
            ADAPTERS.to_vec()
        } else {
            adapters.iter().map(String::as_str).collect()
        };
        for adapter in claimed {
            if !ADAPTERS.contains(&adapter) {
                continue;
            }
            match owners.get(adapter) {
                Some(owner) if *owner != pipeline.name => {
                    let message = format!(
                        "messages from `{adapter}` already go to pipeline `{owner}`; give each adapter one message pipeline (set `adapters` on the triggers)"
                    );
                    report.value(&pipeline.source, &path!["triggers", i, "type"], message);
                }
                _ => {
                    owners.insert(adapter, &pipeline.name);
                }
            }
        }
    }
}

fn check_strftime(report: &mut Report<'_>, source: &Source, at: &[Seg], format: &str) {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        report.value(
            source,
            at,
            format!("invalid time format `{format}` (see strftime: %H, %M, %-I, %p, …)"),
        );
    }
}
