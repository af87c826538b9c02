//! Stores at the edge: the embedded SQLite store and the Postgres + pgvector store behind
//! [`clara_core::store::Store`], chosen from a `[stores.*]` entry of `clara.toml`.

pub mod postgres;
mod rows;
pub mod sqlite;
mod usage_buffer;
pub mod vector;

use std::path::Path;
use std::sync::Arc;

use clara_config::model::store::StoreConfig;
use clara_config::{ConfigSet, Env};
use clara_core::store::{Store, StoreError, StoreResult};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// How a command uses a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads and writes: a SQLite file and its folders are created when missing, and
    /// migrations are applied.
    ReadWrite,
    /// Only reads an existing, current database: nothing is created or migrated and every
    /// write fails (for commands that only look, like `clara replay`).
    ReadOnly,
}

/// Opens the store `config` describes. A SQLite path is relative to `root`. A Postgres URL is
/// read from the environment variable the config names.
pub async fn open(
    config: &StoreConfig,
    root: &Path,
    env: &Env,
    access: Access,
) -> Result<Arc<dyn Store>, StoreError> {
    match config {
        StoreConfig::Sqlite { path, cache_mib } => {
            let path = root.join(path);
            Ok(Arc::new(match access {
                Access::ReadWrite => SqliteStore::open(&path, *cache_mib).await?,
                Access::ReadOnly => SqliteStore::open_read_only(&path, *cache_mib).await?,
            }))
        }
        StoreConfig::Postgres {
            url_env,
            max_connections,
            hnsw_ef_search,
        } => {
            let url = env.get(url_env).ok_or_else(|| {
                StoreError::Database(format!(
                    "environment variable `{url_env}` (the Postgres URL) is not set"
                ))
            })?;
            let store = match access {
                Access::ReadWrite => {
                    PostgresStore::connect(url, *max_connections, *hnsw_ef_search).await?
                }
                Access::ReadOnly => {
                    PostgresStore::connect_read_only(url, *max_connections, *hnsw_ef_search).await?
                }
            };
            Ok(Arc::new(store))
        }
    }
}

/// The newest migration a database has applied, as sqlx records it.
pub(crate) const APPLIED_VERSION: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";

/// Refuses `what` (a database, named for the error) when the newest migration it applied is
/// older than `migrator`'s newest: a command that only reads never migrates.
pub(crate) fn require_current(
    applied: Option<i64>,
    migrator: &sqlx::migrate::Migrator,
    what: &str,
) -> StoreResult<()> {
    if applied < migrator.iter().map(|m| m.version).max() {
        return Err(StoreError::Database(format!(
            "{what} has an older schema than this clara; run `clara migrate` first"
        )));
    }
    Ok(())
}

/// A new random id: 32 lowercase hex characters (128 bits).
pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A database error as a [`StoreError`].
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

/// `Ok` when a statement touched a row, else `NotFound(what)`.
pub(crate) fn found(rows_affected: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

/// The default store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the store `{name}`: {source}")]
pub struct OpenError {
    /// The store's name in clara.toml.
    pub name: String,
    /// Why.
    pub source: StoreError,
}

/// Opens the default store (`defaults.store`) of `set`.
pub async fn open_default(set: &ConfigSet, access: Access) -> Result<Arc<dyn Store>, OpenError> {
    let name = &set.clara.value.defaults.store;
    let config = set
        .clara
        .value
        .stores
        .get(name)
        .expect("validated: the default store exists");
    open(config, &set.root, &set.env, access)
        .await
        .map_err(|source| OpenError {
            name: name.clone(),
            source,
        })
}
