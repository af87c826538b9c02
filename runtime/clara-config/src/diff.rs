//! What changed between two loaded config sets: which files, and whether the change can be
//! applied to a running clara or needs a restart.

use std::collections::BTreeMap;

use crate::model::store::StoreConfig;
use crate::set::ConfigSet;

/// The files that differ between two sets, by path relative to the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Files only in the new set.
    pub added: Vec<String>,
    /// Files in both whose content differs.
    pub changed: Vec<String>,
    /// Files only in the old set.
    pub removed: Vec<String>,
}

impl Changes {
    /// Nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Every file of `set` with its text. `clara.toml` is compared by value, so an override
/// variable that changes it counts; the environment counts as the file `.env`.
fn contents(set: &ConfigSet) -> BTreeMap<String, String> {
    let mut files = set.source_files();
    files.insert(
        set.clara.source.rel.clone(),
        format!("{:?}", set.clara.value),
    );
    let env: Vec<String> = set.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    files.insert(".env".to_owned(), env.join("\n"));
    files
}

/// What differs from `old` to `new`.
pub fn changes(old: &ConfigSet, new: &ConfigSet) -> Changes {
    let before = contents(old);
    let after = contents(new);
    let mut changes = Changes::default();
    for (path, text) in &after {
        match before.get(path) {
            None => changes.added.push(path.clone()),
            Some(old_text) if old_text != text => changes.changed.push(path.clone()),
            Some(_) => {}
        }
    }
    changes.removed = before
        .keys()
        .filter(|path| !after.contains_key(*path))
        .cloned()
        .collect();
    changes
}

/// Why `new` cannot replace `old` in a running clara, if it cannot: the parts that are set up
/// once at start (the store, the data folder, logging, the watcher, the status endpoint).
pub fn needs_restart(old: &ConfigSet, new: &ConfigSet) -> Option<String> {
    let (a, b) = (&old.clara.value, &new.clara.value);
    let store_url = |set: &ConfigSet| {
        set.clara
            .value
            .stores
            .values()
            .filter_map(|s| match s {
                StoreConfig::Postgres { url_env, .. } => Some(url_env),
                StoreConfig::Sqlite { .. } => None,
            })
            .map(|var| set.env.get(var).map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let reason = if a.defaults.store != b.defaults.store
        || a.stores != b.stores
        || store_url(old) != store_url(new)
    {
        "the store settings changed ([stores], `defaults.store` or a database URL)"
    } else if a.runtime != b.runtime {
        "the [runtime] section changed"
    } else if a.status != b.status {
        "the [status] section changed"
    } else if a.telemetry != b.telemetry {
        "the [telemetry] section changed"
    } else {
        return None;
    };
    Some(format!(
        "{reason}; that needs a restart of clara, so the running configuration stays in place"
    ))
}
