//! When a scheduled task falls due: a task's cron, interval or one-shot settings parsed once
//! into a [`Schedule`] that computes due times. Pure: no clock, no store, no timers.
//!
//! Cron follows Vixie cron (what `crontab(5)` users expect) where croner differs from it:
//! - Day of month and day of week: when both are restricted a day matching either fires; when
//!   either starts with `*` (as in `*/2`) a day must match both.
//! - Daylight saving: a *fixed-time* job (neither the minute nor the hour field starts with `*`)
//!   whose wall time falls in a spring-forward gap runs at the first real instant after the
//!   gap, and runs only once when a fall-back repeats its wall time. A *wildcard* job
//!   (`*/15 * * * *`, `0 * * * *`) follows real time instead: times in a gap do not exist, and
//!   a repeated hour runs twice.

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use clara_config::model::hook::{MissedRuns, Task, TaskKind};
use clara_core::store::Millis;
use croner::Cron;
use croner::errors::CronError;
use croner::parser::{CronParser, Seconds};

/// A day in milliseconds. No UTC offset is this large, so a day either side of a wall time
/// brackets the instants it could mean.
const DAY: Millis = 86_400_000;

/// Wall times a search may pass over before giving up: a fixed-time job can match every minute
/// of a repeated hour, all of which are skipped; nothing real needs more.
const MAX_CANDIDATES: usize = 10_000;

/// Why a task's schedule could not be built. Config validation reports each of these first,
/// so they only surface for config that bypassed it.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A field the task's type requires is not set.
    #[error("a `{kind}` task needs `{field}`")]
    Missing {
        /// The task type (`cron`, `interval`).
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// The cron expression does not parse as 5 POSIX fields.
    #[error("invalid cron expression `{expr}`: {source}")]
    Cron {
        /// The expression as written.
        expr: String,
        /// Why croner rejected it.
        source: CronError,
    },
    /// The time zone is not an IANA name.
    #[error("unknown time zone `{0}`; use an IANA name like `Europe/Berlin` or `UTC`")]
    TimeZone(String),
    /// `run_at` is not an RFC 3339 time.
    #[error(
        "invalid `run_at` `{value}`: expected an RFC 3339 time with an offset, like `2026-12-01T09:00:00+01:00`"
    )]
    RunAt {
        /// The value as written.
        value: String,
        /// Why it did not parse.
        source: chrono::ParseError,
    },
    /// A number of seconds is negative, zero where a period is needed, not finite, or too large.
    #[error("`{field}` must be {expected}, got {value}")]
    Seconds {
        /// The field (`interval`, `delay`).
        field: &'static str,
        /// The value as written.
        value: f64,
        /// What the field accepts.
        expected: &'static str,
    },
}

/// A parsed schedule, built once per task per config generation.
///
/// Due times are [`Millis`]. The scheduler claims each due time it runs in the store; that
/// claimed time is the `last_due` it passes back to [`Schedule::next_due`].
#[derive(Clone, Debug)]
pub struct Schedule {
    when: When,
}

#[derive(Clone, Debug)]
enum When {
    /// Boxed: a parsed cron is ten times the size of the other variants.
    Cron(Box<CronTimes>),
    /// Due every `every` ms, anchored on the previous due time.
    Interval {
        every: Millis,
        delay: Option<Millis>,
    },
    /// A one-shot at a fixed instant; `text` is `run_at` as written, for [`Schedule::describe`].
    At { at: Millis, text: String },
    /// A one-shot `delay` ms after each start.
    AfterStart { delay: Millis },
}

#[derive(Clone, Debug)]
struct CronTimes {
    cron: Cron,
    tz: Tz,
    /// Vixie cron's fixed-time job, which gets the daylight saving rules in the module docs.
    fixed_time: bool,
}

