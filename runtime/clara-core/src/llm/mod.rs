//! What the engine needs from a language model, independent of any vendor's wire format:
//! messages, tools, a streamed reply folded into one response, and typed errors.

mod error;
mod fallback;
mod provider;
mod scripted;
mod types;
pub mod xml_tools;

pub use error::{ProviderError, ProviderErrorKind};
pub use fallback::Fallback;
pub use provider::{BoxFuture, DeltaSink, Embedded, Embedder, Provider};
pub use scripted::ScriptedProvider;
pub use types::{
    ChatRequest, ChatResponse, Message, Part, Role, StopReason, ToolCall, ToolSpec, Usage,
};
