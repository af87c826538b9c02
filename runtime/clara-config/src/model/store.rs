//! Store definitions in `clara.toml`: embedded SQLite or Postgres with pgvector.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A database clara keeps sessions, history and memories in.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// An embedded SQLite file, created on first run.
    Sqlite {
        /// Database file, relative to the root.
        #[serde(default = "default_sqlite_path")]
        path: String,
        /// SQLite's page cache for the whole store in MiB, shared out among its connections
        /// (a writer and up to eight readers). Pages beyond it are read from the operating
        /// system's file cache, so a smaller cache costs some speed, never correctness.
        #[serde(default = "default_sqlite_cache_mib")]
        #[schemars(range(min = 1))]
        cache_mib: u32,
    },
    /// PostgreSQL with the `vector` extension (pgvector).
    Postgres {
        /// Environment variable holding the `postgres://` URL (it usually carries a password).
        url_env: String,
        /// Largest number of pooled connections.
        #[serde(default = "default_max_connections")]
        #[schemars(range(min = 1))]
        max_connections: u32,
        /// HNSW `ef_search` for memory search; higher is slower and more accurate.
        #[serde(default = "default_ef_search")]
        #[schemars(range(min = 1))]
        hnsw_ef_search: u32,
    },
}

pub(crate) fn default_stores() -> BTreeMap<String, StoreConfig> {
    BTreeMap::from([(
        "main".to_owned(),
        StoreConfig::Sqlite {
            path: default_sqlite_path(),
            cache_mib: DEFAULT_SQLITE_CACHE_MIB,
        },
    )])
}

fn default_sqlite_path() -> String {
    "data/clara.db".to_owned()
}
/// The default `cache_mib` of a SQLite store.
pub const DEFAULT_SQLITE_CACHE_MIB: u32 = 8;

fn default_sqlite_cache_mib() -> u32 {
    DEFAULT_SQLITE_CACHE_MIB
}
fn default_max_connections() -> u32 {
    10
}
fn default_ef_search() -> u32 {
    100
}
