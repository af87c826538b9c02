//! Quiet hours: `HH:MM` to `HH:MM` in the user's time zone, during which email alerts wait.

use chrono::{TimeZone, Timelike};
use chrono_tz::Tz;
use clara_core::store::{EmailSettings, Millis};

/// Whether `now` falls in the user's quiet hours (`HH:MM` to `HH:MM` in `zone`; a window
/// whose end is before its start runs past midnight).
pub fn in_quiet_hours(settings: &EmailSettings, zone: Tz, now: Millis) -> bool {
    let Some((start, end)) = &settings.quiet_hours else {
        return false;
    };
    let (Some(start), Some(end)) = (minutes_of(start), minutes_of(end)) else {
        return false;
    };
    let Some(local) = zone.timestamp_millis_opt(now).single() else {
        return false;
    };
    let minute = local.hour() * 60 + local.minute();
    match start.cmp(&end) {
        std::cmp::Ordering::Less => start <= minute && minute < end,
        std::cmp::Ordering::Greater => minute >= start || minute < end,
        std::cmp::Ordering::Equal => false,
    }
}

/// Minutes after midnight of `HH:MM`.
pub fn minutes_of(text: &str) -> Option<u32> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let (hours, minutes): (u32, u32) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(start: &str, end: &str) -> EmailSettings {
        EmailSettings {
            quiet_hours: Some((start.to_owned(), end.to_owned())),
            ..EmailSettings::default()
        }
    }

    #[test]
    fn quiet_hours_in_the_users_zone_and_across_midnight() {
        // 2026-12-03 23:30 UTC is 00:30 in Berlin.
        let at = 1_796_340_600_000;
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert!(in_quiet_hours(&quiet("22:00", "07:00"), berlin, at));
        assert!(!in_quiet_hours(&quiet("01:00", "07:00"), berlin, at));
        assert!(in_quiet_hours(&quiet("23:00", "23:59"), Tz::UTC, at));
        assert!(!in_quiet_hours(&quiet("bad", "07:00"), Tz::UTC, at));
        assert!(!in_quiet_hours(&EmailSettings::default(), Tz::UTC, at));
        assert_eq!(minutes_of("7:05"), Some(425));
        assert_eq!(minutes_of("24:00"), None);
    }
}
