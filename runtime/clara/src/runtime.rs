//! Building a running generation from loaded config: providers, the store, the built-in tools
//! and the compiled templates. `clara chat` and `clara run` share this.

use std::sync::Arc;

use clara_config::ConfigSet;
use clara_core::engine::{Clock, EngineError, EventSink, Generation, Parts};
use clara_core::store::Store;

use crate::llm::Providers;
use crate::tools::mcp::McpServers;

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
    /// The engine could not be built (a template failed to compile).
    #[error(transparent)]
    Engine(#[from] EngineError),
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

/// A generation for `set` over `store`, its MCP tools from the servers `mcp` runs (started,
/// kept or stopped to match `set`).
pub fn generation(
    set: ConfigSet,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    mcp: &McpServers,
) -> Result<Generation, StartError> {
    let providers = Providers::build(&set.clara.value, &set.env);
    let parts = Parts {
        providers: set
            .clara
            .value
            .providers
            .keys()
            .filter_map(|name| Some((name.clone(), providers.get(name)?)))
            .collect(),
        embedder: providers.embedder(),
        store,
        tools: crate::tools::build(&set),
        tool_sources: mcp.sync(&set),
        clock,
        events,
        config: Arc::new(set),
    };
    Ok(Generation::new(parts)?)
}
