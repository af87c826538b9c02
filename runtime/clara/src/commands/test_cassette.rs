//! Cassettes for `clara test`: a fixture with `cassette = "NAME"` plays the model's answers
//! from `tests/cassettes/NAME.json`, which `clara test --record-cassettes` writes by running
//! the fixture against the real providers once. The answers are kept per turn, in the order the
//! calls were made, in the same shape as a fixture's `model` list.

use std::path::{Path, PathBuf};

use clara_config::fixtures::TESTS_DIR;
use clara_config::model::fixture::ScriptedAnswer;
use serde::{Deserialize, Serialize};

/// The folder of cassettes, under `tests/`.
pub const CASSETTES_DIR: &str = "cassettes";

/// A recording: each turn's answers, in order.
#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Cassette {
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
    /// Each turn's answers.
    pub turns: Vec<Vec<ScriptedAnswer>>,
}

/// Where cassette `name` lives, relative to the root.
pub fn rel_path(name: &str) -> String {
    format!("{TESTS_DIR}/{CASSETTES_DIR}/{name}.json")
}

fn path(root: &Path, name: &str) -> PathBuf {
    root.join(rel_path(name))
}

/// Reads cassette `name`, or says why it cannot be played.
pub fn load(root: &Path, name: &str) -> Result<Cassette, String> {
    let rel = rel_path(name);
    let text = std::fs::read_to_string(path(root, name)).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("no cassette at {rel}: record it with `clara test --record-cassettes`")
        } else {
            format!("cannot read {rel}: {e}")
        }
    })?;
    serde_json::from_str(&text).map_err(|e| format!("{rel}:{}:{}: {e}", e.line(), e.column()))
}

/// Writes cassette `name`; returns its path in the root.
pub fn save(root: &Path, name: &str, cassette: &Cassette) -> Result<String, String> {
    let rel = rel_path(name);
    let file = path(root, name);
    if let Some(folder) = file.parent() {
        std::fs::create_dir_all(folder).map_err(|e| format!("cannot create {rel}: {e}"))?;
    }
    let text = serde_json::to_string_pretty(cassette).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&file, text).map_err(|e| format!("cannot write {rel}: {e}"))?;
    Ok(rel)
}
