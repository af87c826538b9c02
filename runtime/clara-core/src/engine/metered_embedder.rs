//! The embedder as memory work sees it: each call let through by the budgets it falls under
//! and recorded in the usage log for whoever the work is for, like a chat call.

use clara_config::model::pricing::Tokens;

use super::EngineError;
use super::meter::Meter;
use super::services::Services;
use crate::llm::{BoxFuture, Embedded, Embedder, ProviderError, ProviderErrorKind};

/// The generation's embedder, counted for one meter.
pub(crate) struct MeteredEmbedder<'a> {
    services: &'a Services,
    inner: &'a dyn Embedder,
    meter: Meter<'a>,
}

impl<'a> MeteredEmbedder<'a> {
    /// The generation's embedder counted for `meter`; `None` when embeddings are off.
    pub(crate) fn new(services: &'a Services, meter: Meter<'a>) -> Option<Self> {
        let inner = services.embedder.as_deref()?;
        Some(MeteredEmbedder {
            services,
            inner,
            meter,
        })
    }

    /// Embeds `texts` once the budgets let it (reserving about four characters a token), and
    /// records the tokens the API reported.
    pub(crate) async fn embed_counted(&self, texts: &[String]) -> Result<Embedded, EngineError> {
        let services = self.services;
        let (provider, model) = (self.inner.provider(), self.inner.model());
        let admission = services
            .admit(&self.meter, || {
                let chars = texts.iter().map(String::len).sum();
                services.estimate_spend(provider, Some(model), chars, 0)
            })
            .await?;
        let embedded = self.inner.embed(texts).await?;
        let tokens = Tokens {
            input: embedded.tokens,
            ..Tokens::default()
        };
        let spent = services
            .record(&self.meter, provider, model, None, tokens)
            .await;
        if let Some(admission) = admission {
            admission.settle(spent, &self.meter, services.events.as_ref());
        }
        Ok(embedded)
    }

    /// Itself, as tools see an embedder.
    pub(crate) fn as_dyn(&self) -> &dyn Embedder {
        self
    }
}

impl Embedder for MeteredEmbedder<'_> {
    fn provider(&self) -> &str {
        self.inner.provider()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    fn dimensions(&self) -> usize {
        self.inner.dimensions()
    }

    fn embed<'b>(&'b self, texts: &'b [String]) -> BoxFuture<'b, Result<Embedded, ProviderError>> {
        Box::pin(async move {
            self.embed_counted(texts)
                .await
                .map_err(|error| match error {
                    EngineError::Provider(error) => error,
                    // A spent budget (or a store that could not say what was spent) stops the
                    // call as a provider that refused it would.
                    other => ProviderError {
                        provider: self.inner.provider().to_owned(),
                        model: self.inner.model().to_owned(),
                        kind: ProviderErrorKind::Config(other.to_string()),
                        partial_output: false,
                    },
                })
        })
    }
}
