//! One configured provider endpoint: its client, base URL, authentication and headers.

use std::time::Duration;

use clara_config::Env;
use clara_config::model::provider::{ProviderConfig, ProviderKind};
use clara_core::llm::{ProviderError, ProviderErrorKind};
use reqwest::header::HeaderMap;

use super::anthropic;
use super::http::{Origin, client, header_map};

/// Everything needed to send requests to one provider.
pub(crate) struct Endpoint {
    pub config: ProviderConfig,
    pub http: reqwest::Client,
    pub base_url: String,
    pub headers: HeaderMap,
    pub origin: Origin,
}

impl Endpoint {
    /// Reads the key and header secrets from `env`; a missing variable is a config error.
    pub(crate) fn new(
        name: &str,
        config: &ProviderConfig,
        env: &Env,
    ) -> Result<Self, ProviderError> {
        let mut origin = Origin {
            provider: name.to_owned(),
            secrets: Vec::new(),
        };
        let missing = |origin: &Origin, var: &str| {
            origin.error(
                &config.model,
                ProviderErrorKind::Config(format!("environment variable `{var}` is not set")),
            )
        };
        let mut pairs: Vec<(String, String)> = config
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (header, var) in &config.headers_env {
            let value = env.get(var).ok_or_else(|| missing(&origin, var))?;
            origin.secrets.push(value.to_owned());
            pairs.push((header.clone(), value.to_owned()));
        }
        if let Some(var) = &config.api_key_env {
            let key = env.get(var).ok_or_else(|| missing(&origin, var))?;
            origin.secrets.push(key.to_owned());
            match config.kind {
                ProviderKind::Openai => {
                    pairs.push(("authorization".to_owned(), format!("Bearer {key}")));
                }
                ProviderKind::Anthropic => pairs.push(("x-api-key".to_owned(), key.to_owned())),
            }
        }
        if config.kind == ProviderKind::Anthropic {
            pairs.push((
                "anthropic-version".to_owned(),
                anthropic::VERSION.to_owned(),
            ));
        }
        let headers = header_map(pairs)
            .map_err(|m| origin.error(&config.model, ProviderErrorKind::Config(m)))?;
        let base_url = config.base_url.clone().unwrap_or_else(|| {
            match config.kind {
                ProviderKind::Openai => "https://api.openai.com/v1",
                ProviderKind::Anthropic => "https://api.anthropic.com",
            }
            .to_owned()
        });
        Ok(Endpoint {
            config: config.clone(),
            http: client(&config.timeouts),
            base_url,
            headers,
            origin,
        })
    }

    pub(crate) fn first_byte_timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeouts.first_byte_secs.into())
    }

    pub(crate) fn total_timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeouts.total_secs.into())
    }
}
