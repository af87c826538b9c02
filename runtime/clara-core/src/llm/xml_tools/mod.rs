//! XML tool-call mode: for models and proxies without native tool support, the tools are described
//! in the system prompt, the model writes its calls as XML, and tool history goes back as text.
//!
//! Three pieces: [`prepare`] turns a tool-bound request into a plain one, [`parse`] reads calls
//! out of a finished reply, and [`XmlStreamFilter`] keeps the XML out of what users see while the
//! reply streams in.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Number, Value};

use super::types::{ChatRequest, Message, Part, Role, ToolCall, ToolSpec};

#[cfg(test)]
mod tests;

/// Tags that open a tool-call block, lower-case. [`parse`] cuts the reply's content at the first
/// of these and [`XmlStreamFilter`] stops forwarding there, so both must use the same list.
const OPENERS: [&str; 2] = ["<function_calls>", "<tool_call>"];

const INSTRUCTIONS: &str = "\
You can call the tools listed below. To call them, write a block like this in your reply:
<function_calls>
<invoke name=\"$FUNCTION_NAME\">
<parameter name=\"$PARAMETER_NAME\">$PARAMETER_VALUE</parameter>
...
</invoke>
</function_calls>
Use one <invoke> per call; several calls can share one block. Write strings and numbers as they \
are, and lists and objects as JSON. End your reply with the block: anything after it is \
discarded. The results come back to you in a <function_results> block.

";

/// The `<functions>` block that tells the model how to call `tools` and what each one takes.
///
/// Descriptions are XML-escaped; parameter schemas are pretty-printed JSON (2-space indent).
/// Tool names go in raw, so the model copies them back exactly as [`parse`] will read them.
pub fn tools_prompt(tools: &[ToolSpec]) -> String {
    let mut out = String::from("<functions>\n");
    out.push_str(INSTRUCTIONS);
    for tool in tools {
        out.push_str(&format!(
            "<function>\n<name>{}</name>\n<description>{}</description>\n<parameters>{:#}</parameters>\n</function>\n",
            tool.name,
            escape(&tool.description),
            tool.parameters,
        ));
    }
    out.push_str("</functions>");
    out
}

/// A copy of `request` for a model that only reads text: no native tools, and no tool structures
/// left in the history.
///
/// - `tools` is emptied. When it was not empty, [`tools_prompt`] is appended (after `"\n\n"`) to
///   the last text part of the first system message, or becomes a new system message at index 0.
///   With no tools the prompt is left out, but the history is still rewritten (a closing call
///   without tools may follow tool rounds).
/// - An assistant message with tool calls becomes plain text: its text, a blank line, then the
///   calls as a `<function_calls>` block (the blank line is left out when it had no text).
/// - Each run of consecutive tool results becomes one user message holding a `<function_results>`
///   block, each result named after the call it answers (the call id when no earlier assistant
///   message made that call).
/// - Every other message, images included, is copied as it is.
pub fn prepare(request: &ChatRequest) -> ChatRequest {
    let mut messages = rewrite_history(&request.messages);
    if !request.tools.is_empty() {
        let prompt = tools_prompt(&request.tools);
        match messages.iter_mut().find(|m| m.role == Role::System) {
            Some(system) => append_text(system, &prompt),
            None => messages.insert(0, Message::system(prompt)),
        }
    }
    // Every other setting carries over, including any the request type gains later.
    ChatRequest {
        messages,
        tools: Vec::new(),
        ..request.clone()
    }
}

fn append_text(message: &mut Message, extra: &str) {
    let last_text = message.parts.iter_mut().rev().find_map(|part| match part {
        Part::Text(text) => Some(text),
        Part::Image { .. } => None,
    });
    match last_text {
        Some(text) => {
            text.push_str("\n\n");
            text.push_str(extra);
        }
        None => message.parts.push(Part::Text(extra.to_owned())),
    }
}

