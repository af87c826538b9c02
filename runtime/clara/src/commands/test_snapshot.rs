//! Prompt snapshots for `clara test`: the exact system prompt a turn sent, kept as a file in
//! `tests/snapshots/` beside the fixtures, compared on every run and rewritten by `--update`.

use std::path::{Path, PathBuf};

use clara_config::fixtures::TESTS_DIR;

/// Where snapshots live, and whether this run rewrites them.
pub struct Snapshots {
    root: PathBuf,
    update: bool,
}

/// How a turn's prompt compared with its snapshot.
pub enum Compared {
    /// The same text.
    Same,
    /// Written (it was missing or differed, and this run updates).
    Written(String),
    /// Different from the file's text, which is returned.
    Differs(String),
    /// No snapshot yet, at this path.
    Missing(String),
}

impl Snapshots {
    /// Snapshots of the root at `root`; with `update`, a missing or different one is written.
    pub fn new(root: &Path, update: bool) -> Snapshots {
        Snapshots {
            root: root.to_owned(),
            update,
        }
    }

    /// The snapshot's path relative to the root: `tests/snapshots/FIXTURE.TURN.prompt`.
    fn rel(fixture: &str, turn: usize) -> String {
        format!("{TESTS_DIR}/snapshots/{fixture}.{turn}.prompt")
    }

    /// Compares `prompt` with the snapshot of turn `turn` (from 1) of the fixture `fixture`.
    pub fn compare(&self, fixture: &str, turn: usize, prompt: &str) -> std::io::Result<Compared> {
        let rel = Self::rel(fixture, turn);
        let path = self.root.join(&rel);
        let stored = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err),
        };
        if stored.as_deref() == Some(prompt) {
            return Ok(Compared::Same);
        }
        if self.update {
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            std::fs::write(&path, prompt)?;
            return Ok(Compared::Written(rel));
        }
        Ok(match stored {
            Some(text) => Compared::Differs(text),
            None => Compared::Missing(rel),
        })
    }
}
