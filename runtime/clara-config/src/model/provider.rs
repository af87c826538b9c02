//! LLM provider and embeddings definitions in `clara.toml`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Tier, ToolCallMode, yes};
use super::pricing::Price;

/// One LLM endpoint. `kind = "openai"` covers OpenAI, OpenRouter, NanoGPT and every
/// OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio, Claude proxies);
/// `kind = "anthropic"` speaks Anthropic's native messages API.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Which wire format the endpoint speaks.
    pub kind: ProviderKind,
    /// Base URL, e.g. `https://openrouter.ai/api/v1`. Defaults to the vendor's own API.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Environment variable holding the API key. Leave out for servers without auth.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Extra HTTP headers sent with every request (e.g. OpenRouter's `HTTP-Referer`, `X-Title`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Extra headers whose values come from environment variables, header name to variable
    /// name (e.g. `CF-Access-Client-Secret = "CF_ACCESS_CLIENT_SECRET"`).
    #[serde(default)]
    pub headers_env: BTreeMap<String, String>,
    /// The base model: used when no tier is chosen, and for tool-bound calls on the low tier.
    pub model: String,
    /// Models per tier. A tier left out falls back to `model`.
    #[serde(default)]
    pub models: TierModels,
    /// How tools are offered to this provider's models.
    #[serde(default)]
    pub tool_call_mode: ToolCallMode,
    /// Largest reply, in tokens.
    #[serde(default = "default_max_tokens")]
    #[schemars(range(min = 1))]
    pub max_tokens: u32,
    /// Largest reply clara takes, in bytes of text, whatever the server sends: a longer one is
    /// cut there (and its stream closed), so a runaway server cannot flood the store, later
    /// prompts or memory. The raw response may be 64 times this (its JSON framing).
    #[serde(default = "default_max_reply_bytes")]
    #[schemars(range(min = 1024, max = 16777216))]
    pub max_reply_bytes: u32,
    /// Sampling temperature.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 2.0))]
    pub temperature: f32,
    /// Nucleus sampling; left out unless set.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub top_p: Option<f32>,
    /// Mark the stable start of every prompt (tools, instructions, persona, background,
    /// history) for the provider to cache: `cache_control` blocks in Anthropic's format, and
    /// in OpenRouter's pass-through for OpenAI-compatible servers. Left out: on for
    /// `anthropic`, off for `openai` (OpenAI itself caches without marks, and some servers
    /// refuse content given as parts).
    #[serde(default)]
    pub prompt_cache: Option<bool>,
    /// Whether the models accept images.
    #[serde(default = "yes")]
    pub vision: bool,
    /// Time limits for one request.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Retries on 429, 5xx and connection errors.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Providers to try, in order, when this one keeps failing.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Prices of this provider's models, over `[pricing]` and the shipped table (US dollars
    /// per million tokens).
    #[serde(default)]
    pub pricing: BTreeMap<String, Price>,
}

impl ProviderConfig {
    /// Whether requests carry cache marks (`prompt_cache`, or the kind's default).
    pub fn caches_prompts(&self) -> bool {
        self.prompt_cache
            .unwrap_or(self.kind == ProviderKind::Anthropic)
    }

    /// The model for a call on `tier`. A tool-bound call never runs on the low tier: it uses
    /// the base model, because small models handle tools badly.
    pub fn model_for_call(&self, tier: Option<Tier>, tool_bound: bool) -> &str {
        let tier = if tool_bound && tier == Some(Tier::Low) {
            None
        } else {
            tier
        };
        self.model_for(tier)
    }

    /// The model for `tier`, or the base model when the tier has none.
    pub fn model_for(&self, tier: Option<Tier>) -> &str {
        let chosen = match tier {
            Some(Tier::High) => self.models.high.as_deref(),
            Some(Tier::Mid) => self.models.mid.as_deref(),
            Some(Tier::Low) => self.models.low.as_deref(),
            None => None,
        };
        chosen.unwrap_or(&self.model)
    }
}

/// The wire format a provider speaks.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI chat completions (`POST {base_url}/chat/completions`).
    Openai,
    /// Anthropic messages (`POST {base_url}/v1/messages`).
    Anthropic,
}

/// Models per tier.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TierModels {
    /// Model for the high tier (`!high`, `!opus`).
    #[serde(default)]
    pub high: Option<String>,
    /// Model for the mid tier (`!mid`, `!sonnet`).
    #[serde(default)]
    pub mid: Option<String>,
    /// Model for the low tier (`!low`, `!haiku`, `!fast`).
    #[serde(default)]
    pub low: Option<String>,
}

/// Time limits for one provider request, in seconds.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Establishing the connection.
    #[serde(default = "default_connect_secs")]
    #[schemars(range(min = 1))]
    pub connect_secs: u32,
    /// Waiting for the first byte of the reply.
    #[serde(default = "default_first_byte_secs")]
    #[schemars(range(min = 1))]
    pub first_byte_secs: u32,
    /// The whole request, streaming included.
    #[serde(default = "default_total_secs")]
    #[schemars(range(min = 1))]
    pub total_secs: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_secs: default_connect_secs(),
            first_byte_secs: default_first_byte_secs(),
            total_secs: default_total_secs(),
        }
    }
}

/// Retry with exponential backoff and jitter; `Retry-After` is honoured.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff, in milliseconds.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u32,
    /// Longest backoff, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

/// The OpenAI-compatible `/embeddings` endpoint used for vector memory search.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsConfig {
    /// Use embeddings. When off, memory search runs on full text alone.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The provider (of kind `openai`) that serves `/embeddings`. Defaults to
    /// `defaults.provider`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Embedding model. Changing it re-embeds existing memories.
    #[serde(default = "default_embedding_model")]
    pub model: String,
    /// Vector size the model returns (sent as `dimensions`).
    #[serde(default = "default_dimensions")]
    #[schemars(range(min = 1, max = 16000))]
    pub dimensions: u32,
    /// Texts sent per request.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1, max = 2048))]
    pub batch_size: u32,
}

fn default_max_tokens() -> u32 {
    4096
}
fn default_max_reply_bytes() -> u32 {
    256 * 1024
}
fn default_connect_secs() -> u32 {
    10
}
fn default_first_byte_secs() -> u32 {
    60
}
fn default_total_secs() -> u32 {
    300
}
fn default_max_retries() -> u32 {
    3
}
fn default_initial_backoff_ms() -> u32 {
    500
}
fn default_max_backoff_ms() -> u32 {
    30_000
}
fn default_embedding_model() -> String {
    "text-embedding-3-small".to_owned()
}
fn default_dimensions() -> u32 {
    1536
}
fn default_batch_size() -> u32 {
    64
}
