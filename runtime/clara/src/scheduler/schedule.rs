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
mod tests {
    use super::*;

    fn task(toml_text: &str) -> Task {
        toml::from_str(&format!("name = \"t\"\ncommand = \"true\"\n{toml_text}")).unwrap()
    }

    fn cron_in(expr: &str, zone: &str) -> Schedule {
        let t = task(&format!(
            "type = \"cron\"\ncron = \"{expr}\"\ntimezone = \"{zone}\""
        ));
        Schedule::new(&t, "UTC").unwrap()
    }

    fn at(rfc3339: &str) -> Millis {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn show(ms: Millis) -> String {
        DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    }

    /// The next `n` due times after `from`, as UTC RFC 3339 strings.
    fn run(schedule: &Schedule, from: &str, n: usize) -> Vec<String> {
        let mut t = at(from);
        (0..n)
            .map(|_| {
                t = schedule.next_after(t).unwrap();
                show(t)
            })
            .collect()
    }

    fn z(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| show(at(s))).collect()
    }

    #[test]
    fn weekdays_one_to_five_are_monday_to_friday() {
        // 2026-06-13 is a Saturday; Berlin is on CEST (+02:00).
        let s = cron_in("0 9 * * 1-5", "Europe/Berlin");
        assert_eq!(
            run(&s, "2026-06-13T12:00:00+02:00", 6),
            z(&[
                "2026-06-15T09:00:00+02:00",
                "2026-06-16T09:00:00+02:00",
                "2026-06-17T09:00:00+02:00",
                "2026-06-18T09:00:00+02:00",
                "2026-06-19T09:00:00+02:00",
                "2026-06-22T09:00:00+02:00",
            ])
        );
    }

    #[test]
    fn zero_and_seven_are_sunday() {
        // 2026-06-14 is a Sunday, 2026-06-15 a Monday.
        for dow in ["0", "7", "SUN"] {
            let s = cron_in(&format!("0 9 * * {dow}"), "UTC");
            assert_eq!(
                run(&s, "2026-06-10T00:00:00Z", 2),
                z(&["2026-06-14T09:00:00Z", "2026-06-21T09:00:00Z"]),
                "{dow}"
            );
        }
        let monday = cron_in("0 9 * * 1", "UTC");
        assert_eq!(
            run(&monday, "2026-06-10T00:00:00Z", 1),
            z(&["2026-06-15T09:00:00Z"])
        );
    }

