//! A prompt cache that works as Anthropic's (and OpenRouter's pass-through) does: each
//! `cache_control` mark writes the prompt up to it; a later request reads the longest written
//! start of its own prompt, up to its last mark; the reply's usage says how many tokens were
//! read, written and neither. Tokens are counted as a quarter of the JSON bytes.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{Value, json};

use super::{Body, Reply};

/// What the cache did for one request, in tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheUse {
    /// The whole prompt.
    pub total: u64,
    /// Read from the cache.
    pub read: u64,
    /// Written to the cache.
    pub written: u64,
}

/// The written prompt starts, by hash.
#[derive(Default)]
pub struct PromptCache {
    written: HashSet<u64>,
}

impl PromptCache {
    /// Reads and writes the cache for a chat request sent to `path`.
    pub fn account(&mut self, path: &str, body: &Value) -> CacheUse {
        let blocks = if path.ends_with("/messages") {
            anthropic_blocks(body)
        } else {
            openai_blocks(body)
        };
        let tokens: Vec<u64> = blocks
            .iter()
            .map(|(b, _)| (b.len() as u64 / 4).max(1))
            .collect();
        let mut hasher = DefaultHasher::new();
        let starts: Vec<u64> = blocks
            .iter()
            .map(|(block, _)| {
                block.hash(&mut hasher);
                hasher.finish()
            })
            .collect();
        let total = tokens.iter().sum();
        let Some(last_mark) = blocks.iter().rposition(|(_, marked)| *marked) else {
            return CacheUse {
                total,
                ..CacheUse::default()
            };
        };
        let read_to = (0..=last_mark)
            .rev()
            .find(|&i| self.written.contains(&starts[i]));
        let read_len = read_to.map_or(0, |i| i + 1);
        let read = tokens[..read_len].iter().sum();
        let written = tokens[read_len..=last_mark].iter().sum();
        for (i, (_, marked)) in blocks.iter().enumerate() {
            if *marked {
                self.written.insert(starts[i]);
            }
        }
        CacheUse {
            total,
            read,
            written,
        }
    }
}

/// The prompt as blocks in the order the API caches it (tools, system, messages), each
/// without its mark, and whether it had one.
fn anthropic_blocks(body: &Value) -> Vec<(String, bool)> {
    let mut blocks = Vec::new();
    for tool in body["tools"].as_array().into_iter().flatten() {
        blocks.push(unmarked(tool.clone()));
    }
    match &body["system"] {
        Value::String(text) => blocks.push(unmarked(json!({ "type": "text", "text": text }))),
        Value::Array(parts) => blocks.extend(parts.iter().cloned().map(unmarked)),
        _ => {}
    }
    for message in body["messages"].as_array().into_iter().flatten() {
        blocks.extend(content_blocks(message));
    }
    blocks
}

fn openai_blocks(body: &Value) -> Vec<(String, bool)> {
    let messages = body["messages"].as_array().into_iter().flatten();
    messages.flat_map(content_blocks).collect()
}

/// A message's content blocks, each tagged with the role (and tool calls) it came with.
fn content_blocks(message: &Value) -> Vec<(String, bool)> {
    let role = message["role"].clone();
    let extra =
        json!({ "role": role, "calls": message["tool_calls"], "id": message["tool_call_id"] });
    let parts = match &message["content"] {
        Value::Array(parts) => parts.clone(),
        other => vec![json!({ "type": "text", "text": other })],
    };
    parts
        .into_iter()
        .map(|part| unmarked(json!({ "message": extra, "part": part })))
        .collect()
}

fn unmarked(mut block: Value) -> (String, bool) {
    let marked = strip_mark(&mut block);
    (block.to_string(), marked)
}

fn strip_mark(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let here = map.remove("cache_control").is_some();
            map.values_mut().fold(here, |any, v| strip_mark(v) || any)
        }
        _ => false,
    }
}

/// Rewrites the usage a scripted reply reports to what the cache did: Anthropic's
/// `input_tokens` / `cache_read_input_tokens` / `cache_creation_input_tokens`, or OpenAI's
/// `prompt_tokens` with `prompt_tokens_details.cached_tokens` and OpenRouter's
/// `cache_write_tokens`.
pub fn report(reply: &mut Reply, used: CacheUse) {
    let patch = |text: &mut String| {
        let Ok(mut value) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let mut changed = false;
        for pointer in ["/usage", "/message/usage"] {
            if let Some(usage) = value.pointer_mut(pointer).filter(|u| u.is_object()) {
                if usage.get("input_tokens").is_some() {
                    usage["input_tokens"] = json!(used.total - used.read - used.written);
                    usage["cache_read_input_tokens"] = json!(used.read);
                    usage["cache_creation_input_tokens"] = json!(used.written);
                    changed = true;
                } else if usage.get("prompt_tokens").is_some() {
                    usage["prompt_tokens"] = json!(used.total);
                    usage["prompt_tokens_details"] =
                        json!({ "cached_tokens": used.read, "cache_write_tokens": used.written });
                    changed = true;
                }
            }
        }
        if changed {
            *text = value.to_string();
        }
    };
    match &mut reply.body {
        Body::Text(text) => patch(text),
        Body::Sse(events) => events.iter_mut().for_each(|e| patch(&mut e.data)),
    }
}
