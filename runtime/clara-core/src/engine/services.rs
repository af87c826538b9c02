//! What steps, jobs and tools call on: providers, the embedder, the store, the tools, the
//! clock and the event sink. Steps see these, never the generation that holds them.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use clara_config::ConfigSet;
use clara_config::model::common::Tier;
use clara_config::model::common::{glob_match, is_glob};
use clara_config::model::pricing::Tokens;
use clara_config::model::provider::ProviderKind;
use tracing::Instrument;

use super::EngineError;
use super::approval::Approvers;
use super::budget::{Admission, Budgets};
use super::clock::Clock;
use super::event_data::{EventData, LlmUsage};
use super::events::{Event, EventSink};
pub(crate) use super::meter::Meter;
use super::meter::Spend;
use super::rate_windows::RateWindows;
use super::tools::{Tool, ToolContext, ToolSource};
use super::trace;
use crate::llm::{ChatRequest, ChatResponse, DeltaSink, Embedder, Provider, StopReason};
use crate::store::{Store, UsageRecord};

/// The live parts of a generation, shared by everything that runs in it.
pub struct Services {
    /// Providers by name (with their fallback chains).
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// The embedder, when embeddings are on.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The fixed tools; personas and pipelines choose from these and from `tool_sources`.
    pub tools: Vec<Arc<dyn Tool>>,
    /// Tools whose list changes while the generation runs (MCP servers).
    pub tool_sources: Vec<Arc<dyn ToolSource>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where events go.
    pub events: Arc<dyn EventSink>,
    /// `defaults.provider`, or the only provider.
    pub(crate) default_provider: Option<String>,
    /// Fusion settings for memory search: (candidates per side, rrf k).
    pub(crate) search: (u32, u32),
    /// The configuration, for model prices.
    pub(crate) config: Arc<ConfigSet>,
    /// Models already warned about having no price, so each is said once.
    pub(crate) unpriced: Mutex<HashSet<String>>,
    /// `[budgets]` and what each has spent.
    pub(crate) budgets: Budgets,
    /// What rate limits count.
    pub(crate) rates: RateWindows,
    /// The adapters' ways to ask for tool approvals.
    pub approvers: Arc<Approvers>,
}

impl Services {
    /// A provider by name, or the default one (`defaults.provider`, or the only provider).
    pub fn provider(&self, name: Option<&str>) -> Result<Arc<dyn Provider>, EngineError> {
        let chosen = name.or(self.default_provider.as_deref());
        let chosen = chosen.ok_or_else(|| {
            EngineError::Config("no provider configured: set `defaults.provider`".to_owned())
        })?;
        self.providers
            .get(chosen)
            .cloned()
            .ok_or_else(|| EngineError::Config(format!("unknown provider `{chosen}`")))
    }

    /// Calls the provider `name` (or the default one) within the budgets `meter` falls under,
    /// and records the call's usage for it.
    pub(crate) async fn chat(
        &self,
        name: Option<&str>,
        request: &ChatRequest,
        on_delta: DeltaSink<'_>,
        meter: Meter<'_>,
    ) -> Result<ChatResponse, EngineError> {
        let provider = self.provider(name)?;
        let admission = self
            .admit(&meter, || self.estimate(provider.name(), request))
            .await?;
        // A downgraded call drops a model named for the original provider or tier: the tier
        // (or the other provider's own model) chooses.
        let downgrade = admission.as_ref().and_then(|a| a.downgrade);
        let downgraded = downgrade.map(|to| ChatRequest {
            tier: to.tier.or(request.tier),
            model: None,
            ..request.clone()
        });
        let provider = match downgrade.and_then(|to| to.provider.as_deref()) {
            Some(name) => self.provider(Some(name))?,
            None => provider,
        };
        let request = downgraded.as_ref().unwrap_or(request);
        let span = self.chat_span(provider.name(), request, meter.purpose);
        let response = provider
            .chat(request, on_delta)
            .instrument(span.clone())
            .await
            .inspect_err(|error| {
                span.record("error.type", error.kind.name().as_str());
            })?;
        self.chat_ended(&span, &response);
        let usage = response.usage;
        let tokens = Tokens {
            input: usage.input_tokens,
            output: usage.output_tokens,
            cache_read: usage.cache_read_tokens,
            cache_write: usage.cache_write_tokens,
        };
        let tier = request.tier.map(Tier::as_str);
        let spent = self
            .record(&meter, &response.provider, &response.model, tier, tokens)
            .await;
        if let Some(admission) = admission {
            admission.settle(spent, &meter, self.events.as_ref());
        }
        Ok(response)
    }

