//! The exact replies of the OpenAI chat-completions and Anthropic messages APIs, streamed and
//! not, for tests to script.

use serde_json::{Value, json};

use super::{Reply, SseEvent};

// ---- OpenAI chat completions: id "chatcmpl-1", model "m", prompt_tokens 10 ----

/// Usage as OpenAI reports it: 10 prompt tokens, 4 of them read from the prompt cache (which
/// `prompt_tokens` includes).
fn openai_usage(completion_tokens: usize) -> Value {
    let total = 10 + completion_tokens;
    json!({"prompt_tokens": 10, "completion_tokens": completion_tokens, "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": 4}})
}

fn openai_chunk(choices: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": choices})
}

fn openai_delta(delta: Value, finish_reason: Option<&str>) -> SseEvent {
    let choice = json!({"index": 0, "delta": delta, "finish_reason": finish_reason});
    SseEvent::data(openai_chunk(json!([choice])))
}

/// Ends every OpenAI stream: the finish chunk, the usage chunk (`choices: []`, as sent with
/// `stream_options.include_usage`), then `data: [DONE]`.
fn openai_end(mut events: Vec<SseEvent>, finish_reason: &str, tokens: usize) -> Reply {
    events.push(openai_delta(json!({}), Some(finish_reason)));
    let mut usage = openai_chunk(json!([]));
    usage["usage"] = openai_usage(tokens);
    events.extend([SseEvent::data(usage), SseEvent::data("[DONE]")]);
    Reply::sse(events)
}

/// A streamed chat completion: one `delta.content` chunk per text (the first also carries
/// `role: "assistant"`), a `finish_reason: "stop"` chunk, a usage chunk, `[DONE]`.
pub fn openai_stream(text_deltas: &[&str]) -> Reply {
    // With no text the stream still opens with the role chunk, as the real API's does.
    let texts = if text_deltas.is_empty() {
        &[""][..]
    } else {
        text_deltas
    };
    let mut events = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let mut delta = json!({"content": text});
        if i == 0 {
            delta["role"] = json!("assistant");
        }
        events.push(openai_delta(delta, None));
    }
    openai_end(events, "stop", text_deltas.len())
}

/// Streamed tool calls `(id, name, arguments_json)`: per call a chunk with `index`, `id`,
/// `type: "function"` and the name (`arguments: ""`), then the arguments in pieces of `split`
/// chars; `finish_reason: "tool_calls"`, usage, `[DONE]`.
pub fn openai_tool_stream(calls: &[(&str, &str, &str)], split: usize) -> Reply {
    let mut events = Vec::new();
    for (i, (id, name, arguments)) in calls.iter().enumerate() {
        let function = json!({"name": name, "arguments": ""});
        let call = json!({"index": i, "id": id, "type": "function", "function": function});
        let mut delta = json!({"tool_calls": [call]});
        if i == 0 {
            delta["role"] = json!("assistant");
            delta["content"] = Value::Null;
        }
        events.push(openai_delta(delta, None));
        for piece in split_chars(arguments, split) {
            let call = json!({"index": i, "function": {"arguments": piece}});
            events.push(openai_delta(json!({"tool_calls": [call]}), None));
        }
    }
    openai_end(events, "tool_calls", calls.len())
}

fn openai_completion(message: Value, finish_reason: &str, tokens: usize) -> Reply {
    let choice = json!({"index": 0, "message": message, "logprobs": null,
        "finish_reason": finish_reason});
    Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [choice], "usage": openai_usage(tokens)}),
    )
}

/// A non-streamed `chat.completion` answering `text`, `finish_reason: "stop"`.
pub fn openai_json(text: &str) -> Reply {
    openai_completion(json!({"role": "assistant", "content": text}), "stop", 1)
}

/// A non-streamed `chat.completion` making the tool calls `(id, name, arguments_json)`.
pub fn openai_tool_json(calls: &[(&str, &str, &str)]) -> Reply {
    let mut tool_calls = Vec::new();
    for (id, name, arguments) in calls {
        let function = json!({"name": name, "arguments": arguments});
        tool_calls.push(json!({"id": id, "type": "function", "function": function}));
    }
    let message = json!({"role": "assistant", "content": null, "tool_calls": tool_calls});
    openai_completion(message, "tool_calls", calls.len())
}

/// An embeddings list, one entry per vector, model `text-embedding-test`.
pub fn openai_embeddings(vectors: &[Vec<f32>]) -> Reply {
    let mut data = Vec::new();
    for (i, vector) in vectors.iter().enumerate() {
        data.push(json!({"object": "embedding", "index": i, "embedding": vector}));
    }
    let usage = json!({"prompt_tokens": 8, "total_tokens": 8});
    let body = json!({"object": "list", "data": data, "model": "text-embedding-test",
        "usage": usage});
    Reply::json(200, body)
}

