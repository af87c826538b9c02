//! Hot reload from the file system: watch the root's config folders (directories, so editors
//! that save by renaming are seen), wait for a burst of changes to settle, then reload.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Live;

/// The folders under the root whose files make up the configuration. The root itself is
/// watched on its own (not recursively): it also holds `data/`, which changes on every turn.
const CONFIG_DIRS: [&str; 4] = ["personas", "pipelines", "hooks", "tools.d"];
/// Files directly in the root that are configuration.
const ROOT_FILES: [&str; 2] = ["clara.toml", ".env"];

/// A running watcher; dropping it stops watching (a reload under way finishes).
pub struct Watcher {
    _debouncer: Arc<Mutex<Debouncer<RecommendedWatcher, RecommendedCache>>>,
    stop: CancellationToken,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts watching `root` and reloading `live` after each settled burst of changes.
pub fn watch(live: Arc<Live>, root: &Path, debounce: Duration) -> Result<Watcher, notify::Error> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_owned());
    let (changed, mut settled) = mpsc::unbounded_channel::<()>();
    let filter_root = root.clone();
    let debouncer = new_debouncer(
        debounce,
        None,
        move |result: DebounceEventResult| match result {
            Ok(events) => {
                let relevant = events.iter().any(|event| {
                    !matches!(event.kind, EventKind::Access(_))
                        && event.paths.iter().any(|p| is_config_path(&filter_root, p))
                });
                if relevant {
                    let _ = changed.send(());
                }
            }
            Err(errors) => {
                for error in errors {
                    tracing::warn!("file watching: {error}");
                }
            }
        },
    )?;
    let debouncer = Arc::new(Mutex::new(debouncer));
    debouncer
        .lock()
        .expect("no panics while held")
        .watch(&root, RecursiveMode::NonRecursive)?;
    watch_config_dirs(&debouncer, &root);
    let watched = debouncer.clone();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stopped.cancelled() => return,
                change = settled.recv() => {
                    if change.is_none() {
                        return;
                    }
                }
            }
            // One reload covers every change that arrived meanwhile.
            while settled.try_recv().is_ok() {}
            // A config folder created after start is watched from now on.
            watch_config_dirs(&watched, &root);
            live.reload().await;
        }
    });
    Ok(Watcher {
        _debouncer: debouncer,
        stop,
    })
}

/// Watches every config folder that exists (again: watching a watched folder is harmless).
fn watch_config_dirs(
    debouncer: &Mutex<Debouncer<RecommendedWatcher, RecommendedCache>>,
    root: &Path,
) {
    let mut debouncer = debouncer.lock().expect("no panics while held");
    for dir in CONFIG_DIRS.iter().map(|d| root.join(d)) {
        if dir.is_dir()
            && let Err(error) = debouncer.watch(&dir, RecursiveMode::Recursive)
        {
            tracing::warn!("cannot watch {}: {error}", dir.display());
        }
    }
}

/// Whether a change at `path` can change the configuration.
fn is_config_path(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    let mut parts = relative.components();
    let first: PathBuf = match parts.next() {
        Some(first) => first.as_os_str().into(),
        None => return false,
    };
    let first = first.to_string_lossy();
    CONFIG_DIRS.contains(&first.as_ref())
        || (parts.next().is_none() && ROOT_FILES.contains(&first.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_config_files_and_folders_count() {
        let root = Path::new("/r");
        for yes in [
            "/r/clara.toml",
            "/r/.env",
            "/r/personas/clara.md",
            "/r/tools.d/new.toml",
            "/r/hooks",
        ] {
            assert!(is_config_path(root, Path::new(yes)), "{yes}");
        }
        for no in [
            "/r/data/clara.db-wal",
            "/r/clara_files/u/a.txt",
            "/r/README.md",
            "/elsewhere/clara.toml",
            "/r/data/clara.toml",
        ] {
            assert!(!is_config_path(root, Path::new(no)), "{no}");
        }
    }
}
