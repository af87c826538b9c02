//! What a turn's model calls and events show, as `clara test` and `clara replay` read them: a
//! call's system prompt, the tools offered and the tools called.

use clara_core::engine::{Event, EventData};
use clara_core::llm::{ChatRequest, Message, Part, Role};

/// The system prompt of a call: its system messages' text, then the per-turn context that
/// heads the new message (every text part of the last user message before the user's own).
pub fn system_prompt(request: &ChatRequest) -> String {
    let mut texts: Vec<String> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(Message::text)
        .collect();
    if let Some(last) = request.messages.last().filter(|m| m.role == Role::User) {
        let parts: Vec<&str> = last
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(text) => Some(text.as_str()),
                Part::Image { .. } => None,
            })
            .collect();
        let context = &parts[..parts.len().saturating_sub(1)];
        texts.extend(context.iter().map(|t| (*t).to_owned()));
    }
    texts.join("\n")
}

/// The tool calls the turn made, in order, with their arguments.
pub fn tool_calls(events: &[Event]) -> Vec<(String, serde_json::Value)> {
    events
        .iter()
        .filter_map(|e| match &e.data {
            EventData::ToolStart(start) => Some((start.tool.clone(), start.arguments.clone())),
            _ => None,
        })
        .collect()
}

/// The names of the tools a call offered, in order.
pub fn tools_offered(request: &ChatRequest) -> Vec<String> {
    request.tools.iter().map(|t| t.name.clone()).collect()
}
