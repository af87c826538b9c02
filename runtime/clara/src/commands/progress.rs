//! Progress of a long operation (backups, restores, imports) on stderr: a bar on a terminal,
//! and plain lines otherwise (a log or a pipe gets a line per stage and per quarter done).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One operation's progress.
pub struct Progress {
    bar: Option<ProgressBar>,
    /// What is counted, for plain lines.
    unit: &'static str,
    /// The stage last shown and the quarter it reached (plain lines).
    shown: Mutex<(String, u64)>,
}

impl Progress {
    /// Progress counted in bytes: a bar when stderr is a terminal, plain lines otherwise.
    pub fn bytes() -> Progress {
        Progress::new(
            "{msg:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            "bytes",
        )
    }

    /// Progress counted in records.
    pub fn records() -> Progress {
        Progress::new("{msg:>9} [{bar:30}] {pos}/{len} {per_sec}", "records")
    }

    fn new(template: &str, unit: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            unit,
            shown: Mutex::new((String::new(), 0)),
        }
    }

    /// `stage` has done `done` of `total` (0: not known).
    pub fn update(&self, stage: &str, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            if bar.message() != stage {
                bar.set_message(stage.to_owned());
                bar.set_length(total);
            }
            bar.set_position(done);
            return;
        }
        let mut shown = self.shown.lock().expect("no panics while held");
        if shown.0 != stage {
            *shown = (stage.to_owned(), 0);
            eprintln!("{stage}…");
        }
        let quarter = (done * 4).checked_div(total).unwrap_or(0);
        if quarter > shown.1 {
            shown.1 = quarter;
            eprintln!(
                "{stage}: {}% ({done} of {total} {})",
                quarter * 25,
                self.unit
            );
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
