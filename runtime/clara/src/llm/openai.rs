//! The OpenAI chat-completions wire format (OpenAI, OpenRouter, NanoGPT, Ollama, vLLM, …).

use clara_core::llm::{
    ChatRequest, Embedded, Message, Part, ProviderErrorKind, Role, StopReason, ToolCall, Usage,
};
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::{Reply, StreamDecoder, WireError, bad_event, parse_arguments};

/// The chat endpoint under a base URL such as `https://openrouter.ai/api/v1`.
pub(crate) fn chat_url(base: &str) -> String {
    format!("{}/chat/completions", base.trim_end_matches('/'))
}

/// The embeddings endpoint under a base URL.
pub(crate) fn embeddings_url(base: &str) -> String {
    format!("{}/embeddings", base.trim_end_matches('/'))
}

/// The most cache marks one request carries (what OpenRouter passes on to Anthropic takes).
const MAX_CACHE_MARKS: usize = 4;

/// The request body. With `caching`, the latest messages marked as cache points (up to four)
/// carry their content as parts, the last text part with `cache_control`, as OpenRouter
/// passes on to providers that cache on request.
pub(crate) fn body(
    request: &ChatRequest,
    model: &str,
    max_tokens: u32,
    temperature: f32,
    top_p: Option<f32>,
    caching: bool,
) -> Value {
    let mut messages: Vec<Value> = request.messages.iter().map(message).collect();
    if caching {
        let marked = request
            .messages
            .iter()
            .zip(messages.iter_mut())
            .rev()
            .filter(|(m, _)| m.cache_point)
            .take(MAX_CACHE_MARKS);
        for (_, out) in marked {
            mark_cache(out);
        }
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": request.stream,
    });
    if let Some(top_p) = top_p {
        body["top_p"] = json!(top_p);
    }
    if request.stream {
        body["stream_options"] = json!({ "include_usage": true });
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({ "type": "function", "function": { "name": t.name, "description": t.description, "parameters": t.parameters } }))
            .collect();
    }
    body
}

fn message(message: &Message) -> Value {
    match message.role {
        Role::System => json!({ "role": "system", "content": message.text() }),
        Role::User if message.parts.iter().all(|p| matches!(p, Part::Text(_))) => {
            json!({ "role": "user", "content": message.text() })
        }
        Role::User => {
            json!({ "role": "user", "content": message.parts.iter().map(content_part).collect::<Vec<_>>() })
        }
        Role::Assistant => {
            let text = message.text();
            let mut out = json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) } });
            if !message.tool_calls.is_empty() {
                out["tool_calls"] = message
                    .tool_calls
                    .iter()
                    .map(|c| json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": c.arguments.to_string() } }))
                    .collect();
            }
            out
        }
        Role::Tool => {
            json!({ "role": "tool", "tool_call_id": message.tool_call_id, "content": message.text() })
        }
    }
}

/// Puts `cache_control` on the last text part of a wire message, turning string content into
/// a text part first. A message without text (tool calls only) is left as it is.
fn mark_cache(message: &mut Value) {
    if let Some(text) = message["content"].as_str().map(str::to_owned) {
        message["content"] = json!([{ "type": "text", "text": text }]);
    }
    let parts = message["content"].as_array_mut().into_iter().flatten();
    if let Some(last) = parts.filter(|p| p["type"] == "text").last() {
        last["cache_control"] = json!({ "type": "ephemeral" });
    }
}

fn content_part(part: &Part) -> Value {
    match part {
        Part::Text(text) => json!({ "type": "text", "text": text }),
        Part::Image { media_type, data } => {
            json!({ "type": "image_url", "image_url": { "url": format!("data:{media_type};base64,{data}") } })
        }
    }
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        _ => StopReason::Other,
    }
}

fn usage(value: &Value) -> Option<Usage> {
    let usage = value.get("usage").filter(|u| u.is_object())?;
    let count = |key: &str| usage.pointer(key).and_then(Value::as_u64).unwrap_or(0) as u32;
    Some(usage_of(
        count("/prompt_tokens"),
        count("/completion_tokens"),
        count("/prompt_tokens_details/cached_tokens"),
        count("/prompt_tokens_details/cache_write_tokens"),
    ))
}

/// A complete (non-streamed) response body.
pub(crate) fn parse(body: &str) -> Result<Reply, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let choice = value
        .pointer("/choices/0")
        .ok_or("no `choices` in the reply")?;
    let message = choice
        .get("message")
        .ok_or("no `message` in the first choice")?;
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        // Some servers send content as a list of text parts.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    let tool_calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{i}"), str::to_owned),
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            arguments: parse_arguments(
                call.pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ),
        })
        .collect();
    Ok(Reply {
        text,
        tool_calls,
        stop: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(stop_reason),
        usage: usage(&value).unwrap_or_default(),
    })
}