impl Schedule {
    /// Parses `task`'s schedule. `default_timezone` (clara.toml's `defaults.timezone`) applies
    /// to a cron task without its own `timezone`; other task types ignore time zones.
    ///
    /// A `one_shot` with both `run_at` and `delay` uses `run_at`; with neither it is due at
    /// start-up (a `delay` of 0).
    pub fn new(task: &Task, default_timezone: &str) -> Result<Schedule, ScheduleError> {
        let when = match task.kind {
            TaskKind::Cron => {
                let expr = task.cron.as_deref().ok_or(ScheduleError::Missing {
                    kind: "cron",
                    field: "cron",
                })?;
                let zone = task.timezone.as_deref().unwrap_or(default_timezone);
                let tz = zone
                    .parse::<Tz>()
                    .map_err(|_| ScheduleError::TimeZone(zone.to_owned()))?;
                When::Cron(Box::new(CronTimes::parse(expr, tz)?))
            }
            TaskKind::Interval => {
                let every = task.interval.ok_or(ScheduleError::Missing {
                    kind: "interval",
                    field: "interval",
                })?;
                When::Interval {
                    every: millis("interval", every, true)?,
                    delay: task.delay.map(|d| millis("delay", d, false)).transpose()?,
                }
            }
            TaskKind::OneShot => match &task.run_at {
                Some(text) => {
                    let at = DateTime::parse_from_rfc3339(text).map_err(|source| {
                        ScheduleError::RunAt {
                            value: text.clone(),
                            source,
                        }
                    })?;
                    When::At {
                        at: at.timestamp_millis(),
                        text: text.clone(),
                    }
                }
                None => When::AfterStart {
                    delay: millis("delay", task.delay.unwrap_or(0.0), false)?,
                },
            },
        };
        Ok(Schedule { when })
    }

    /// The due time that follows `prev`, a due time of this task: the first cron occurrence
    /// strictly after it, `prev + interval` (the grid is anchored on due times, so it does not
    /// drift with how long runs take), or `run_at` if that is later than `prev`. None when there
    /// is no such time: a one-shot that is used up, or a cron expression that never matches
    /// again (`0 0 30 2 *`).
    ///
    /// A one-shot after `delay` is due once per start, which needs the start time: it has no
    /// time after `prev` here; [`Schedule::next_due`] handles it.
    pub fn next_after(&self, prev: Millis) -> Option<Millis> {
        match &self.when {
            When::Cron(cron) => cron.next_after(prev),
            When::Interval { every, .. } => prev.checked_add(*every),
            When::At { at, .. } => (*at > prev).then_some(*at),
            When::AfterStart { .. } => None,
        }
    }

    /// When the task is next due, or None if it never is again.
    ///
    /// `last_due` is the last due time claimed in the store (None if the task never ran),
    /// `started` when this process started watching the task (keep it across config reloads
    /// that keep the task), and `now` the current time.
    ///
    /// The natural next time is:
    /// - never ran: a cron task's first occurrence at or after `started`; an interval task's
    ///   first whole multiple of its interval since the Unix epoch at or after
    ///   `started + delay` (every 3600 s is at the top of each UTC hour), so instances agree on
    ///   it; a one-shot's `run_at`, or `started + delay`.
    /// - ran before: [`Schedule::next_after`]`(last_due)`, except that a one-shot after `delay`
    ///   is due again at `started + delay` when its last run was before that (it runs once per
    ///   start, as in MyPalClara).
    ///
    /// A natural time before `now` was missed (clara was down, the machine slept, or a run
    /// overran the next due time). `missed` decides what happens then:
    /// - [`MissedRuns::Skip`]: the first time at or after `now` on the task's own grid (cron
    ///   occurrences, or the interval grid anchored on `last_due`); a one-shot is dropped
    ///   (None), including one whose `run_at` had passed before it was ever watched.
    /// - [`MissedRuns::RunOnce`]: the latest missed due time, at once, however many were
    ///   missed; the schedule continues after it.
    ///
    /// Call this to plan a run, not when its timer fires: by then `now` is past the planned
    /// time, and asking again would count the run as missed.
    pub fn next_due(
        &self,
        last_due: Option<Millis>,
        started: Millis,
        now: Millis,
        missed: MissedRuns,
    ) -> Option<Millis> {
        let due = match last_due {
            None => self.first(started)?,
            Some(last) => match &self.when {
                When::AfterStart { delay } => {
                    let at = started.checked_add(*delay)?;
                    (at > last).then_some(at)?
                }
                _ => self.next_after(last)?,
            },
        };
        if due >= now {
            return Some(due);
        }
        match missed {
            MissedRuns::RunOnce => Some(self.latest_missed(due, now)),
            MissedRuns::Skip => self.catch_up(due, now),
        }
    }

