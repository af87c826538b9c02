//! The wire formats as plain functions: the request body for a provider, and reading a
//! server-sent-event stream into text deltas and a complete reply. The HTTP client uses these;
//! so does the benchmark, which measures them without a network in between.

use clara_config::model::provider::{ProviderConfig, ProviderKind};
use clara_core::llm::{ChatRequest, ProviderErrorKind, StopReason};
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};

use super::wire::{Reply, StreamDecoder};
use super::{anthropic, openai};

/// The JSON body of a chat request to a provider of `config.kind`.
pub fn request_body(
    config: &ProviderConfig,
    request: &ChatRequest,
    model: &str,
) -> serde_json::Value {
    let max_tokens = request.max_tokens.unwrap_or(config.max_tokens);
    let temperature = request.temperature.unwrap_or(config.temperature);
    let (top_p, caching) = (config.top_p, config.caches_prompts());
    match config.kind {
        ProviderKind::Openai => {
            openai::body(request, model, max_tokens, temperature, top_p, caching)
        }
        ProviderKind::Anthropic => {
            anthropic::body(request, model, max_tokens, temperature, top_p, caching)
        }
    }
}

/// A complete (non-streamed) response body of a provider of `kind`.
pub fn parse_body(kind: ProviderKind, body: &str) -> Result<Reply, ProviderErrorKind> {
    match kind {
        ProviderKind::Openai => openai::parse(body),
        ProviderKind::Anthropic => anthropic::parse(body),
    }
    .map_err(ProviderErrorKind::Decode)
}

/// How much bigger than its text a response may be (JSON framing, a delta per event).
pub const FRAMING_ALLOWANCE: usize = 64;

/// Reads a streamed reply: each text delta goes to `on_text` as it is decoded. A stream that
/// ends before the API's end marker is an error, never a silently short reply. A reply whose
/// text passes `max_bytes` (or whose events pass [`FRAMING_ALLOWANCE`] times that) is cut
/// there: the stream is dropped and the reply ends as if the token limit was hit.
pub async fn read_stream<S, B, E>(
    kind: ProviderKind,
    bytes: S,
    on_text: &(dyn Fn(&str) + Sync),
    max_bytes: usize,
) -> Result<Reply, ProviderErrorKind>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let mut decoder: Box<dyn StreamDecoder> = match kind {
        ProviderKind::Openai => Box::<openai::Decoder>::default(),
        ProviderKind::Anthropic => Box::<anthropic::Decoder>::default(),
    };
    let mut events = bytes.eventsource();
    let (mut shown, mut raw) = (0usize, 0usize);
    let mut cut = false;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| ProviderErrorKind::StreamCut(e.to_string()))?;
        raw += event.data.len();
        let mut forward = |text: &str| {
            let room = max_bytes.saturating_sub(shown);
            let kept = &text[..floor_char_boundary(text, room)];
            if !kept.is_empty() {
                on_text(kept);
            }
            shown += kept.len();
            cut |= kept.len() < text.len();
        };
        let done = decoder.event(&event.event, &event.data, &mut forward)?;
        if cut || raw > max_bytes.saturating_mul(FRAMING_ALLOWANCE) {
            let mut reply = decoder.finish();
            reply.text.truncate(floor_char_boundary(&reply.text, shown));
            reply.stop = Some(StopReason::MaxTokens);
            tracing::warn!(max_bytes, "the reply was cut at `max_reply_bytes`");
            return Ok(reply);
        }
        if done {
            return Ok(decoder.finish());
        }
    }
    Err(ProviderErrorKind::StreamCut(
        "the connection closed before the reply was complete".to_owned(),
    ))
}

/// The largest index at most `at` that is a char boundary of `text`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    (0..=at)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}
