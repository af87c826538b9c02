//! Budgets: a cap on what model calls may spend (tokens or dollars) over a window, for each
//! user, conversation, persona, pipeline or everyone together, and what happens at the cap.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::Tier;

/// One budget, in `[budgets.NAME]` (every pipeline and background job) or a `budget` step's
/// `limits` (that pipeline's turns).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Whose calls count together: each `user`'s, each conversation's (`channel`), each
    /// `persona`'s, each `pipeline`'s, or `everyone`'s.
    #[serde(default)]
    pub per: BudgetScope,
    /// The window spending is counted over: one `turn`, or the current UTC `hour`, `day` or
    /// `month`.
    pub window: BudgetWindow,
    /// The cap in tokens: prompt, reply and prompt-cache tokens together.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub tokens: Option<u64>,
    /// The cap in US dollars, priced by `[pricing]` (an unpriced model counts as free).
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub dollars: Option<f64>,
    /// What a call that would pass the cap does: `warn` (it runs; a `budget:exceeded` event and
    /// a log line), `downgrade` (it runs on `downgrade`'s tier or provider) or `refuse` (it is
    /// not made; a user's turn gets the persona's `budget_reply`, their message still stored).
    #[serde(default)]
    pub action: BudgetAction,
    /// Where `action = "downgrade"` moves a call.
    #[serde(default)]
    pub downgrade: Option<Downgrade>,
    /// Which calls count and are capped: `turn`, `classifier`, `memory`, `summary`, `task`.
    /// Left out: all of them.
    #[serde(default)]
    pub calls: Vec<CallKind>,
    /// Only calls of these pipelines. Left out: every pipeline.
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// Only calls of pipelines that answer as these personas. Left out: every persona.
    #[serde(default)]
    pub personas: Vec<String>,
    /// A `budget:warning` event (once a window) when spending passes this share of the cap.
    #[serde(default = "default_warn_at")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub warn_at: f64,
    /// What a refused user is told; left out, the persona's `budget_reply`.
    #[serde(default)]
    pub reply: Option<String>,
}

/// Whose calls a budget counts together.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BudgetScope {
    /// Each user, across conversations (background memory work included).
    #[default]
    User,
    /// Each conversation, everyone in it.
    Channel,
    /// Each persona, across the pipelines that answer as it.
    Persona,
    /// Each pipeline.
    Pipeline,
    /// All calls together.
    Everyone,
}

/// The window a budget counts over.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BudgetWindow {
    /// The calls of one turn (or one background job).
    Turn,
    /// The current UTC hour.
    Hour,
    /// The current UTC day.
    Day,
    /// The current UTC calendar month.
    Month,
}

/// What a call that would pass a budget's cap does.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum BudgetAction {
    /// It runs; the overrun is an event and a log line.
    Warn,
    /// It runs on a cheaper tier or provider.
    Downgrade,
    /// It is not made.
    #[default]
    Refuse,
}

/// Where a downgraded call goes.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Downgrade {
    /// The tier the call moves to (a tool-bound call never runs on `low`: it takes the base
    /// model).
    #[serde(default)]
    pub tier: Option<Tier>,
    /// The provider the call moves to.
    #[serde(default)]
    pub provider: Option<String>,
}

/// What a model call is for, as budgets and the usage log name it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CallKind {
    /// Answering a user's message.
    Turn,
    /// Choosing a message's tier.
    Classifier,
    /// Extracting memories after a turn.
    Memory,
    /// Summarising a session that ended.
    Summary,
    /// A scheduled task or hook running a pipeline.
    Task,
}

impl CallKind {
    /// Every kind of call.
    pub const ALL: [CallKind; 5] = [
        CallKind::Turn,
        CallKind::Classifier,
        CallKind::Memory,
        CallKind::Summary,
        CallKind::Task,
    ];

    /// The name the usage log records.
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Turn => "turn",
            CallKind::Classifier => "classifier",
            CallKind::Memory => "memory",
            CallKind::Summary => "summary",
            CallKind::Task => "task",
        }
    }
}

fn default_warn_at() -> f64 {
    0.8
}

impl BudgetScope {
    /// The scope as written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetScope::User => "user",
            BudgetScope::Channel => "channel",
            BudgetScope::Persona => "persona",
            BudgetScope::Pipeline => "pipeline",
            BudgetScope::Everyone => "everyone",
        }
    }
}

impl BudgetWindow {
    /// The window as written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetWindow::Turn => "turn",
            BudgetWindow::Hour => "hour",
            BudgetWindow::Day => "day",
            BudgetWindow::Month => "month",
        }
    }

    /// The window holding `at` (Unix milliseconds) as `[start, end)`; `None` for `turn`,
    /// which has no clock bounds.
    pub fn bounds(self, at: i64) -> Option<(i64, i64)> {
        let t: DateTime<Utc> = DateTime::from_timestamp_millis(at)?;
        let hour = t.with_nanosecond(0)?.with_second(0)?.with_minute(0)?;
        let day = hour.with_hour(0)?;
        let (start, end) = match self {
            BudgetWindow::Turn => return None,
            BudgetWindow::Hour => (hour, hour + Duration::hours(1)),
            BudgetWindow::Day => (day, day + Duration::days(1)),
            BudgetWindow::Month => {
                let start = day.with_day(1)?;
                let (y, m) = if start.month() == 12 {
                    (start.year() + 1, 1)
                } else {
                    (start.year(), start.month() + 1)
                };
                (start, Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?)
            }
        };
        Some((start.timestamp_millis(), end.timestamp_millis()))
    }
}

impl BudgetAction {
    /// The action as written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetAction::Warn => "warn",
            BudgetAction::Downgrade => "downgrade",
            BudgetAction::Refuse => "refuse",
        }
    }
}

impl Budget {
    /// Whether calls for `kind` count against this budget.
    pub fn covers(&self, kind: &str) -> bool {
        self.calls.is_empty() || self.calls.iter().any(|c| c.as_str() == kind)
    }

    /// The cap in millionths of a dollar, the unit costs are kept in.
    pub fn dollars_micros(&self) -> Option<i64> {
        // Rounded: caps are whole cents in practice, and a float cap never needs sub-micro.
        self.dollars.map(|d| (d * 1_000_000.0).round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn windows_are_utc_calendar_periods() {
        let now = at("2026-12-31T17:42:05.250Z");
        assert_eq!(
            BudgetWindow::Hour.bounds(now),
            Some((at("2026-12-31T17:00:00Z"), at("2026-12-31T18:00:00Z")))
        );
        assert_eq!(
            BudgetWindow::Day.bounds(now),
            Some((at("2026-12-31T00:00:00Z"), at("2027-01-01T00:00:00Z")))
        );
        assert_eq!(
            BudgetWindow::Month.bounds(now),
            Some((at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z")))
        );
        assert_eq!(
            BudgetWindow::Month.bounds(at("2026-02-10T00:00:00Z")),
            Some((at("2026-02-01T00:00:00Z"), at("2026-03-01T00:00:00Z")))
        );
        assert_eq!(BudgetWindow::Turn.bounds(now), None);
    }
}