    /// Whether spans may carry what was said (`[telemetry] capture_content`).
    pub(crate) fn captures_content(&self) -> bool {
        self.config.clara.value.telemetry.capture_content
    }

    /// The span of a call to `provider`: what was asked for, and (with `capture_content`) the
    /// messages sent.
    fn chat_span(&self, provider: &str, request: &ChatRequest, purpose: &str) -> tracing::Span {
        let config = self.config.clara.value.providers.get(provider);
        let system = config.map_or("unknown", |c| match c.kind {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        });
        let model = config.map_or_else(
            || request.model.clone().unwrap_or_default(),
            |c| request.model_on(c),
        );
        let span = trace::chat(provider, system, &model, purpose);
        if self.captures_content() {
            let sent = serde_json::to_string(&request.messages).unwrap_or_default();
            span.record("gen_ai.input.messages", trace::content(&sent));
        }
        span
    }

    /// What came back, on the call's span.
    fn chat_ended(&self, span: &tracing::Span, response: &ChatResponse) {
        let usage = response.usage;
        let finish = match response.stop_reason {
            StopReason::EndTurn => "stop",
            StopReason::ToolUse => "tool_call",
            StopReason::MaxTokens => "length",
            StopReason::Other => "other",
        };
        span.record("gen_ai.response.model", response.model.as_str());
        span.record("gen_ai.response.finish_reasons", finish);
        let input = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
        span.record("gen_ai.usage.input_tokens", u64::from(input));
        span.record("gen_ai.usage.output_tokens", u64::from(usage.output_tokens));
        span.record(
            "gen_ai.usage.cache_read.input_tokens",
            u64::from(usage.cache_read_tokens),
        );
        span.record(
            "gen_ai.usage.cache_creation.input_tokens",
            u64::from(usage.cache_write_tokens),
        );
        if self.captures_content() {
            span.record("gen_ai.output.messages", trace::content(&response.text));
        }
    }

