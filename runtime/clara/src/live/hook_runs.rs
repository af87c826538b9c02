//! The last hook runs, kept in memory for the console: which hook, on which event, when, how
//! long, and what it said. Bounded, so a busy hook never grows it.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// How many runs are kept, across all hooks.
const KEPT: usize = 200;

/// The most of a run's output or error that is kept.
const OUTPUT_CHARS: usize = 500;

/// One finished hook run.
#[derive(Clone, Debug, PartialEq)]
pub struct HookRun {
    /// The hook's name.
    pub hook: String,
    /// The event that fired it.
    pub event: String,
    /// When it finished.
    pub at: DateTime<Utc>,
    /// How long it took.
    pub ms: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// Its output, or why it failed, cut to a few hundred characters.
    pub output: String,
}

/// The last [`KEPT`] runs, newest last.
#[derive(Default)]
pub struct HookRuns(Mutex<VecDeque<HookRun>>);

impl HookRuns {
    /// Keeps `run`, forgetting the oldest when full.
    pub fn record(&self, mut run: HookRun) {
        if let Some((cut, _)) = run.output.char_indices().nth(OUTPUT_CHARS) {
            run.output.truncate(cut);
            run.output.push('…');
        }
        let mut runs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if runs.len() == KEPT {
            runs.pop_front();
        }
        runs.push_back(run);
    }

    /// The last `limit` runs of `hook` (of every hook when `None`), newest first.
    pub fn recent(&self, hook: Option<&str>, limit: usize) -> Vec<HookRun> {
        let runs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        runs.iter()
            .rev()
            .filter(|r| hook.is_none_or(|h| r.hook == h))
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(hook: &str, output: &str) -> HookRun {
        HookRun {
            hook: hook.to_owned(),
            event: "message:received".to_owned(),
            at: Utc::now(),
            ms: 1,
            ok: true,
            output: output.to_owned(),
        }
    }

    #[test]
    fn keeps_the_newest_runs_and_cuts_long_output() {
        let runs = HookRuns::default();
        for i in 0..KEPT + 5 {
            runs.record(run(if i % 2 == 0 { "even" } else { "odd" }, &i.to_string()));
        }
        let all = runs.recent(None, usize::MAX);
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0].output, (KEPT + 4).to_string());
        let odd = runs.recent(Some("odd"), 2);
        assert_eq!(
            odd.iter().map(|r| r.output.as_str()).collect::<Vec<_>>(),
            [(KEPT + 3).to_string(), (KEPT + 1).to_string()]
        );

        runs.record(run("long", &"é".repeat(OUTPUT_CHARS + 10)));
        let long = &runs.recent(Some("long"), 1)[0].output;
        assert_eq!(long.chars().count(), OUTPUT_CHARS + 1);
        assert!(long.ends_with('…'));
    }
}