fn rewrite_history(messages: &[Message]) -> Vec<Message> {
    // Later calls win: histories from older runs may reuse ids across iterations.
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    let mut results = String::new();
    for message in messages {
        if message.role == Role::Tool {
            let name = match message.tool_call_id.as_deref() {
                Some(id) => names.get(id).copied().unwrap_or(id),
                None => "unknown",
            };
            results.push_str(&format!(
                "<result>\n<name>{name}</name>\n<output>{}</output>\n</result>\n",
                escape(&message.text())
            ));
            continue;
        }
        flush_results(&mut results, &mut out);
        if message.role == Role::Assistant && !message.tool_calls.is_empty() {
            for call in &message.tool_calls {
                names.insert(&call.id, &call.name);
            }
            out.push(assistant_as_text(message));
        } else {
            out.push(message.clone());
        }
    }
    flush_results(&mut results, &mut out);
    out
}

fn flush_results(results: &mut String, out: &mut Vec<Message>) {
    if !results.is_empty() {
        out.push(Message::user(format!(
            "<function_results>\n{results}</function_results>"
        )));
        results.clear();
    }
}

fn assistant_as_text(message: &Message) -> Message {
    let text = message.text();
    let calls = render_calls(&message.tool_calls);
    let combined = if text.is_empty() {
        calls
    } else {
        format!("{text}\n\n{calls}")
    };
    let mut parts = vec![Part::Text(combined)];
    parts.extend(
        message
            .parts
            .iter()
            .filter(|p| matches!(p, Part::Image { .. }))
            .cloned(),
    );
    Message {
        role: Role::Assistant,
        parts,
        tool_calls: Vec::new(),
        tool_call_id: None,
        cache_point: message.cache_point,
    }
}

/// Calls as the model would have written them. Every value is XML-escaped, JSON included, so
/// that [`parse`] (which unescapes before decoding JSON) reads back what was sent.
fn render_calls(calls: &[ToolCall]) -> String {
    let mut out = String::from("<function_calls>\n");
    for call in calls {
        out.push_str(&format!("<invoke name=\"{}\">\n", call.name));
        if let Value::Object(args) = &call.arguments {
            for (key, value) in args {
                let rendered = match value {
                    Value::String(s) => escape(s),
                    other => escape(&other.to_string()),
                };
                out.push_str(&format!(
                    "<parameter name=\"{key}\">{rendered}</parameter>\n"
                ));
            }
        }
        out.push_str("</invoke>\n");
    }
    out.push_str("</function_calls>");
    out
}

/// Reads the tool calls out of a finished reply. Returns the reply's content and the calls.
///
/// Recognises `<function_calls><invoke name="…"><parameter name="…">…</parameter></invoke>
/// </function_calls>` blocks and GLM-style `<tool_call>NAME<arg_key>k</arg_key><arg_value>v
/// </arg_value></tool_call>` blocks, case-insensitively and across lines, in the order they
/// appear. Values are unescaped, trimmed and coerced: `{`/`[` → JSON when it parses, `true`/
/// `false` in any case → bool, a value with a `.` → float when it parses, otherwise an integer
/// when it parses, otherwise the string.
///
/// Calls get ids `call_<n>` counting up from `first_id`; pass the number of calls already in the
/// conversation so that ids never repeat. With calls, the content is the trimmed text before the
/// first block opener (what follows is dropped); without any (an unclosed block included), it is
/// `text` unchanged.
pub fn parse(text: &str, first_id: usize) -> (String, Vec<ToolCall>) {
    let mut found = Vec::new();
    for block in block_re().captures_iter(text) {
        if let Some(body) = block.get(1) {
            for invoke in invoke_re().captures_iter(body.as_str()) {
                let mut args = Map::new();
                for param in parameter_re().captures_iter(&invoke[2]) {
                    args.insert(param[1].to_owned(), coerce(&param[2]));
                }
                found.push((invoke[1].to_owned(), args));
            }
        } else if let Some(call) = block.get(2).and_then(|body| glm_call(body.as_str())) {
            found.push(call);
        }
    }
    if found.is_empty() {
        return (text.to_owned(), Vec::new());
    }
    let cut = first_opener(text).unwrap_or(text.len());
    let calls = found
        .into_iter()
        .enumerate()
        .map(|(i, (name, args))| ToolCall {
            id: format!("call_{}", first_id + i),
            name,
            arguments: Value::Object(args),
        })
        .collect();
    (text[..cut].trim().to_owned(), calls)
}

