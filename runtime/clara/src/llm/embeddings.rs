//! Embeddings over an OpenAI-compatible `/embeddings` endpoint, batched.

use clara_config::Env;
use clara_config::model::provider::{EmbeddingsConfig, ProviderConfig};
use clara_core::llm::{BoxFuture, Embedded, Embedder, ProviderError, ProviderErrorKind};
use serde_json::json;

use super::endpoint::Endpoint;
use super::http::{post_json, transport_error};
use super::openai;
use super::retry::{AttemptError, with_retries};

/// An embeddings client.
pub struct HttpEmbedder {
    endpoint: Endpoint,
    settings: EmbeddingsConfig,
}

impl HttpEmbedder {
    /// Builds the embedder on provider `name` (which must speak the OpenAI format).
    pub fn new(
        name: &str,
        provider: &ProviderConfig,
        settings: &EmbeddingsConfig,
        env: &Env,
    ) -> Result<Self, ProviderError> {
        Ok(HttpEmbedder {
            endpoint: Endpoint::new(name, provider, env)?,
            settings: settings.clone(),
        })
    }

    async fn batch(&self, texts: &[String]) -> Result<Embedded, AttemptError> {
        let endpoint = &self.endpoint;
        let model = &self.settings.model;
        // Newlines hurt some embedding models and carry no meaning for search.
        let input: Vec<String> = texts.iter().map(|t| t.replace('\n', " ")).collect();
        let body =
            json!({ "model": model, "input": input, "dimensions": self.settings.dimensions });
        let url = openai::embeddings_url(&endpoint.base_url);
        let response = post_json(
            &endpoint.http,
            &endpoint.origin,
            model,
            &url,
            &endpoint.headers,
            &body,
            endpoint.first_byte_timeout(),
        )
        .await?;
        let error = |kind| AttemptError::from(endpoint.origin.error(model, kind));
        let text = response
            .text()
            .await
            .map_err(|e| error(transport_error(&e)))?;
        let embedded = openai::parse_embeddings(&text, texts.len())
            .map_err(|m| error(ProviderErrorKind::Decode(m)))?;
        let expected = self.settings.dimensions as usize;
        if let Some(bad) = embedded.vectors.iter().find(|v| v.len() != expected) {
            let message = format!(
                "expected vectors of {expected} dimensions, got {}",
                bad.len()
            );
            return Err(error(ProviderErrorKind::Decode(message)));
        }
        Ok(embedded)
    }
}

impl Embedder for HttpEmbedder {
    fn provider(&self) -> &str {
        &self.endpoint.origin.provider
    }

    fn model(&self) -> &str {
        &self.settings.model
    }

    fn dimensions(&self) -> usize {
        self.settings.dimensions as usize
    }

    fn embed<'a>(&'a self, texts: &'a [String]) -> BoxFuture<'a, Result<Embedded, ProviderError>> {
        Box::pin(async move {
            let mut all = Embedded {
                vectors: Vec::with_capacity(texts.len()),
                tokens: 0,
            };
            let total = self.endpoint.total_timeout();
            for chunk in texts.chunks(self.settings.batch_size.max(1) as usize) {
                let batch = with_retries(&self.endpoint.config.retry, || async {
                    match tokio::time::timeout(total, self.batch(chunk)).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err(self
                            .endpoint
                            .origin
                            .error(
                                &self.settings.model,
                                ProviderErrorKind::Timeout("the whole reply"),
                            )
                            .into()),
                    }
                })
                .await?;
                all.vectors.extend(batch.vectors);
                all.tokens = all.tokens.saturating_add(batch.tokens);
            }
            Ok(all)
        })
    }
}
