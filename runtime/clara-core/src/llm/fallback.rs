//! A fallback chain: when a provider fails before producing any output, the next one in the
//! chain gets the same request. The reason for each switch is logged.

use std::sync::Arc;

use super::error::ProviderError;
use super::provider::{BoxFuture, DeltaSink, Provider};
use super::types::{ChatRequest, ChatResponse};

/// Providers tried in order. It is itself a [`Provider`] named after the first.
pub struct Fallback {
    chain: Vec<Arc<dyn Provider>>,
}

impl Fallback {
    /// A chain starting with `primary`.
    pub fn new(primary: Arc<dyn Provider>, rest: Vec<Arc<dyn Provider>>) -> Self {
        let mut chain = vec![primary];
        chain.extend(rest);
        Fallback { chain }
    }
}

impl Provider for Fallback {
    fn name(&self) -> &str {
        self.chain[0].name()
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let mut last_error = None;
            // A model named in the request is the first provider's; the others choose their own
            // by the request's tier.
            let own_choice = request.model.is_some().then(|| ChatRequest {
                model: None,
                ..request.clone()
            });
            for (i, provider) in self.chain.iter().enumerate() {
                let request = match &own_choice {
                    Some(own) if i > 0 => own,
                    _ => request,
                };
                match provider.chat(request, on_delta).await {
                    Ok(response) => return Ok(response),
                    // Part of an answer already reached the user: another provider would
                    // answer again from the start, so stop here.
                    Err(error) if error.partial_output => return Err(error),
                    Err(error) => {
                        if let Some(next) = self.chain.get(i + 1) {
                            tracing::warn!(from = provider.name(), to = next.name(), reason = %error, "falling back to the next provider");
                        }
                        last_error = Some(error);
                    }
                }
            }
            Err(last_error.expect("a chain has at least one provider"))
        })
    }
}