/// A GLM call: the name is the text before the first `<arg_key>`. A call without a name could
/// never run, so it is skipped (an `<invoke>` needs a non-empty name too).
fn glm_call(body: &str) -> Option<(String, Map<String, Value>)> {
    let name_end = arg_key_re().find(body).map_or(body.len(), |m| m.start());
    let name = body[..name_end].trim();
    if name.is_empty() {
        return None;
    }
    let mut args = Map::new();
    for pair in glm_arg_re().captures_iter(&body[name_end..]) {
        args.insert(pair[1].trim().to_owned(), coerce(&pair[2]));
    }
    Some((name.to_owned(), args))
}

fn coerce(raw: &str) -> Value {
    let value = unescape(raw.trim());
    if value.starts_with(['{', '[']) {
        return serde_json::from_str(&value).unwrap_or(Value::String(value));
    }
    if value.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if value.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if value.contains('.') {
        // Finite only: JSON has no NaN or infinity.
        return value
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::String(value), Value::Number);
    }
    value
        .parse::<i64>()
        .map_or(Value::String(value), Value::from)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `&amp;` goes last so that an escaped entity (`&amp;lt;`) comes out literally (`&lt;`).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Byte offset of the first block opener, matched case-insensitively.
fn first_opener(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    OPENERS.iter().filter_map(|opener| lower.find(opener)).min()
}

fn cached(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("xml_tools patterns are valid"))
}

/// One alternation, so that both formats come out in the order they appear in the reply.
fn block_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    cached(
        &RE,
        r"(?is)<function_calls>(.*?)</function_calls>|<tool_call>(.*?)</tool_call>",
    )
}

fn invoke_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    cached(
        &RE,
        r#"(?is)<invoke\s+name\s*=\s*["']([^"']+)["']\s*>(.*?)</invoke>"#,
    )
}

fn parameter_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    cached(
        &RE,
        r#"(?is)<parameter\s+name\s*=\s*["']([^"']+)["']\s*>(.*?)</parameter>"#,
    )
}

fn arg_key_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    cached(&RE, r"(?i)<arg_key>")
}

fn glm_arg_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    cached(
        &RE,
        r"(?is)<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>",
    )
}

/// Keeps tool-call XML out of a streamed reply: feed it each delta, forward what it returns.
///
/// It forwards the text before the first block opener (`<function_calls>` or `<tool_call>`, any
/// case) and nothing from the opener on. A `<` that could still grow into an opener is held back
/// until the next delta settles it, and so is trailing whitespace, which is dropped if a block
/// follows. So for a reply whose calls [`parse`] finds, the forwarded text is exactly the
/// content `parse` returns, except that leading whitespace (which `parse` trims) is forwarded;
/// for a reply without an opener, it is the whole reply. When an opener turns out not to start
/// any call (an unclosed block), the filter has still swallowed the rest: show `parse`'s content.
#[derive(Debug, Default)]
pub struct XmlStreamFilter {
    held: String,
    in_block: bool,
}

impl XmlStreamFilter {
    /// A filter for one reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next delta and returns the text that is safe to show now (often empty).
    pub fn push(&mut self, delta: &str) -> String {
        if self.in_block {
            return String::new();
        }
        self.held.push_str(delta);
        if let Some(start) = first_opener(&self.held) {
            self.in_block = true;
            let out = self.held[..start].trim_end().to_owned();
            self.held = String::new();
            return out;
        }
        // Only the last `<` can begin an opener: an opener has no `<` after its first byte.
        let mut keep_from = self.held.len();
        if let Some(lt) = self.held.rfind('<') {
            let tail = self.held[lt..].to_ascii_lowercase();
            if OPENERS.iter().any(|opener| opener.starts_with(&tail)) {
                keep_from = lt;
            }
        }
        let keep_from = self.held[..keep_from].trim_end().len();
        let rest = self.held.split_off(keep_from);
        std::mem::replace(&mut self.held, rest)
    }

    /// Ends the reply: returns what was held back and never became an opener.
    pub fn finish(self) -> String {
        if self.in_block {
            String::new()
        } else {
            self.held
        }
    }
}
