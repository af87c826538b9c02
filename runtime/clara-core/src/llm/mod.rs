//! What the engine needs from a language model, independent of any vendor's wire format:
//! messages, tools, a streamed reply folded into one response, and typed errors.

mod error;
mod provider;
mod types;

pub use error::{ProviderError, ProviderErrorKind};
pub use provider::{BoxFuture, DeltaSink, Provider};
pub use types::{ChatRequest, ChatResponse, Message, Part, Role, StopReason, ToolCall, ToolSpec, Usage};
