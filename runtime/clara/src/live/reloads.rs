//! What the console shows of reloads: which generation runs and since when, and how the last
//! reload went (with the problems of files that did not load).

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use super::Reload;

/// The running generation and the last reload's outcome.
#[derive(Clone, Debug)]
pub struct Reloads {
    /// 1 for the configuration clara started with, one more for each reload applied.
    pub generation: u64,
    /// When the running generation was made.
    pub loaded_at: DateTime<Utc>,
    /// The last reload that changed or tried to change something: when, `applied`,
    /// `invalid`, `refused` or `failed`, and the problems or reason.
    pub last: Option<(DateTime<Utc>, &'static str, Vec<String>)>,
}

/// Kept by [`Live`](super::Live), updated by each reload.
pub(super) struct ReloadLog(Mutex<Reloads>);

impl ReloadLog {
    pub(super) fn new() -> ReloadLog {
        ReloadLog(Mutex::new(Reloads {
            generation: 1,
            loaded_at: Utc::now(),
            last: None,
        }))
    }

    pub(super) fn record(&self, outcome: &Reload) {
        let mut reloads = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Utc::now();
        let (what, lines) = match outcome {
            Reload::Unchanged => return,
            Reload::Applied(_) => {
                reloads.generation += 1;
                reloads.loaded_at = now;
                ("applied", Vec::new())
            }
            Reload::Invalid(problems) => (
                "invalid",
                problems.iter().map(ToString::to_string).collect(),
            ),
            Reload::Refused(reason) => ("refused", vec![reason.clone()]),
            Reload::Failed(why) => ("failed", vec![why.clone()]),
        };
        reloads.last = Some((now, what, lines));
    }

    pub(super) fn get(&self) -> Reloads {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
