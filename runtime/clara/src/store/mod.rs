//! Stores at the edge: the embedded SQLite store (and, later, Postgres) behind
//! [`clara_core::store::Store`], chosen from a `[stores.*]` entry of `clara.toml`.

pub mod fusion;
pub mod sqlite;
pub mod vector;

use std::path::Path;
use std::sync::Arc;

use clara_config::Env;
use clara_config::model::store::StoreConfig;
use clara_core::store::{Store, StoreError};

pub use sqlite::SqliteStore;

/// Opens the store `config` describes. A SQLite path is relative to `root`; its folders and
/// file are created on first run and migrations are applied.
pub async fn open(
    config: &StoreConfig,
    root: &Path,
    env: &Env,
) -> Result<Arc<dyn Store>, StoreError> {
    match config {
        StoreConfig::Sqlite { path } => Ok(Arc::new(SqliteStore::open(&root.join(path)).await?)),
        StoreConfig::Postgres { url_env, .. } => {
            Err(StoreError::Database(match env.get(url_env) {
                None => format!("environment variable `{url_env}` (the Postgres URL) is not set"),
                Some(_) => {
                    "Postgres support arrives with the Postgres store, which is not built yet; \
                        use `type = \"sqlite\"` for now"
                        .to_owned()
                }
            }))
        }
    }
}

/// A new random id: 32 lowercase hex characters (128 bits).
pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}