/// An OpenAI error `{"error":{"message","type","param","code"}}`, typed to fit the status
/// (`requests`/`rate_limit_exceeded` for 429, `server_error` for 5xx).
pub fn error_json(status: u16, message: &str) -> Reply {
    let (kind, code) = match status {
        429 => ("requests", json!("rate_limit_exceeded")),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        500.. => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    let error = json!({"message": message, "type": kind, "param": null, "code": code});
    Reply::json(status, json!({ "error": error }))
}

// ---- Anthropic messages: id "msg_1", model "claude-test", input_tokens 10 ----

/// Anthropic names each event after its payload's `type`.
fn anthropic_event(payload: Value) -> SseEvent {
    let name = payload["type"].as_str().unwrap().to_string();
    SseEvent::named(&name, payload)
}

fn anthropic_message(content: Value, stop_reason: Option<&str>, output_tokens: usize) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": content, "stop_reason": stop_reason, "stop_sequence": null,
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 2, "output_tokens": output_tokens}})
}

/// `message_start`, then per block `content_block_start` (the first followed by `ping`, as the
/// real API sends), its deltas and `content_block_stop`, then `message_delta`, `message_stop`.
fn anthropic_events(blocks: Vec<(Value, Vec<Value>)>, stop_reason: &str, tokens: usize) -> Reply {
    let start = anthropic_message(json!([]), None, 1);
    let mut events = vec![anthropic_event(
        json!({"type": "message_start", "message": start}),
    )];
    for (index, (block, deltas)) in blocks.into_iter().enumerate() {
        let start = json!({"type": "content_block_start", "index": index, "content_block": block});
        events.push(anthropic_event(start));
        if index == 0 {
            events.push(anthropic_event(json!({"type": "ping"})));
        }
        for delta in deltas {
            let delta = json!({"type": "content_block_delta", "index": index, "delta": delta});
            events.push(anthropic_event(delta));
        }
        events.push(anthropic_event(
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let delta = json!({"stop_reason": stop_reason, "stop_sequence": null});
    let usage = json!({"output_tokens": tokens});
    events.push(anthropic_event(
        json!({"type": "message_delta", "delta": delta, "usage": usage}),
    ));
    events.push(anthropic_event(json!({"type": "message_stop"})));
    Reply::sse(events)
}

fn text_block(deltas: &[&str]) -> (Value, Vec<Value>) {
    let deltas = deltas
        .iter()
        .map(|t| json!({"type": "text_delta", "text": t}));
    (json!({"type": "text", "text": ""}), deltas.collect())
}

/// A streamed message with one text block, a `text_delta` per text; `stop_reason: "end_turn"`.
pub fn anthropic_stream(text_deltas: &[&str]) -> Reply {
    anthropic_events(vec![text_block(text_deltas)], "end_turn", text_deltas.len())
}

/// A streamed message: a text block (none when `text_before` is empty), then a `tool_use`
/// block per `(id, name, input_json)` whose input arrives as `input_json_delta` pieces of
/// `split` chars; `stop_reason: "tool_use"`.
pub fn anthropic_tool_stream(
    text_before: &str,
    calls: &[(&str, &str, &str)],
    split: usize,
) -> Reply {
    let mut blocks = Vec::new();
    if !text_before.is_empty() {
        blocks.push(text_block(&[text_before]));
    }
    for (id, name, input) in calls {
        let block = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
        let pieces = split_chars(input, split).into_iter();
        let deltas = pieces.map(|p| json!({"type": "input_json_delta", "partial_json": p}));
        blocks.push((block, deltas.collect()));
    }
    anthropic_events(blocks, "tool_use", calls.len())
}

/// A non-streamed message answering `text`, `stop_reason: "end_turn"`.
pub fn anthropic_json(text: &str) -> Reply {
    let content = json!([{"type": "text", "text": text}]);
    Reply::json(200, anthropic_message(content, Some("end_turn"), 1))
}

/// A non-streamed message: `text` (if not empty), then `tool_use` blocks; each `input_json`
/// must be valid JSON.
pub fn anthropic_tool_json(text: &str, calls: &[(&str, &str, &str)]) -> Reply {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for (id, name, input) in calls {
        let input: Value = serde_json::from_str(input).expect("tool input must be JSON");
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    let message = anthropic_message(Value::Array(content), Some("tool_use"), calls.len());
    Reply::json(200, message)
}

/// An Anthropic error `{"type":"error","error":{"type":kind,"message":message}}`, e.g.
/// `anthropic_error(529, "overloaded_error", "Overloaded")`.
pub fn anthropic_error(status: u16, kind: &str, message: &str) -> Reply {
    let error = json!({"type": kind, "message": message});
    Reply::json(status, json!({"type": "error", "error": error}))
}

/// `text` in pieces of `n` chars (never splitting a char), as streamed arguments arrive.
fn split_chars(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// A model round that saves `list.txt` (`milk\neggs\n`, 10 bytes) in the user's folder and
/// sends it into the conversation: the file turn the adapters' tests share.
pub fn save_and_send_list() -> Reply {
    openai_tool_stream(
        &[
            (
                "c1",
                "save_to_local",
                r#"{"filename": "list.txt", "content": "milk\neggs\n"}"#,
            ),
            ("c2", "send_local_file", r#"{"filename": "list.txt"}"#),
        ],
        8,
    )
}
