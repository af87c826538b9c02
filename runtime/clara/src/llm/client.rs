//! A provider over HTTP: one model call with time limits, retries, streaming folded into a
//! complete response, and XML tool-call mode for models without native tools.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use clara_config::Env;
use clara_config::model::common::ToolCallMode;
use clara_config::model::provider::{ProviderConfig, ProviderKind};
use clara_core::llm::xml_tools::{self, XmlStreamFilter};
use clara_core::llm::{
    BoxFuture, ChatRequest, ChatResponse, DeltaSink, Part, Provider, ProviderError,
    ProviderErrorKind, StopReason,
};

use super::endpoint::Endpoint;
use super::http::{post_json, transport_error};
use super::retry::{AttemptError, with_retries};
use super::wire::Reply;
use super::{anthropic, codec, openai};

/// A chat provider of either wire format.
pub struct HttpProvider {
    name: String,
    endpoint: Endpoint,
    url: String,
}

impl HttpProvider {
    /// Builds the provider `name`, reading its secrets from `env`.
    pub fn new(name: &str, config: &ProviderConfig, env: &Env) -> Result<Self, ProviderError> {
        let endpoint = Endpoint::new(name, config, env)?;
        let url = match config.kind {
            ProviderKind::Openai => openai::chat_url(&endpoint.base_url),
            ProviderKind::Anthropic => anthropic::messages_url(&endpoint.base_url),
        };
        Ok(HttpProvider {
            name: name.to_owned(),
            endpoint,
            url,
        })
    }

    /// One HTTP exchange; each decoded text delta goes to `on_text`.
    async fn attempt(
        &self,
        body: &serde_json::Value,
        stream: bool,
        model: &str,
        on_text: &(dyn Fn(&str) + Sync),
    ) -> Result<Reply, AttemptError> {
        let endpoint = &self.endpoint;
        let kind = endpoint.config.kind;
        let response = post_json(
            &endpoint.http,
            &endpoint.origin,
            model,
            &self.url,
            &endpoint.headers,
            body,
            endpoint.first_byte_timeout(),
        )
        .await?;
        let error = |kind| AttemptError::from(endpoint.origin.error(model, kind));
        let max_bytes = endpoint.config.max_reply_bytes as usize;
        if stream {
            return codec::read_stream(kind, response.bytes_stream(), on_text, max_bytes)
                .await
                .map_err(error);
        }
        // A whole body is read only up to its allowance: past that it cannot be parsed
        // anyway, and must not be held in memory.
        let limit = max_bytes.saturating_mul(codec::FRAMING_ALLOWANCE);
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| error(transport_error(&e)))?
        {
            if body.len() + chunk.len() > limit {
                return Err(error(ProviderErrorKind::Decode(format!(
                    "the reply is larger than {limit} bytes (`max_reply_bytes` × {})",
                    codec::FRAMING_ALLOWANCE
                ))));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&body);
        codec::parse_body(kind, &text).map_err(error)
    }
}

impl Provider for HttpProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
        on_delta: DeltaSink<'a>,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(async move {
            let config = &self.endpoint.config;
            let text_only;
            let request = if config.vision || !has_images(request) {
                request
            } else {
                text_only = without_images(request);
                &text_only
            };
            let model = request.model_on(config);
            let xml = !request.tools.is_empty()
                && request.tool_call_mode.unwrap_or(config.tool_call_mode) == ToolCallMode::Xml;
            let prepared = xml.then(|| xml_tools::prepare(request));
            let wire_request = prepared.as_ref().unwrap_or(request);
            let body = codec::request_body(config, wire_request, &model);
            let total = self.endpoint.total_timeout();
            // Bytes of reply text the caller has seen: any at all makes a failure final, and in
            // XML mode it marks where the held-back rest of a call-free reply starts.
            let forwarded = AtomicUsize::new(0);
            let deliver = |text: &str| {
                if !text.is_empty() {
                    forwarded.fetch_add(text.len(), Ordering::SeqCst);
                    on_delta(text);
                }
            };
            let filter = Mutex::new(XmlStreamFilter::new());
            let attempts = AtomicUsize::new(0);
            let reply = with_retries(&config.retry, || async {
                let number = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                // One span per HTTP attempt under the engine's `chat` span: retries and
                // fallbacks show as attempts, each with its provider and how it failed. It
                // lasts until dropped after the attempt; nothing runs under it, so it is not
                // entered on each of the stream's many polls.
                let span = tracing::info_span!(
                    target: clara_core::engine::trace::TARGET,
                    "attempt",
                    clara.provider = self.name.as_str(),
                    clara.attempt = number as u64,
                    error.type = tracing::field::Empty,
                );
                *filter.lock().expect("filter lock") = XmlStreamFilter::new();
                let on_text = |text: &str| {
                    if xml {
                        let shown = filter.lock().expect("filter lock").push(text);
                        deliver(&shown);
                    } else {
                        deliver(text);
                    }
                };
                let outcome = match tokio::time::timeout(
                    total,
                    self.attempt(&body, wire_request.stream, &model, &on_text),
                )
                .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Err(self
                        .endpoint
                        .origin
                        .error(&model, ProviderErrorKind::Timeout("the whole reply"))
                        .into()),
                };
                outcome.map_err(|mut failure| {
                    span.record("error.type", failure.error.kind.name().as_str());
                    failure.error.partial_output = forwarded.load(Ordering::SeqCst) > 0;
                    failure
                })
            })
            .await?;
            let mut response = ChatResponse {
                text: reply.text,
                tool_calls: reply.tool_calls,
                stop_reason: reply.stop.unwrap_or(StopReason::Other),
                usage: reply.usage,
                provider: self.name.clone(),
                model,
            };
            if xml {
                let earlier_calls = request.messages.iter().map(|m| m.tool_calls.len()).sum();
                let (text, calls) = xml_tools::parse(&response.text, earlier_calls);
                if calls.is_empty() && request.stream {
                    // No calls after all (or an unclosed block, which is plain text): the
                    // caller gets everything the filter held back.
                    let seen = forwarded.load(Ordering::SeqCst);
                    deliver(response.text.get(seen..).unwrap_or_default());
                }
                if !calls.is_empty() {
                    response.stop_reason = StopReason::ToolUse;
                }
                response.text = text;
                response.tool_calls = calls;
            }
            Ok(response)
        })
    }
}

/// Said to a model without vision (`vision = false`) in place of each image.
const IMAGE_WITHHELD: &str = "[An image was attached here; this model cannot see images.]";

fn has_images(request: &ChatRequest) -> bool {
    request
        .messages
        .iter()
        .any(|m| m.parts.iter().any(|p| matches!(p, Part::Image { .. })))
}

/// `request` with every image replaced by a note, for a model that cannot take images.
fn without_images(request: &ChatRequest) -> ChatRequest {
    let mut copy = request.clone();
    for message in &mut copy.messages {
        for part in &mut message.parts {
            if matches!(part, Part::Image { .. }) {
                *part = Part::Text(IMAGE_WITHHELD.to_owned());
            }
        }
    }
    copy
}