    #[test]
    fn step_values() {
        let quarter = cron_in("*/15 * * * *", "UTC");
        assert_eq!(
            run(&quarter, "2026-06-10T10:07:00Z", 4),
            z(&[
                "2026-06-10T10:15:00Z",
                "2026-06-10T10:30:00Z",
                "2026-06-10T10:45:00Z",
                "2026-06-10T11:00:00Z",
            ])
        );
        let ranged = cron_in("0-30/10 * * * *", "UTC");
        assert_eq!(
            run(&ranged, "2026-06-10T10:00:00Z", 4),
            z(&[
                "2026-06-10T10:10:00Z",
                "2026-06-10T10:20:00Z",
                "2026-06-10T10:30:00Z",
                "2026-06-10T11:00:00Z",
            ])
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // April 2026: Fridays are the 3rd, 10th, 17th and 24th; the 13th is a Monday.
        let s = cron_in("0 9 13 * 5", "UTC");
        assert_eq!(
            run(&s, "2026-04-01T00:00:00Z", 5),
            z(&[
                "2026-04-03T09:00:00Z",
                "2026-04-10T09:00:00Z",
                "2026-04-13T09:00:00Z",
                "2026-04-17T09:00:00Z",
                "2026-04-24T09:00:00Z",
            ])
        );
    }

    #[test]
    fn starred_day_field_means_both_must_match() {
        // Vixie cron: `*/2` (odd days) with Friday is the Fridays on odd days.
        let s = cron_in("0 9 */2 * 5", "UTC");
        assert_eq!(
            run(&s, "2026-04-01T00:00:00Z", 4),
            z(&[
                "2026-04-03T09:00:00Z",
                "2026-04-17T09:00:00Z",
                "2026-05-01T09:00:00Z",
                "2026-05-15T09:00:00Z",
            ])
        );
    }

    #[test]
    fn spring_forward_runs_at_the_end_of_the_gap() {
        // New York skips 02:00-03:00 EST on 2026-03-08: 02:30 runs at 03:00 EDT (07:00Z).
        let s = cron_in("30 2 * * *", "America/New_York");
        assert_eq!(
            run(&s, "2026-03-07T12:00:00-05:00", 3),
            z(&[
                "2026-03-08T07:00:00Z",
                "2026-03-09T06:30:00Z",
                "2026-03-10T06:30:00Z",
            ])
        );
        // Berlin skips 02:00-03:00 CET on 2026-03-29: 02:30 runs at 03:00 CEST (01:00Z).
        let s = cron_in("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            run(&s, "2026-03-28T12:00:00+01:00", 3),
            z(&[
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-31T00:30:00Z",
            ])
        );
    }

    #[test]
    fn spring_forward_with_a_list_of_hours() {
        // A list is still a fixed-time job: its 02:30 runs at the end of the gap, once, though
        // croner alone would skip it.
        let s = cron_in("30 1,2 * * *", "America/New_York");
        assert_eq!(
            run(&s, "2026-03-08T00:00:00-05:00", 3),
            z(&[
                "2026-03-08T06:30:00Z",
                "2026-03-08T07:00:00Z",
                "2026-03-09T05:30:00Z",
            ])
        );
        // Two wall times in one gap run once, at its end.
        let s = cron_in("0,30 2 * * *", "Europe/Berlin");
        assert_eq!(
            run(&s, "2026-03-29T00:00:00+01:00", 2),
            z(&["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"])
        );
    }

    #[test]
    fn fall_back_runs_once() {
        // New York repeats 01:00-02:00 on 2026-11-01 (EDT, then EST): 01:30 runs at 01:30 EDT.
        let s = cron_in("30 1 * * *", "America/New_York");
        assert_eq!(
            run(&s, "2026-10-31T12:00:00-04:00", 2),
            z(&["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
        );
        // From inside the repeated hour's second pass, the next run is the next day.
        assert_eq!(
            run(&s, "2026-11-01T01:00:00-05:00", 1),
            z(&["2026-11-02T06:30:00Z"])
        );
        // Berlin repeats 02:00-03:00 on 2026-10-25 (CEST, then CET).
        let s = cron_in("30 2 * * *", "Europe/Berlin");
        assert_eq!(
            run(&s, "2026-10-24T12:00:00+02:00", 2),
            z(&["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
        );
        // A list of hours is a fixed-time job too.
        let s = cron_in("0 1,13 * * *", "America/New_York");
        assert_eq!(
            run(&s, "2026-11-01T00:00:00-04:00", 2),
            z(&["2026-11-01T05:00:00Z", "2026-11-01T18:00:00Z"])
        );
    }

    #[test]
    fn wildcard_jobs_follow_real_time_across_daylight_saving() {
        let hourly = cron_in("0 * * * *", "America/New_York");
        // Fall back: 01:00 EDT, 01:00 EST, 02:00 EST, an hour apart each.
        assert_eq!(
            run(&hourly, "2026-11-01T04:30:00Z", 3),
            z(&[
                "2026-11-01T05:00:00Z",
                "2026-11-01T06:00:00Z",
                "2026-11-01T07:00:00Z",
            ])
        );
        // Spring forward: 01:00 EST, then 03:00 EDT an hour later.
        assert_eq!(
            run(&hourly, "2026-03-08T05:30:00Z", 2),
            z(&["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"])
        );
    }

    #[test]
    fn time_zones() {
        let tokyo = cron_in("0 9 * * *", "Asia/Tokyo");
        assert_eq!(
            run(&tokyo, "2026-06-10T12:00:00Z", 1),
            z(&["2026-06-11T00:00:00Z"])
        );
        // Without its own zone a task uses the default; its own zone wins over the default.
        let t = task("type = \"cron\"\ncron = \"0 9 * * *\"");
        let s = Schedule::new(&t, "Asia/Tokyo").unwrap();
        assert_eq!(
            run(&s, "2026-06-10T12:00:00Z", 1),
            z(&["2026-06-11T00:00:00Z"])
        );
        let t = task("type = \"cron\"\ncron = \"0 9 * * *\"\ntimezone = \"UTC\"");
        let s = Schedule::new(&t, "Asia/Tokyo").unwrap();
        assert_eq!(
            run(&s, "2026-06-10T12:00:00Z", 1),
            z(&["2026-06-11T09:00:00Z"])
        );
    }

    #[test]
    fn cron_is_strictly_after_and_on_whole_minutes() {
        let s = cron_in("0 9 * * *", "UTC");
        assert_eq!(
            run(&s, "2026-06-10T09:00:00Z", 1),
            z(&["2026-06-11T09:00:00Z"])
        );
        assert_eq!(
            run(&s, "2026-06-10T08:59:59.500Z", 1),
            z(&["2026-06-10T09:00:00Z"])
        );
        assert_eq!(
            run(&s, "2026-06-10T09:00:00.500Z", 1),
            z(&["2026-06-11T09:00:00Z"])
        );
        let every = cron_in("* * * * *", "UTC");
        assert_eq!(
            run(&every, "2026-06-10T09:00:00.500Z", 1),
            z(&["2026-06-10T09:01:00Z"])
        );
    }

    #[test]
    fn cron_first_run_and_missed_runs() {
        let s = cron_in("0 * * * *", "UTC");
        let (started, now) = (at("2026-06-10T10:20:00Z"), at("2026-06-10T10:20:00Z"));
        assert_eq!(
            s.next_due(None, started, now, MissedRuns::Skip),
            Some(at("2026-06-10T11:00:00Z"))
        );
        // Watched from exactly an occurrence: that occurrence counts.
        let on_the_hour = at("2026-06-10T10:00:00Z");
        assert_eq!(
            s.next_due(None, on_the_hour, on_the_hour, MissedRuns::Skip),
            Some(on_the_hour)
        );
        // Down from 10:00 to 13:20: 11:00, 12:00 and 13:00 were missed.
        let last = Some(at("2026-06-10T10:00:00Z"));
        let (started, now) = (at("2026-06-10T13:20:00Z"), at("2026-06-10T13:20:00Z"));
        assert_eq!(
            s.next_due(last, started, now, MissedRuns::Skip),
            Some(at("2026-06-10T14:00:00Z"))
        );
        // RunOnce: the latest missed occurrence, 13:00, runs at once.
        assert_eq!(
            s.next_due(last, started, now, MissedRuns::RunOnce),
            Some(at("2026-06-10T13:00:00Z"))
        );
        // After that one run, the schedule carries on from it.
        assert_eq!(
            s.next_due(
                Some(at("2026-06-10T13:00:00Z")),
                started,
                now + 5_000,
                MissedRuns::RunOnce
            ),
            Some(at("2026-06-10T14:00:00Z"))
        );
        // Nothing missed: the next occurrence after the last run.
        assert_eq!(
            s.next_due(
                last,
                started,
                at("2026-06-10T10:00:01Z"),
                MissedRuns::RunOnce
            ),
            Some(at("2026-06-10T11:00:00Z"))
        );
    }

    #[test]
    fn interval_is_anchored_on_due_times() {
        let t = task("interval = 60");
        let s = Schedule::new(&t, "UTC").unwrap();
        let start = at("2026-06-10T10:00:00Z");
        // Never ran, no delay: the first whole minute (since the epoch) at or after start.
        assert_eq!(
            s.next_due(None, start, start, MissedRuns::Skip),
            Some(start)
        );
        assert_eq!(
            s.next_due(None, start + 1, start + 1, MissedRuns::Skip),
            Some(start + 60_000)
        );
        // A run due at 10:01 that took 5 s: the next is due at 10:02, not 10:02:05.
        let due = start + 60_000;
        assert_eq!(
            s.next_due(Some(due), start, due + 5_000, MissedRuns::Skip),
            Some(due + 60_000)
        );
        // A fractional interval stays on its grid.
        let s = Schedule::new(&task("interval = 1.5"), "UTC").unwrap();
        assert_eq!(s.next_after(start), Some(start + 1_500));
        assert_eq!(s.next_after(start + 1_500), Some(start + 3_000));
        // With a delay, the first run is on the first grid point after the delay.
        let s = Schedule::new(&task("interval = 60\ndelay = 10"), "UTC").unwrap();
        assert_eq!(
            s.next_due(None, start, start, MissedRuns::Skip),
            Some(start + 60_000)
        );
        // The delay is only for the first run.
        assert_eq!(
            s.next_due(
                Some(start + 60_000),
                start,
                start + 60_001,
                MissedRuns::Skip
            ),
            Some(start + 120_000)
        );
    }

    #[test]
    fn interval_missed_runs() {
        let s = Schedule::new(&task("interval = 60"), "UTC").unwrap();
        let last = at("2026-06-10T10:00:00Z");
        // Down for 3.5 intervals: 10:01, 10:02 and 10:03 were missed.
        let now = last + 210_000;
        assert_eq!(
            s.next_due(Some(last), now, now, MissedRuns::Skip),
            Some(last + 240_000)
        );
        // RunOnce: the latest missed run, 10:03, at once.
        assert_eq!(
            s.next_due(Some(last), now, now, MissedRuns::RunOnce),
            Some(last + 180_000)
        );
        // Then the grid carries on.
        assert_eq!(
            s.next_due(Some(last + 180_000), now, now + 1, MissedRuns::RunOnce),
            Some(last + 240_000)
        );
        // Exactly on a grid point is not missed.
        let now = last + 180_000;
        assert_eq!(
            s.next_due(Some(last), now, now, MissedRuns::Skip),
            Some(now)
        );
    }

    #[test]
    fn one_shot_at_run_at() {
        let s = Schedule::new(
            &task("type = \"one_shot\"\nrun_at = \"2026-12-01T09:00:00+01:00\""),
            "UTC",
        )
        .unwrap();
        let run_at = at("2026-12-01T08:00:00Z");
        let before = at("2026-11-30T00:00:00Z");
        assert_eq!(
            s.next_due(None, before, before, MissedRuns::Skip),
            Some(run_at)
        );
        // Used up once it ran.
        assert_eq!(
            s.next_due(Some(run_at), before, run_at + 1, MissedRuns::RunOnce),
            None
        );
        assert_eq!(s.next_after(run_at), None);
        // Passed while clara was down.
        let late = at("2026-12-02T00:00:00Z");
        assert_eq!(s.next_due(None, late, late, MissedRuns::Skip), None);
        assert_eq!(
            s.next_due(None, late, late, MissedRuns::RunOnce),
            Some(run_at)
        );
        // The catch-up run uses it up.
        assert_eq!(
            s.next_due(Some(late), late, late + 1, MissedRuns::RunOnce),
            None
        );
        // Moved to a later time after it ran: due again.
        assert_eq!(
            s.next_due(Some(before), before, before, MissedRuns::Skip),
            Some(run_at)
        );
    }

    #[test]
    fn one_shot_after_delay_runs_once_per_start() {
        let s = Schedule::new(&task("type = \"one_shot\"\ndelay = 30"), "UTC").unwrap();
        let start = at("2026-06-10T10:00:00Z");
        assert_eq!(
            s.next_due(None, start, start, MissedRuns::Skip),
            Some(start + 30_000)
        );
        // Ran in this process: done.
        assert_eq!(
            s.next_due(
                Some(start + 30_000),
                start,
                start + 31_000,
                MissedRuns::Skip
            ),
            None
        );
        // Ran in an earlier process: due again after this start.
        let yesterday = start - DAY;
        assert_eq!(
            s.next_due(Some(yesterday), start, start, MissedRuns::Skip),
            Some(start + 30_000)
        );
        // The machine slept through it.
        let woke = start + 3_600_000;
        assert_eq!(s.next_due(None, start, woke, MissedRuns::Skip), None);
        assert_eq!(
            s.next_due(None, start, woke, MissedRuns::RunOnce),
            Some(start + 30_000)
        );
        // Neither `run_at` nor `delay`: at start-up.
        let s = Schedule::new(&task("type = \"one_shot\""), "UTC").unwrap();
        assert_eq!(
            s.next_due(None, start, start, MissedRuns::Skip),
            Some(start)
        );
    }

    #[test]
    fn errors() {
        let cron = |expr: &str| {
            Schedule::new(&task(&format!("type = \"cron\"\ncron = \"{expr}\"")), "UTC")
        };
        for bad in [
            "0 9 * *",
            "0 0 9 * * *",
            "61 * * * *",
            "0 9 * * 8",
            "nonsense",
        ] {
            assert!(
                matches!(cron(bad), Err(ScheduleError::Cron { .. })),
                "{bad}"
            );
        }
        let err = Schedule::new(
            &task("type = \"cron\"\ncron = \"0 9 * * *\"\ntimezone = \"Mars/Olympus\""),
            "UTC",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown time zone `Mars/Olympus`; use an IANA name like `Europe/Berlin` or `UTC`"
        );
        let err =
            Schedule::new(&task("type = \"cron\"\ncron = \"0 9 * * *\""), "Nowhere").unwrap_err();
        assert!(matches!(err, ScheduleError::TimeZone(z) if z == "Nowhere"));
        // Interval tasks ignore time zones, even a broken default.
        assert!(Schedule::new(&task("interval = 5"), "Nowhere").is_ok());
        assert!(matches!(
            Schedule::new(&task("type = \"cron\""), "UTC"),
            Err(ScheduleError::Missing { field: "cron", .. })
        ));
        assert!(matches!(
            Schedule::new(&task("type = \"interval\""), "UTC"),
            Err(ScheduleError::Missing {
                field: "interval",
                ..
            })
        ));
        assert!(matches!(
            Schedule::new(&task("type = \"one_shot\"\nrun_at = \"tomorrow\""), "UTC"),
            Err(ScheduleError::RunAt { .. })
        ));
        for bad in [
            "interval = 0",
            "interval = -1",
            "interval = nan",
            "interval = 1e300",
        ] {
            assert!(
                matches!(
                    Schedule::new(&task(bad), "UTC"),
                    Err(ScheduleError::Seconds { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Schedule::new(&task("interval = 5\ndelay = -1"), "UTC"),
            Err(ScheduleError::Seconds { field: "delay", .. })
        ));
        let err = Schedule::new(&task("interval = -1"), "UTC").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`interval` must be at least 0.001 seconds, got -1"
        );
    }

    #[test]
    fn an_impossible_date_is_never_due() {
        let s = cron_in("0 0 30 2 *", "UTC");
        let now = at("2026-06-10T00:00:00Z");
        assert_eq!(s.next_due(None, now, now, MissedRuns::Skip), None);
    }

    #[test]
    fn describe() {
        let s = cron_in("0 9 * * 1-5", "Europe/Berlin");
        assert_eq!(
            s.describe(),
            "At 09:00, on Monday, Tuesday, Wednesday, Thursday, and Friday (Europe/Berlin)"
        );
        let d = |toml_text: &str| Schedule::new(&task(toml_text), "UTC").unwrap().describe();
        assert_eq!(d("interval = 30"), "every 30 s");
        assert_eq!(d("interval = 1.5"), "every 1.5 s");
        assert_eq!(d("interval = 300"), "every 5 min");
        assert_eq!(
            d("interval = 7200\ndelay = 10"),
            "every 2 h, first 10 s after start-up"
        );
        assert_eq!(
            d("type = \"one_shot\"\nrun_at = \"2026-12-01T09:00:00+01:00\""),
            "once at 2026-12-01T09:00:00+01:00"
        );
        assert_eq!(
            d("type = \"one_shot\"\ndelay = 90"),
            "once, 90 s after start-up"
        );
        assert_eq!(d("type = \"one_shot\""), "once at start-up");
    }
}
