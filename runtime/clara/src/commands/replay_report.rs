//! What `clara replay` says about a turn: what changed between the baseline and the root (tier,
//! tools offered and called, the system prompt, the other messages, the reply) or, with no
//! baseline, what the root did with the stored message.

use std::fmt::Write as _;

use clara_config::text_diff::changed_lines;
use clara_core::llm::{Message, Role};

use super::observe::{system_prompt, tools_offered};
use super::replay_model::Answer;
use super::replay_world::Seen;

/// One replayed turn, as printed.
pub struct TurnReport {
    /// Whether anything changed.
    pub changed: bool,
    /// The lines under the turn's heading.
    pub lines: Vec<String>,
}

/// Compares turn `turn`'s run in the baseline (when there is one) and in the root, and the
/// root's reply with the one the store recorded. `seen_diffs` holds the session's earlier
/// prompt diffs by turn, so one edit showing in every turn is printed once.
pub fn compare(
    turn: usize,
    baseline: Option<&Seen>,
    root: &Seen,
    recorded: &str,
    seen_diffs: &mut Vec<(usize, Vec<String>)>,
) -> TurnReport {
    let mut lines = Vec::new();
    let mut changed = false;
    match baseline {
        Some(base) => {
            if base.tier != root.tier {
                changed = true;
                lines.push(format!(
                    "tier: {} → {}",
                    tier_name(&base.tier),
                    tier_name(&root.tier)
                ));
            }
            let (before, after) = (first_offered(base), first_offered(root));
            let added: Vec<String> = after
                .iter()
                .filter(|t| !before.contains(t))
                .map(|t| format!("+{t}"))
                .collect();
            let removed: Vec<String> = before
                .iter()
                .filter(|t| !after.contains(t))
                .map(|t| format!("-{t}"))
                .collect();
            if !added.is_empty() || !removed.is_empty() {
                changed = true;
                lines.push(format!(
                    "tools offered: {}",
                    [removed, added].concat().join(" ")
                ));
            }
            let (old, new) = (first_prompt(base), first_prompt(root));
            if old != new {
                changed = true;
                let diff = changed_lines(&old, &new);
                match seen_diffs.iter().find(|(_, d)| *d == diff) {
                    Some((earlier, _)) => {
                        lines.push(format!("prompt: the same change as turn {earlier}"));
                    }
                    None => {
                        lines.push("prompt:".to_owned());
                        lines.extend(diff.iter().map(|l| format!("  {l}")));
                    }
                }
                seen_diffs.push((turn, diff));
            } else if other_messages(base) != other_messages(root) {
                changed = true;
                lines.push(
                    "prompt: the same system prompt, other messages differ (history, tool results)"
                        .to_owned(),
                );
            }
            if base.requests.len() != root.requests.len() {
                changed = true;
                lines.push(format!(
                    "model calls: {} → {}",
                    base.requests.len(),
                    root.requests.len()
                ));
            }
        }
        None => lines.push(format!(
            "tier: {} · {} model call{} · tools offered: {}",
            tier_name(&root.tier),
            root.requests.len(),
            if root.requests.len() == 1 { "" } else { "s" },
            match first_offered(root) {
                offered if offered.is_empty() => "none".to_owned(),
                offered => offered.join(", "),
            }
        )),
    }
    if !root.tools_called.is_empty() {
        lines.push(format!(
            "tools called (not run): {}",
            root.tools_called.join(", ")
        ));
    }
    let live = root.answers.contains(&Answer::Live);
    let anyway = root.answers.contains(&Answer::RecordedAnyway);
    if root.reply != recorded {
        changed = true;
        lines.push(format!("reply{}:", if live { " (live model)" } else { "" }));
        lines.extend(
            changed_lines(recorded, &root.reply)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    } else if live {
        lines.push("reply: the live model gave the recorded reply".to_owned());
    } else if anyway {
        lines.push(
            "reply: the recorded answer, though the request changed (--live asks the model)"
                .to_owned(),
        );
    }
    TurnReport { changed, lines }
}

/// The heading of a turn: its number and the start of the message.
pub fn heading(number: usize, text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut start: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        start.push('…');
    }
    format!("{number}. {start:?}")
}

/// A turn's report as indented text.
pub fn turn_text(number: usize, text: &str, report: &TurnReport, compared: bool) -> String {
    let mut out = String::new();
    let verdict = match (compared, report.changed) {
        (_, true) => " changed",
        (true, false) => " unchanged",
        (false, false) => "",
    };
    let _ = writeln!(out, "  {}{verdict}", heading(number, text));
    for line in &report.lines {
        let _ = writeln!(out, "      {line}");
    }
    out
}

fn tier_name(tier: &Option<String>) -> &str {
    tier.as_deref().unwrap_or("base model")
}

fn first_offered(seen: &Seen) -> Vec<String> {
    seen.requests.first().map(tools_offered).unwrap_or_default()
}

fn first_prompt(seen: &Seen) -> String {
    seen.requests.first().map(system_prompt).unwrap_or_default()
}

fn other_messages(seen: &Seen) -> Vec<String> {
    seen.requests
        .first()
        .map(|r| {
            r.messages
                .iter()
                .filter(|m| m.role != Role::System)
                .map(Message::text)
                .collect()
        })
        .unwrap_or_default()
}

/// A stored time as `2026-11-30 14:02 UTC`.
pub fn when(at: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at).map_or_else(
        || at.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}
