//! The configuration a running clara last applied, kept as a copy of its files in
//! `ROOT/.clara/applied/` (written at start and after every reload that lands), so
//! `clara plan` can say what an edit would do to what runs. Only config files are copied:
//! never `.env`, which holds secrets.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clara_config::{ConfigError, ConfigSet, Env};
use tokio_util::sync::CancellationToken;

use super::Live;

/// Where the copy lives, under the root.
pub const APPLIED_DIR: &str = ".clara/applied";

/// The copy's folder for `root`.
pub fn applied_dir(root: &Path) -> PathBuf {
    root.join(APPLIED_DIR)
}

/// Replaces the copy with the files `set` was read from. Written beside it and swapped in,
/// so a reader never sees half of one and half of another.
pub fn save(set: &ConfigSet) -> io::Result<()> {
    let dir = applied_dir(&set.root);
    let parent = dir.parent().expect("APPLIED_DIR has a parent");
    std::fs::create_dir_all(parent)?;
    let fresh = parent.join(format!("applied.new-{}", std::process::id()));
    let stale = parent.join(format!("applied.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    for (rel, text) in set.source_files() {
        // Every file is inside the root; a path that is not stays out of the copy rather than
        // land outside it.
        let inside = Path::new(&rel)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            continue;
        }
        let path = fresh.join(&rel);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(path, text)?;
    }
    let had_one = dir.exists();
    if had_one {
        std::fs::rename(&dir, &stale)?;
    }
    std::fs::rename(&fresh, &dir)?;
    if had_one {
        std::fs::remove_dir_all(&stale)?;
    }
    Ok(())
}

/// Why the applied configuration cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AppliedError {
    /// No clara has run from this root yet.
    #[error(
        "no applied configuration is kept in {0}: `clara run` writes it when it starts and after every reload; or compare with a folder: --against DIR"
    )]
    Missing(String),
    /// The copy does not load.
    #[error("the applied configuration in {dir} does not load: {error}")]
    Invalid {
        /// The copy's folder.
        dir: String,
        /// Why.
        error: ConfigError,
    },
}

/// The configuration last applied from `root`, read against `env` (the copy has no `.env`).
pub fn load(root: &Path, env: Env) -> Result<ConfigSet, AppliedError> {
    let dir = applied_dir(root);
    if !dir.is_dir() {
        return Err(AppliedError::Missing(dir.display().to_string()));
    }
    clara_config::load_with_env(&dir, env).map_err(|error| AppliedError::Invalid {
        dir: dir.display().to_string(),
        error,
    })
}

/// Keeps the copy current while `live` runs: now, and after each reload that lands, until
/// `stop`. A copy that cannot be written is a warning; clara runs on without it.
pub async fn keep(live: Arc<Live>, stop: CancellationToken) {
    let mut changes = live.changes();
    let mut set = live.current().config.clone();
    loop {
        let written = tokio::task::spawn_blocking(move || save(&set)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(
                "cannot keep a copy of the applied configuration (for `clara plan`): {error}"
            ),
            Err(error) => tracing::warn!("keeping the applied configuration stopped: {error}"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        set = changes.borrow_and_update().config.clone();
    }
}
