//! The scripted model of `clara test` standing in for each provider of `clara.toml`: one
//! script answers every call in order, and each call is recorded with the provider it went to
//! and the model that provider would have used (the tier's, or the base model).

use std::sync::{Arc, Mutex, PoisonError};

use clara_config::model::provider::ProviderConfig;
use clara_core::llm::{
    BoxFuture, ChatRequest, ChatResponse, DeltaSink, Provider, ProviderError, ScriptedProvider,
};

/// A call as a provider received it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The provider's name in `clara.toml`.
    pub provider: String,
    /// The model it would have asked for.
    pub model: String,
}

/// The calls of a case, in order, across providers.
#[derive(Default)]
pub struct Calls(Mutex<Vec<Call>>);

impl Calls {
    /// Every call so far.
    pub fn all(&self) -> Vec<Call> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One configured provider answered by the shared script.
pub struct AsProvider {
    name: String,
    config: ProviderConfig,
    script: Arc<ScriptedProvider>,
    calls: Arc<Calls>,
}

impl AsProvider {
    /// The provider `name` of `config`, answered by `script`, its calls kept in `calls`.
    pub fn new(
        name: &str,
        config: &ProviderConfig,
        script: &Arc<ScriptedProvider>,
        calls: &Arc<Calls>,
    ) -> AsProvider {
        AsProvider {
            name: name.to_owned(),
            config: config.clone(),
            script: script.clone(),
            calls: calls.clone(),
        }
    }
}

impl Provider for AsProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        // As the HTTP provider picks it.
        let model = request.model_on(&self.config);
        self.calls
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Call {
                provider: self.name.clone(),
                model: model.clone(),
            });
        Box::pin(async move {
            let mut response = self.script.chat(request, on_delta).await.map_err(|mut e| {
                e.provider.clone_from(&self.name);
                e.model.clone_from(&model);
                e
            })?;
            response.provider.clone_from(&self.name);
            response.model = model;
            Ok(response)
        })
    }
}