    /// A line for logs and listings: `At 09:00, on Monday, …, and Friday (Europe/Berlin)`,
    /// `every 30 s`, `once at 2026-12-01T09:00:00+01:00`.
    pub fn describe(&self) -> String {
        match &self.when {
            When::Cron(c) => {
                let what = c.cron.describe();
                format!("{} ({})", what.trim_end_matches('.'), c.tz.name())
            }
            When::Interval { every, delay } => match delay {
                None => format!("every {}", duration(*every)),
                Some(0) => format!("every {}, first at start-up", duration(*every)),
                Some(d) => format!(
                    "every {}, first {} after start-up",
                    duration(*every),
                    duration(*d)
                ),
            },
            When::At { text, .. } => format!("once at {text}"),
            When::AfterStart { delay: 0 } => "once at start-up".to_owned(),
            When::AfterStart { delay } => format!("once, {} after start-up", duration(*delay)),
        }
    }

    /// The first due time of a task that never ran.
    fn first(&self, started: Millis) -> Option<Millis> {
        match &self.when {
            // `started` itself counts: a task watched from 09:00:00.000 is due at 09:00.
            When::Cron(cron) => cron.next_after(started.checked_sub(1)?),
            // On the grid of whole intervals since the Unix epoch, so every instance sharing a
            // database computes the same due times and claims each once.
            When::Interval { every, delay } => {
                let earliest = started.checked_add(delay.unwrap_or(0))?;
                let steps =
                    earliest.div_euclid(*every) + Millis::from(earliest.rem_euclid(*every) != 0);
                steps.checked_mul(*every)
            }
            When::At { at, .. } => Some(*at),
            When::AfterStart { delay } => started.checked_add(*delay),
        }
    }

    /// The last due time at or before `now`, counting from `missed` (a due time before `now`):
    /// the one catch-up run of [`MissedRuns::RunOnce`]. A due time of the schedule rather than
    /// `now`, so instances catching up together claim the same run.
    fn latest_missed(&self, missed: Millis, now: Millis) -> Millis {
        let mut latest = missed;
        // A cron that fires every minute passes half a million times in a year of downtime;
        // beyond that bound the earliest missed time is as good a choice.
        for _ in 0..1_000_000 {
            match self.next_after(latest) {
                Some(next) if next <= now => latest = next,
                _ => break,
            }
        }
        latest
    }

    /// The first time at or after `now` on the grid that `missed` (a due time before `now`) is
    /// on; None for a one-shot, which has nothing left to wait for.
    fn catch_up(&self, missed: Millis, now: Millis) -> Option<Millis> {
        match &self.when {
            When::Cron(cron) => cron.next_after(now.checked_sub(1)?),
            When::Interval { every, .. } => {
                let behind = now.checked_sub(missed)?;
                let steps = behind / every + Millis::from(behind % every != 0);
                missed.checked_add(steps.checked_mul(*every)?)
            }
            When::At { .. } | When::AfterStart { .. } => None,
        }
    }
}

impl CronTimes {
    fn parse(expr: &str, tz: Tz) -> Result<CronTimes, ScheduleError> {
        let parse = |dom_and_dow: bool| {
            CronParser::builder()
                .seconds(Seconds::Disallowed)
                .dom_and_dow(dom_and_dow)
                .build()
                .parse(expr)
                .map_err(|source| ScheduleError::Cron {
                    expr: expr.to_owned(),
                    source,
                })
        };
        let cron = parse(false)?;
        // The stored pattern has nicknames (`@daily`) expanded, so its fields are the real ones.
        let fields: Vec<&str> = cron.pattern.as_str().split_whitespace().collect();
        let starred = |i: usize| fields.get(i).is_some_and(|f| f.starts_with('*'));
        let fixed_time = !(starred(0) || starred(1));
        // croner ORs day of month with day of week unless either is exactly `*`; Vixie cron
        // ANDs them whenever either starts with `*`, so `*/2` in one field narrows the other.
        let both_days = starred(2) || starred(4);
        let cron = if both_days { parse(true)? } else { cron };
        Ok(CronTimes {
            fixed_time,
            cron,
            tz,
        })
    }

