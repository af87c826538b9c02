//! Due times against hand-checked calendars: weekday ranges, day-of-month with weekday,
//! steps, time zones, daylight saving in two zones, intervals, one-shots and missed runs.

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
    let cron =
        |expr: &str| Schedule::new(&task(&format!("type = \"cron\"\ncron = \"{expr}\"")), "UTC");
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
    let err = Schedule::new(&task("type = \"cron\"\ncron = \"0 9 * * *\""), "Nowhere").unwrap_err();
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
