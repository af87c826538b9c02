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
        },
    )])
}

fn default_sqlite_path() -> String {
    "data/clara.db".to_owned()
}
fn default_max_connections() -> u32 {
    10
}
fn default_ef_search() -> u32 {
    100
}
