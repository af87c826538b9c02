//! Opening what a running clara needs from loaded config (the store), and why it could not
//! start. [`crate::live::Live`] builds the generations.

use std::sync::Arc;

use clara_config::ConfigSet;
use clara_core::engine::EngineError;
use clara_core::store::Store;

/// Why clara could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("cannot open the store `{name}`: {source}")]
    Store {
        /// The store's name in clara.toml.
        name: String,
        /// Why.
        source: clara_core::store::StoreError,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(clara_config::ConfigError),
    /// The engine could not be built (a template failed to compile).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The Discord adapter cannot start (no token).
    #[error(transparent)]
    Discord(#[from] crate::discord::DiscordError),
    /// The status endpoint cannot listen.
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
}

/// Opens the default store of `set`.
pub async fn open_store(set: &ConfigSet) -> Result<Arc<dyn Store>, StartError> {
    let name = &set.clara.value.defaults.store;
    let config = set
        .clara
        .value
        .stores
        .get(name)
        .expect("validated: the default store exists");
    crate::store::open(config, &set.root, &set.env)
        .await
        .map_err(|source| StartError::Store {
            name: name.clone(),
            source,
        })
}
