//! LLM providers over reqwest: OpenAI-compatible chat completions and Anthropic messages,
//! streaming (SSE), retries, fallback, and embeddings. Wire formats stay in this module; the
//! engine sees only `clara_core::llm`.

mod anthropic;
mod client;
pub mod codec;
mod embeddings;
mod endpoint;
pub mod http;
mod openai;
mod retry;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::Env;
use clara_config::model::clara::ClaraConfig;
use clara_config::model::provider::ProviderConfig;
use clara_core::llm::{
    BoxFuture, ChatRequest, ChatResponse, DeltaSink, Embedder, Fallback, Provider, ProviderError,
};

pub use client::HttpProvider;
pub use embeddings::HttpEmbedder;
pub use http::install_crypto_provider;
pub use wire::Reply;

/// Every configured provider, ready to call, and the embedder when embeddings are on.
pub struct Providers {
    by_name: BTreeMap<String, Arc<dyn Provider>>,
    embedder: Option<Arc<dyn Embedder>>,
    /// Each provider on its own (before fallback chains), with what it was built from, so a
    /// reload can keep the ones that did not change (and their warm connections).
    single: BTreeMap<String, Built>,
}

struct Built {
    config: ProviderConfig,
    secrets: Vec<Option<String>>,
    provider: Arc<dyn Provider>,
}

/// The values of the variables a provider reads (its key and header secrets).
fn secrets_of(provider: &ProviderConfig, env: &Env) -> Vec<Option<String>> {
    provider
        .api_key_env
        .iter()
        .chain(provider.headers_env.values())
        .map(|var| env.get(var).map(str::to_owned))
        .collect()
}

impl Providers {
    /// Builds every provider in `config`, each wrapped in its fallback chain. A provider whose
    /// secret is missing still exists and fails each call with that reason (`clara validate`
    /// reports it up front for the providers in use).
    pub fn build(config: &ClaraConfig, env: &Env) -> Providers {
        Providers::rebuild(config, env, None)
    }

    /// Like [`Providers::build`], keeping every provider of `previous` whose settings and
    /// secrets are unchanged.
    pub fn rebuild(config: &ClaraConfig, env: &Env, previous: Option<&Providers>) -> Providers {
        let single: BTreeMap<String, Built> = config
            .providers
            .iter()
            .map(|(name, provider)| {
                let secrets = secrets_of(provider, env);
                let kept = previous
                    .and_then(|p| p.single.get(name))
                    .filter(|old| old.config == *provider && old.secrets == secrets)
                    .map(|old| old.provider.clone());
                let built: Arc<dyn Provider> =
                    kept.unwrap_or_else(|| match HttpProvider::new(name, provider, env) {
                        Ok(client) => Arc::new(client),
                        Err(error) => Arc::new(Unavailable {
                            name: name.clone(),
                            config: provider.clone(),
                            error,
                        }),
                    });
                let built = Built {
                    config: provider.clone(),
                    secrets,
                    provider: built,
                };
                (name.clone(), built)
            })
            .collect();
        let by_name = config
            .providers
            .iter()
            .map(|(name, provider)| {
                let primary = single[name].provider.clone();
                let chained: Arc<dyn Provider> = if provider.fallback.is_empty() {
                    primary
                } else {
                    let rest = provider
                        .fallback
                        .iter()
                        .filter_map(|f| single.get(f).map(|b| b.provider.clone()))
                        .collect();
                    Arc::new(Fallback::new(primary, rest))
                };
                (name.clone(), chained)
            })
            .collect();
        let embedder = config.embeddings.as_ref().filter(|e| e.enabled).and_then(|settings| {
            let name = config.embeddings_provider()?;
            let provider = config.providers.get(name)?;
            match HttpEmbedder::new(name, provider, settings, env) {
                Ok(embedder) => Some(Arc::new(embedder) as Arc<dyn Embedder>),
                Err(error) => {
                    tracing::warn!(%error, "embeddings are off: memory search uses full text only");
                    None
                }
            }
        });
        Providers {
            by_name,
            embedder,
            single,
        }
    }

    /// The provider `name` (with its fallbacks).
    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.by_name.get(name).cloned()
    }

    /// The provider `name` on its own, without its fallbacks (for checking what a rebuild
    /// kept).
    pub fn single(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.single.get(name).map(|b| b.provider.clone())
    }

    /// The embedder, when embeddings are configured, enabled and have their key.
    pub fn embedder(&self) -> Option<Arc<dyn Embedder>> {
        self.embedder.clone()
    }
}

/// A provider that could not be built (a missing secret): every call reports why.
struct Unavailable {
    name: String,
    config: ProviderConfig,
    error: ProviderError,
}

impl Provider for Unavailable {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        _on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        // Named by the model this call wanted, as a working provider's errors are.
        let model = request.model_on(&self.config);
        Box::pin(async move {
            Err(ProviderError {
                model,
                ..self.error.clone()
            })
        })
    }
}