    /// The first occurrence strictly after `after`.
    fn next_after(&self, after: Millis) -> Option<Millis> {
        let from = DateTime::from_timestamp_millis(after)?.with_timezone(&self.tz);
        if !self.fixed_time {
            // croner walks real time for its wildcard ("interval") jobs, which is what Vixie
            // does for wildcard jobs too; every Vixie wildcard job is one of croner's.
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            return Some(next.timestamp_millis()).filter(|&t| t > after);
        }
        // croner's own fixed-time handling covers only single-value fields (`30 2`), not lists
        // or ranges (`30 1,2`), so search wall times and pick the instant ourselves.
        let mut wall = from.naive_local();
        let mut inclusive = true;
        for _ in 0..MAX_CANDIDATES {
            let candidate = self.cron.find_next_occurrence(&wall, inclusive).ok()?;
            // Instants grow with wall times here (a repeated time means its earlier instant, a
            // skipped one the end of the gap), so the first one past `after` is the answer.
            if let Some(at) = self.fixed_instant(candidate)
                && at > after
            {
                return Some(at);
            }
            wall = candidate;
            inclusive = false;
        }
        None
    }

    /// When a fixed-time job whose wall time is `wall` runs.
    fn fixed_instant(&self, wall: NaiveDateTime) -> Option<Millis> {
        match self.tz.from_local_datetime(&wall) {
            LocalResult::Single(at) => Some(at.timestamp_millis()),
            LocalResult::Ambiguous(earlier, _) => Some(earlier.timestamp_millis()),
            LocalResult::None => gap_end(self.tz, wall),
        }
    }
}

/// The first instant after the spring-forward gap that the nonexistent `wall` time is in.
fn gap_end(tz: Tz, wall: NaiveDateTime) -> Option<Millis> {
    let as_utc = wall.and_utc().timestamp_millis();
    let offset_at = |t: Millis| -> Option<Millis> {
        let utc = DateTime::<Utc>::from_timestamp_millis(t)?.naive_utc();
        Some(Millis::from(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()) * 1000)
    };
    let local = |t: Millis| -> Option<NaiveDateTime> {
        Some(
            DateTime::<Utc>::from_timestamp_millis(t)?
                .with_timezone(&tz)
                .naive_local(),
        )
    };
    // `wall` read with the offset after the gap is an instant before it, read with the one
    // before the gap an instant after it. Between them local time runs from before `wall` to
    // after it, jumping once, at the gap's end.
    let mut before = as_utc.checked_sub(offset_at(as_utc.checked_add(DAY)?)?)?;
    let mut after = as_utc.checked_sub(offset_at(as_utc.checked_sub(DAY)?)?)?;
    if !(local(before)? < wall && local(after)? > wall) {
        return None;
    }
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if local(mid)? > wall {
            after = mid;
        } else {
            before = mid;
        }
    }
    Some(after)
}

/// `seconds` of config as milliseconds; a period (`positive`) must be at least 1 ms.
fn millis(field: &'static str, seconds: f64, positive: bool) -> Result<Millis, ScheduleError> {
    let ms = (seconds * 1000.0).round();
    // `as` would saturate huge values silently; half the range leaves room to add the result
    // to a time.
    let fits = ms.is_finite() && ms >= 0.0 && ms < Millis::MAX as f64 / 2.0;
    if !fits || (positive && ms < 1.0) {
        return Err(ScheduleError::Seconds {
            field,
            value: seconds,
            expected: if positive {
                "at least 0.001 seconds"
            } else {
                "0 seconds or more"
            },
        });
    }
    Ok(ms as Millis)
}

/// `ms` in the largest unit that divides it: `2 h`, `5 min`, `30 s`, `1.5 s`.
fn duration(ms: Millis) -> String {
    match ms {
        0 => "0 s".to_owned(),
        _ if ms % 3_600_000 == 0 => format!("{} h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{} min", ms / 60_000),
        _ => format!("{} s", ms as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests;
