//! Anthropic's native Messages wire format (the API itself, or a proxy such as clewdr).

use clara_core::llm::{
    ChatRequest, Message, Part, ProviderErrorKind, Role, StopReason, ToolCall, Usage,
};
use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::{Reply, StreamDecoder, WireError, bad_event, parse_arguments};

/// The API version clara speaks.
pub(crate) const VERSION: &str = "2023-06-01";

/// The messages endpoint: `{base}/v1/messages`, or `{base}/messages` when the base already
/// ends in `/v1`.
pub(crate) fn messages_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    }
}

/// Anthropic reads at most this many `cache_control` marks in one request.
const MAX_CACHE_MARKS: usize = 4;

/// The request body. The system messages that open the conversation go in `system`; a system
/// message after the conversation started (the per-turn context of a prompt built
/// stable-first) travels as text in the user turn it belongs to. Tool results travel as
/// `tool_result` blocks in user turns; consecutive turns of one role are merged, because the
/// API requires user and assistant to alternate. With `caching`, the last tool and the last
/// block of each message marked as a cache point get `cache_control` (the latest ones, up to
/// the API's four).
pub(crate) fn body(
    request: &ChatRequest,
    model: &str,
    max_tokens: u32,
    temperature: f32,
    top_p: Option<f32>,
    caching: bool,
) -> Value {
    let opening = request
        .messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    let (system, conversation) = request.messages.split_at(opening);
    // Only a prompt built stable-first has marks; any other request is sent unmarked.
    let caching = caching && request.messages.iter().any(|m| m.cache_point);
    let tool_mark = usize::from(caching && !request.tools.is_empty());
    let mut marks_left = MAX_CACHE_MARKS - tool_mark;
    // The latest marks are kept: each reads everything before it from the cache.
    let mut marked = vec![false; request.messages.len()];
    if caching {
        for (i, message) in request.messages.iter().enumerate().rev() {
            if message.cache_point && marks_left > 0 {
                marked[i] = true;
                marks_left -= 1;
            }
        }
    }
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for (message, mark) in conversation.iter().zip(&marked[opening..]) {
        let (role, mut blocks) = turn(message);
        if *mark {
            mark_last(&mut blocks);
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let mut body = json!({
        "model": model,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "messages": turns.into_iter().map(|(role, content)| json!({ "role": role, "content": content })).collect::<Vec<_>>(),
        "stream": request.stream,
    });
    if !system.is_empty() {
        // Plain text unless a mark needs a block to sit on.
        body["system"] = if marked[..opening].contains(&true) {
            let mut blocks: Vec<Value> = system
                .iter()
                .zip(&marked)
                .map(|(m, mark)| {
                    let mut block = json!({ "type": "text", "text": m.text() });
                    if *mark {
                        block["cache_control"] = ephemeral();
                    }
                    block
                })
                .collect();
            blocks.retain(|b| b["text"] != "");
            json!(blocks)
        } else {
            let texts: Vec<String> = system.iter().map(Message::text).collect();
            json!(texts.join("\n\n"))
        };
    }
    if let Some(top_p) = top_p {
        body["top_p"] = json!(top_p);
    }
    if !request.tools.is_empty() {
        let mut tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.parameters }))
            .collect();
        if tool_mark == 1 {
            mark_last(&mut tools);
        }
        body["tools"] = json!(tools);
    }
    body
}

fn ephemeral() -> Value {
    json!({ "type": "ephemeral" })
}

fn mark_last(blocks: &mut [Value]) {
    if let Some(last) = blocks.last_mut() {
        last["cache_control"] = ephemeral();
    }
}

fn turn(message: &Message) -> (&'static str, Vec<Value>) {
    let mut blocks: Vec<Value> = message
        .parts
        .iter()
        .filter_map(|part| match part {
            // The API rejects empty text blocks.
            Part::Text(text) if text.is_empty() => None,
            Part::Text(text) => Some(json!({ "type": "text", "text": text })),
            Part::Image { media_type, data } => {
                Some(json!({ "type": "image", "source": { "type": "base64", "media_type": media_type, "data": data } }))
            }
        })
        .collect();
    match message.role {
        Role::Assistant => {
            blocks.extend(message.tool_calls.iter().map(
                |c| json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments }),
            ));
            ("assistant", blocks)
        }
        Role::Tool => (
            "user",
            vec![
                json!({ "type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text() }),
            ],
        ),
        Role::User | Role::System => ("user", blocks),
    }
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" | "stop_sequence" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        _ => StopReason::Other,
    }
}