/// Streamed chunks: `choices[0].delta` text and tool-call fragments, then `[DONE]`.
#[derive(Default)]
pub(crate) struct Decoder {
    reply: Reply,
    /// Tool calls being assembled, by the stream's `index`: (id, name, arguments so far).
    calls: Vec<(String, String, String)>,
}

/// One streamed chunk, read without building a JSON tree: fields borrow from the event text
/// (`Cow` for strings that needed unescaping), and every field we do not use is skipped.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default, borrow)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<ChunkDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Default)]
struct ChunkDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolFragment<'a>>>,
}

#[derive(Deserialize)]
struct ToolFragment<'a> {
    #[serde(default)]
    index: usize,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    function: Option<FunctionFragment<'a>>,
}

#[derive(Deserialize)]
struct FunctionFragment<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    // Some compatible servers send `null`.
    #[serde(default)]
    cached_tokens: Option<u32>,
    /// OpenRouter's count of tokens written to the cache on request.
    #[serde(default)]
    cache_write_tokens: Option<u32>,
}

/// OpenAI counts cached tokens (and OpenRouter the ones written to the cache) inside
/// `prompt_tokens`; clara's input count is the rest.
fn usage_of(prompt: u32, completion: u32, cached: u32, written: u32) -> Usage {
    Usage {
        input_tokens: prompt.saturating_sub(cached).saturating_sub(written),
        output_tokens: completion,
        cache_read_tokens: cached,
        cache_write_tokens: written,
    }
}

impl StreamDecoder for Decoder {
    fn event(
        &mut self,
        _name: &str,
        data: &str,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<bool, ProviderErrorKind> {
        if data.trim() == "[DONE]" {
            return Ok(true);
        }
        let chunk: Chunk<'_> = serde_json::from_str(data).map_err(bad_event)?;
        if chunk.error.is_some() {
            return Err(WireError::describe(chunk.error));
        }
        if let Some(usage) = chunk.usage {
            let details = usage.prompt_tokens_details;
            let (cached, written) = details.map_or((0, 0), |d| {
                (
                    d.cached_tokens.unwrap_or(0),
                    d.cache_write_tokens.unwrap_or(0),
                )
            });
            self.reply.usage = usage_of(
                usage.prompt_tokens,
                usage.completion_tokens,
                cached,
                written,
            );
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(false);
        };
        let delta = choice.delta.unwrap_or_default();
        if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
            self.reply.text.push_str(&text);
            on_text(&text);
        }
        for fragment in delta.tool_calls.into_iter().flatten() {
            if self.calls.len() <= fragment.index {
                self.calls.resize(fragment.index + 1, Default::default());
            }
            let (id, name, arguments) = &mut self.calls[fragment.index];
            if let Some(new_id) = fragment.id {
                *id = new_id.into_owned();
            }
            if let Some(function) = fragment.function {
                name.push_str(function.name.as_deref().unwrap_or_default());
                arguments.push_str(function.arguments.as_deref().unwrap_or_default());
            }
        }
        if let Some(reason) = choice.finish_reason {
            self.reply.stop = Some(stop_reason(&reason));
        }
        Ok(false)
    }

    fn finish(self: Box<Self>) -> Reply {
        let mut reply = self.reply;
        reply.tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            .filter(|(_, (_, name, _))| !name.is_empty())
            .map(|(i, (id, name, arguments))| ToolCall {
                id: if id.is_empty() {
                    format!("call_{i}")
                } else {
                    id
                },
                name,
                arguments: parse_arguments(&arguments),
            })
            .collect();
        reply
    }
}

/// An embeddings response: vectors ordered by their `index`, and `usage.prompt_tokens`.
pub(crate) fn parse_embeddings(body: &str, expected: usize) -> Result<Embedded, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no `data` in the reply")?;
    let mut vectors: Vec<(usize, Vec<f32>)> = data
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let index = item
                .get("index")
                .and_then(Value::as_u64)
                .map_or(i, |n| n as usize);
            let vector = item
                .get("embedding")
                .and_then(Value::as_array)
                .ok_or("an item has no `embedding`")?
                .iter()
                .map(|x| {
                    x.as_f64()
                        .map(|f| f as f32)
                        .ok_or("an embedding holds a non-number")
                })
                .collect::<Result<Vec<f32>, _>>()?;
            Ok((index, vector))
        })
        .collect::<Result<_, &str>>()?;
    if vectors.len() != expected {
        return Err(format!(
            "asked for {expected} embeddings, got {}",
            vectors.len()
        ));
    }
    vectors.sort_by_key(|(index, _)| *index);
    let tokens = value
        .pointer("/usage/prompt_tokens")
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(Embedded {
        vectors: vectors.into_iter().map(|(_, v)| v).collect(),
        tokens,
    })
}
