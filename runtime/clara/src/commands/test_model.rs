//! The model of `clara test` standing in for each provider of `clara.toml`: one script answers
//! every call in order (or, recording a cassette, the real provider does), and each call is
//! kept with the provider it went to, the model that provider would have used, what it asked
//! and what came back.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use clara_config::model::fixture::{ScriptedAnswer, ScriptedCall};
use clara_config::model::provider::ProviderConfig;
use clara_core::llm::{
    BoxFuture, ChatRequest, ChatResponse, DeltaSink, Provider, ProviderError, ProviderErrorKind,
};

/// A call as a provider received it.
#[derive(Clone, Debug)]
pub struct Call {
    /// The provider's name in `clara.toml`.
    pub provider: String,
    /// The model it would have asked for.
    pub model: String,
    /// What it asked.
    pub request: ChatRequest,
    /// What came back, as a fixture would script it (once it came).
    pub answer: Option<ScriptedAnswer>,
}

/// The calls of a case, in order, across providers.
#[derive(Default)]
pub struct Calls(Mutex<Vec<Call>>);

impl Calls {
    fn calls(&self) -> MutexGuard<'_, Vec<Call>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many calls so far.
    pub fn len(&self) -> usize {
        self.calls().len()
    }

    /// The calls from the `from`th on.
    pub fn since(&self, from: usize) -> Vec<Call> {
        self.calls()
            .get(from..)
            .map(<[Call]>::to_vec)
            .unwrap_or_default()
    }
}

/// One configured provider, answered by `inner` (the shared script, or the real provider).
pub struct AsProvider {
    name: String,
    config: ProviderConfig,
    inner: Arc<dyn Provider>,
    calls: Arc<Calls>,
}

impl AsProvider {
    /// The provider `name` of `config`, answered by `inner`, its calls kept in `calls`.
    pub fn new(
        name: &str,
        config: &ProviderConfig,
        inner: Arc<dyn Provider>,
        calls: &Arc<Calls>,
    ) -> AsProvider {
        AsProvider {
            name: name.to_owned(),
            config: config.clone(),
            inner,
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
        let at = {
            let mut calls = self.calls.calls();
            calls.push(Call {
                provider: self.name.clone(),
                model: model.clone(),
                request: request.clone(),
                answer: None,
            });
            calls.len() - 1
        };
        Box::pin(async move {
            let result = self.inner.chat(request, on_delta).await;
            let answer = match &result {
                Ok(response) => answer_of(response),
                Err(error) => failure_of(&error.kind),
            };
            self.calls.calls()[at].answer = Some(answer);
            let mut response = result.map_err(|mut e| {
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

/// A response as the answer that scripts it.
fn answer_of(response: &ChatResponse) -> ScriptedAnswer {
    ScriptedAnswer {
        reply: response.text.clone(),
        tool_calls: response
            .tool_calls
            .iter()
            .map(|c| ScriptedCall {
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            })
            .collect(),
        input_tokens: response.usage.input_tokens,
        output_tokens: response.usage.output_tokens,
        ..ScriptedAnswer::default()
    }
}

/// A failed call as the answer that scripts it: the status and the kind of failure, never the
/// server's own text (a cassette is committed; what a provider said may name an account).
fn failure_of(kind: &ProviderErrorKind) -> ScriptedAnswer {
    let (status, message) = match kind {
        ProviderErrorKind::Status { status, .. } => (
            Some(*status),
            format!("the provider answered HTTP {status}"),
        ),
        ProviderErrorKind::Connect(_) => (None, "no connection could be made".to_owned()),
        ProviderErrorKind::Timeout(what) => (None, format!("timed out: {what}")),
        ProviderErrorKind::Decode(_) => (None, "the reply could not be read".to_owned()),
        ProviderErrorKind::Api(_) => (None, "the provider reported an error".to_owned()),
        ProviderErrorKind::StreamCut(_) => (None, "the stream ended early".to_owned()),
        ProviderErrorKind::Config(_) => (None, "the provider is not configured".to_owned()),
    };
    ScriptedAnswer {
        error: Some(message),
        status,
        ..ScriptedAnswer::default()
    }
}