/// A complete (non-streamed) response body.
pub(crate) fn parse(body: &str) -> Result<Reply, String> {
    let value: Value = serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let content = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no `content` in the reply")?;
    let mut reply = Reply::default();
    for block in content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => reply.text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("tool_use") => reply.tool_calls.push(ToolCall {
                id: block
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: block
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                arguments: block
                    .get("input")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({})),
            }),
            _ => {}
        }
    }
    reply.stop = value
        .get("stop_reason")
        .and_then(Value::as_str)
        .map(stop_reason);
    let count = |key: &str| {
        value
            .pointer(&format!("/usage/{key}"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32
    };
    reply.usage = Usage {
        input_tokens: count("input_tokens"),
        output_tokens: count("output_tokens"),
        cache_read_tokens: count("cache_read_input_tokens"),
        cache_write_tokens: count("cache_creation_input_tokens"),
    };
    Ok(reply)
}

/// Streamed events: `content_block_*` carry text and tool input, `message_stop` ends it.
#[derive(Default)]
pub(crate) struct Decoder {
    reply: Reply,
    /// Blocks by index: `Some((id, name, input so far))` for tool_use, `None` for text.
    blocks: Vec<Option<(String, String, String)>>,
}

/// One streamed event, read without building a JSON tree (fields borrow from the event text).
/// Which fields are present depends on `type`; the rest default to empty.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    index: usize,
    #[serde(default, borrow)]
    delta: Option<EventDelta<'a>>,
    #[serde(default, borrow)]
    content_block: Option<BlockStart<'a>>,
    #[serde(default)]
    message: Option<MessageStart>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

#[derive(Deserialize)]
struct EventDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BlockStart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageStart {
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
}

impl StreamDecoder for Decoder {
    fn event(
        &mut self,
        name: &str,
        data: &str,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<bool, ProviderErrorKind> {
        if name == "ping" || data.trim().is_empty() {
            return Ok(false);
        }
        let event: Event<'_> = serde_json::from_str(data).map_err(bad_event)?;
        match event.kind.as_deref().unwrap_or(name) {
            "message_start" => {
                // Anthropic counts cached tokens apart from `input_tokens`.
                if let Some(usage) = event.message.and_then(|m| m.usage) {
                    self.reply.usage.input_tokens = usage.input_tokens.unwrap_or(0);
                    self.reply.usage.cache_read_tokens = usage.cache_read_input_tokens.unwrap_or(0);
                    self.reply.usage.cache_write_tokens =
                        usage.cache_creation_input_tokens.unwrap_or(0);
                }
            }
            "content_block_start" => {
                if self.blocks.len() <= event.index {
                    self.blocks.resize(event.index + 1, None);
                }
                if let Some(block) = event.content_block.filter(|b| b.kind == "tool_use") {
                    let owned =
                        |v: Option<Cow<'_, str>>| v.map(Cow::into_owned).unwrap_or_default();
                    self.blocks[event.index] =
                        Some((owned(block.id), owned(block.name), String::new()));
                }
            }
            "content_block_delta" => {
                let Some(delta) = event.delta else {
                    return Ok(false);
                };
                match delta.kind.as_deref() {
                    Some("text_delta") => {
                        if let Some(text) = delta.text.filter(|t| !t.is_empty()) {
                            self.reply.text.push_str(&text);
                            on_text(&text);
                        }
                    }
                    Some("input_json_delta") => {
                        if let Some(Some((_, _, input))) = self.blocks.get_mut(event.index) {
                            input.push_str(delta.partial_json.as_deref().unwrap_or_default());
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = event.delta.and_then(|d| d.stop_reason) {
                    self.reply.stop = Some(stop_reason(&reason));
                }
                if let Some(out) = event.usage.and_then(|u| u.output_tokens) {
                    self.reply.usage.output_tokens = out;
                }
            }
            "message_stop" => return Ok(true),
            "error" => {
                return Err(WireError::describe(event.error));
            }
            _ => {}
        }
        Ok(false)
    }

    fn finish(self: Box<Self>) -> Reply {
        let mut reply = self.reply;
        reply.tool_calls = self
            .blocks
            .into_iter()
            .flatten()
            .map(|(id, name, input)| ToolCall {
                id,
                name,
                arguments: parse_arguments(&input),
            })
            .collect();
        reply
    }
}
