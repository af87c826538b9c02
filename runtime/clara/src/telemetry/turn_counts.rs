//! How many turns started, and how many failed, in each of the last sixty minutes: counted
//! for every turn, so the console's rates hold however few turns the trace log keeps.

use std::sync::{Mutex, PoisonError};

/// Minutes kept, and so the longest window a rate covers.
pub const MINUTES: usize = 60;

const MINUTE_NANOS: u64 = 60 * 1_000_000_000;

/// Counts per minute, in a ring indexed by the minute since the epoch.
pub struct TurnCounts(Mutex<[Minute; MINUTES]>);

impl Default for TurnCounts {
    fn default() -> Self {
        TurnCounts(Mutex::new([Minute::default(); MINUTES]))
    }
}

#[derive(Clone, Copy, Default)]
struct Minute {
    /// Minutes since the epoch this slot counts; an older one is stale.
    at: u64,
    turns: u64,
    failed: u64,
}

impl TurnCounts {
    /// Counts a turn that started at `start_nanos` (since the epoch).
    pub fn count(&self, start_nanos: u64, failed: bool) {
        let minute = start_nanos / MINUTE_NANOS;
        let mut slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut slots[(minute % MINUTES as u64) as usize];
        // A turn that started over an hour ago (a long task) finishes into a slot a newer
        // minute holds: it is past every window anyway.
        if minute < slot.at {
            return;
        }
        if slot.at != minute {
            *slot = Minute {
                at: minute,
                ..Minute::default()
            };
        }
        slot.turns += 1;
        slot.failed += u64::from(failed);
    }

    /// Turns and failed turns that started in the `minutes` up to and including the one of
    /// `now_nanos` (at most [`MINUTES`]).
    pub fn since(&self, now_nanos: u64, minutes: usize) -> (u64, u64) {
        let now = now_nanos / MINUTE_NANOS;
        let oldest = now.saturating_sub(minutes.clamp(1, MINUTES) as u64 - 1);
        let slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .iter()
            .filter(|m| m.at >= oldest && m.at <= now && m.turns > 0)
            .fold((0, 0), |(turns, failed), m| {
                (turns + m.turns, failed + m.failed)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_window_and_forgets_older_minutes() {
        let counts = TurnCounts::default();
        let minute = |m: u64| m * MINUTE_NANOS + 5;
        counts.count(minute(1_000), false);
        counts.count(minute(1_000), true);
        counts.count(minute(1_030), false);
        counts.count(minute(1_059), true);
        assert_eq!(counts.since(minute(1_059), 60), (4, 2));
        assert_eq!(counts.since(minute(1_059), 30), (2, 1));
        // An hour later minute 1 000's slot is reused, not added to.
        counts.count(minute(1_060), false);
        assert_eq!(counts.since(minute(1_060), 60), (3, 1));
        assert_eq!(counts.since(minute(1_200), 60), (0, 0));
        // A turn an hour older than the slot's minute counts nowhere, and clears nothing.
        counts.count(minute(1_000), true);
        assert_eq!(counts.since(minute(1_060), 60), (3, 1));
        assert_eq!(
            counts.since(minute(1_060), 0),
            (1, 0),
            "at least this minute"
        );
    }
}
