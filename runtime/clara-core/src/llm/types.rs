//! Normalised chat types. Providers translate these to and from their own wire formats.

use clara_config::model::common::{Tier, ToolCallMode};
use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions (persona, context). Providers that take one system prompt join these.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool's result, answering the assistant's call with `tool_call_id`.
    Tool,
}

/// A piece of message content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Part {
    /// Text.
    Text(String),
    /// An image, base64-encoded.
    Image {
        /// MIME type, e.g. `image/jpeg`.
        media_type: String,
        /// The bytes, base64 (standard alphabet, padded).
        data: String,
    },
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Content, in order.
    pub parts: Vec<Part>,
    /// For assistant messages: the tool calls it made.
    pub tool_calls: Vec<ToolCall>,
    /// For tool messages: the call this answers.
    pub tool_call_id: Option<String>,
    /// The stable start of the prompt ends with this message: a provider that caches prompts
    /// may cache everything up to here, tools and system messages included.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache_point: bool,
}

impl Message {
    fn text_message(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            parts: vec![Part::Text(text.into())],
            tool_calls: Vec::new(),
            tool_call_id: None,
            cache_point: false,
        }
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::text_message(Role::System, text)
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::text_message(Role::User, text)
    }

    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::text_message(Role::Assistant, text)
    }

    /// An assistant message that called tools (its text may be empty).
    pub fn assistant_with_calls(text: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        let text = text.into();
        let parts = if text.is_empty() {
            Vec::new()
        } else {
            vec![Part::Text(text)]
        };
        Message {
            role: Role::Assistant,
            parts,
            tool_calls: calls,
            tool_call_id: None,
            cache_point: false,
        }
    }

    /// A tool result for call `id`.
    pub fn tool_result(id: impl Into<String>, text: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(id.into()),
            ..Self::text_message(Role::Tool, text)
        }
    }

    /// Marks the end of the prompt's stable start (see `cache_point`).
    pub fn cached(mut self) -> Self {
        self.cache_point = true;
        self
    }

    /// Adds an image part.
    pub fn with_image(mut self, media_type: impl Into<String>, data: impl Into<String>) -> Self {
        self.parts.push(Part::Image {
            media_type: media_type.into(),
            data: data.into(),
        });
        self
    }

    /// The last text part: in a new message built stable-first, what its author wrote (the
    /// per-turn context parts come before it).
    pub fn last_text(&self) -> &str {
        self.parts
            .iter()
            .rev()
            .find_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image { .. } => None,
            })
            .unwrap_or_default()
    }

    /// The text parts joined by blank lines.
    pub fn text(&self) -> String {
        let texts: Vec<&str> = self
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image { .. } => None,
            })
            .collect();
        texts.join("\n\n")
    }
}

/// A tool offered to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Name the model calls it by.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub parameters: serde_json::Value,
}

/// A call the model made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, echoed by its result.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Arguments (a JSON object; `{}` when the model's arguments did not parse).
    pub arguments: serde_json::Value,
}

/// One model call.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The conversation, system messages included.
    pub messages: Vec<Message>,
    /// Tools offered. A request with tools is "tool-bound" and never runs on the low tier.
    pub tools: Vec<ToolSpec>,
    /// The tier; `None` is the provider's base model.
    pub tier: Option<Tier>,
    /// A specific model, overriding the tier (e.g. the memory extraction model).
    pub model: Option<String>,
    /// Overrides the provider's reply token limit.
    pub max_tokens: Option<u32>,
    /// Overrides the provider's temperature.
    pub temperature: Option<f32>,
    /// Stream the reply (deltas go to the sink as they arrive).
    pub stream: bool,
    /// How tools are offered; `None` uses the provider's `tool_call_mode`.
    pub tool_call_mode: Option<ToolCallMode>,
}

impl ChatRequest {
    /// The model `provider` answers this request with: an explicit model wins, else the
    /// tier's (see [`model_for_call`](clara_config::model::provider::ProviderConfig::model_for_call)).
    pub fn model_on(&self, provider: &clara_config::model::provider::ProviderConfig) -> String {
        match &self.model {
            Some(model) => model.clone(),
            None => provider
                .model_for_call(self.tier, !self.tools.is_empty())
                .to_owned(),
        }
    }

    /// A streamed request for `messages` with no tools, on the base model.
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            tools: Vec::new(),
            tier: None,
            model: None,
            max_tokens: None,
            temperature: None,
            stream: true,
            tool_call_mode: None,
        }
    }
}

/// Why the model stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its answer.
    EndTurn,
    /// It wants tool results.
    ToolUse,
    /// It hit the token limit.
    MaxTokens,
    /// A stop sequence, a content filter, or something the API did not name.
    Other,
}

/// Token counts, when the API reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Prompt tokens billed at the full input rate (those neither read from nor written to
    /// the provider's prompt cache).
    pub input_tokens: u32,
    /// Reply tokens.
    pub output_tokens: u32,
    /// Prompt tokens read from the prompt cache.
    pub cache_read_tokens: u32,
    /// Prompt tokens written to the prompt cache.
    pub cache_write_tokens: u32,
}

/// A complete reply: the same shape whether it was streamed or not.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatResponse {
    /// The reply text (with XML tool calls removed, in XML mode).
    pub text: String,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// Token counts.
    pub usage: Usage,
    /// The provider that answered (after any fallback).
    pub provider: String,
    /// The model that answered.
    pub model: String,
}