    /// Lets a call for `meter` through the budgets it falls under, reserving what `estimate`
    /// says it may spend. Budgets are checked (and the call estimated) only when one could
    /// apply: `None` then.
    pub(crate) async fn admit<'a>(
        &'a self,
        meter: &Meter<'a>,
        estimate: impl FnOnce() -> Spend,
    ) -> Result<Option<Admission<'a>>, EngineError> {
        if !self.budgets.any(meter) {
            return Ok(None);
        }
        let admission = self
            .budgets
            .admit(
                meter,
                estimate(),
                self.clock.now(),
                self.store.as_ref(),
                self.events.as_ref(),
            )
            .await?;
        Ok(Some(admission))
    }

    /// Records a call's usage for `meter` (priced from the table, added to the turn's
    /// spending, sent as an `llm:usage` event) and says what it spent. The record is kept
    /// before the answer goes on, so what a turn spent is counted even when the turn then
    /// fails; a store that cannot keep it is a warning, not a failed call.
    pub(crate) async fn record(
        &self,
        meter: &Meter<'_>,
        provider: &str,
        model: &str,
        tier: Option<&str>,
        tokens: Tokens,
    ) -> Spend {
        let price = self.config.clara.value.price(provider, model);
        if price.is_none() {
            let mut unpriced = self.unpriced.lock().unwrap_or_else(PoisonError::into_inner);
            if unpriced.insert(model.to_owned()) {
                tracing::warn!(
                    %provider,
                    %model,
                    "no price for this model: its calls count as free; add `[pricing.\"{model}\"]` to clara.toml"
                );
            }
        }
        let record = UsageRecord {
            at: self.clock.now(),
            user_id: meter.user_id.map(str::to_owned),
            conversation: meter.conversation.map(str::to_owned),
            pipeline: meter.pipeline.map(str::to_owned),
            purpose: meter.purpose.to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            tier: tier.map(str::to_owned),
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            cache_read_tokens: tokens.cache_read,
            cache_write_tokens: tokens.cache_write,
            cost_micros: price.map_or(0, |p| p.cost_micros(tokens)),
        };
        if let Err(error) = self.store.record_usage(&record).await {
            tracing::warn!(%error, "a model call's usage could not be recorded");
        }
        let spent = Spend {
            tokens: tokens.total(),
            micros: record.cost_micros,
        };
        if let Some(turn) = meter.spent {
            turn.add(spent);
        }
        self.events.emit(Event {
            platform: meter.turn.map(|(platform, _)| platform.to_owned()),
            user_id: record.user_id.clone(),
            channel_id: record.conversation.clone(),
            request_id: meter.turn.map(|(_, request)| request.to_owned()),
            automated: meter.automated,
            data: EventData::LlmUsage(LlmUsage {
                provider: record.provider,
                model: record.model,
                purpose: record.purpose,
                input_tokens: record.input_tokens,
                output_tokens: record.output_tokens,
                cache_read_tokens: record.cache_read_tokens,
                cache_write_tokens: record.cache_write_tokens,
                cost_micros: record.cost_micros,
            }),
        });
        spent
    }

    /// What a call may spend at most, reserved against its budgets while it runs: its prompt
    /// at about four characters a token, and its whole `max_tokens` of reply.
    fn estimate(&self, provider: &str, request: &ChatRequest) -> Spend {
        let clara = &self.config.clara.value;
        let config = clara.providers.get(provider);
        let chars: usize = request.messages.iter().map(prompt_chars).sum::<usize>()
            + request
                .tools
                .iter()
                .map(|t| t.name.len() + t.description.len() + json_chars(&t.parameters))
                .sum::<usize>();
        let output = request
            .max_tokens
            .or(config.map(|c| c.max_tokens))
            .unwrap_or(4096);
        let model = config.map(|c| request.model_on(c));
        self.estimate_spend(provider, model.as_deref(), chars, output)
    }

    /// What `chars` of prompt (at about four characters a token) and `output` tokens of reply
    /// cost at `model`'s price (nothing without a model or a price).
    pub(crate) fn estimate_spend(
        &self,
        provider: &str,
        model: Option<&str>,
        chars: usize,
        output: u32,
    ) -> Spend {
        let tokens = Tokens {
            input: u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX),
            output,
            ..Tokens::default()
        };
        let price = model.and_then(|m| self.config.clara.value.price(provider, m));
        Spend {
            tokens: tokens.total(),
            micros: price.map_or(0, |p| p.cost_micros(tokens)),
        }
    }

    /// What tool calls (and memory work) for `user_id` may use, embedding with `embedder`
    /// (the generation's, counted for whoever the work is for: a `MeteredEmbedder`).
    pub(crate) fn tool_context<'a>(
        &'a self,
        user_id: &'a str,
        embedder: Option<&'a dyn Embedder>,
    ) -> ToolContext<'a> {
        ToolContext {
            user_id,
            store: self.store.as_ref(),
            embedder,
            clock: self.clock.as_ref(),
            search: self.search,
            files: None,
            place: None,
        }
    }

    /// The tools a turn may offer: in the persona's list and the pipeline's list.
    pub fn allowed_tools(&self, persona: &[String], pipeline: &[String]) -> Vec<Arc<dyn Tool>> {
        let allowed = |patterns: &[String], name: &str| {
            patterns.iter().any(|p| {
                if is_glob(p) {
                    glob_match(p, name)
                } else {
                    p == name
                }
            })
        };
        let offered = |t: &Arc<dyn Tool>| {
            allowed(persona, &t.spec().name) && allowed(pipeline, &t.spec().name)
        };
        let mut tools: Vec<Arc<dyn Tool>> =
            self.tools.iter().filter(|t| offered(t)).cloned().collect();
        for source in &self.tool_sources {
            tools.extend(source.tools().iter().filter(|t| offered(t)).cloned());
        }
        tools
    }
}

/// Roughly what an image costs in a prompt, in characters (about a thousand tokens).
const IMAGE_CHARS: usize = 4_000;

/// A message's size in a prompt, in characters, without building its text.
fn prompt_chars(message: &crate::llm::Message) -> usize {
    let parts: usize = message
        .parts
        .iter()
        .map(|part| match part {
            crate::llm::Part::Text(text) => text.len(),
            crate::llm::Part::Image { .. } => IMAGE_CHARS,
        })
        .sum();
    parts
        + message
            .tool_calls
            .iter()
            .map(|call| call.name.len() + json_chars(&call.arguments))
            .sum::<usize>()
}

/// The length of `value` written as JSON, counted as it is written rather than kept.
fn json_chars(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{Message, ToolCall};

    #[test]
    fn a_prompt_is_sized_by_its_text_images_and_tool_calls() {
        let text = Message::user("a".repeat(40));
        assert_eq!(prompt_chars(&text), 40);
        let with_image = Message::user("look").with_image("image/png", "AAAA");
        assert_eq!(prompt_chars(&with_image), 4 + IMAGE_CHARS);
        let call = ToolCall {
            id: "c1".to_owned(),
            name: "roll".to_owned(),
            arguments: serde_json::json!({"sides": 6}),
        };
        let asked = Message::assistant_with_calls("", vec![call]);
        assert_eq!(prompt_chars(&asked), "roll".len() + r#"{"sides":6}"#.len());
    }
}
