//! The built-in memory tools: search, remember and forget, acting on the current user's
//! memories only.

use std::sync::Arc;

use serde_json::{Value, json};

use super::memory::{embed_one, search};
use super::tools::{Tool, ToolContext, ToolError};
use crate::llm::{BoxFuture, ToolSpec};
use crate::store::NewMemory;

/// The memory tools.
pub fn memory_tools() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(MemorySearch::new()),
        Arc::new(MemoryRemember::new()),
        Arc::new(MemoryForget::new()),
    ]
}

fn text_arg<'a>(arguments: &'a Value, name: &str) -> Result<&'a str, ToolError> {
    arguments
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ToolError(format!("missing argument `{name}` (a non-empty string)")))
}

struct MemorySearch(ToolSpec);

impl MemorySearch {
    fn new() -> Self {
        MemorySearch(ToolSpec {
            name: "memory_search".to_owned(),
            description:
                "Search what you remember about the user. Returns matching memories with their ids."
                    .to_owned(),
            parameters: json!({"type":"object","required":["query"],"properties":{
                "query":{"type":"string","description":"What to look for."},
                "limit":{"type":"integer","minimum":1,"maximum":50,"description":"How many memories at most (default 10)."}}}),
        })
    }
}

impl Tool for MemorySearch {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let query = text_arg(arguments, "query")?;
            let limit = arguments
                .get("limit")
                .and_then(Value::as_u64)
                .unwrap_or(10)
                .clamp(1, 50) as u32;
            let found = search(context, query, None, limit)
                .await
                .map_err(|e| ToolError(e.to_string()))?;
            if found.is_empty() {
                return Ok("No memories match.".to_owned());
            }
            Ok(found
                .iter()
                .map(|m| {
                    format!(
                        "- [{}] {}{}",
                        m.memory.id,
                        m.memory.text,
                        if m.memory.is_key { " (key)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n"))
        })
    }
}

struct MemoryRemember(ToolSpec);

impl MemoryRemember {
    fn new() -> Self {
        MemoryRemember(ToolSpec {
            name: "memory_remember".to_owned(),
            description: "Remember a fact about the user for future conversations.".to_owned(),
            parameters: json!({"type":"object","required":["text"],"properties":{
                "text":{"type":"string","description":"The fact, as a short sentence about the user."},
                "is_key":{"type":"boolean","description":"A foundational fact (identity, relationships, health, work, home)."}}}),
        })
    }
}

impl Tool for MemoryRemember {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let text = text_arg(arguments, "text")?;
            let is_key = arguments
                .get("is_key")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let embedding = embed_one(context.embedder, text).await;
            let memory = NewMemory {
                user_id: context.user_id.to_owned(),
                project: None,
                text: text.to_owned(),
                is_key,
                embedding,
            };
            let stored = context
                .store
                .add_memory(memory, context.clock.now())
                .await
                .map_err(|e| ToolError(e.to_string()))?;
            Ok(format!("Remembered [{}]: {}", stored.id, stored.text))
        })
    }
}

struct MemoryForget(ToolSpec);

impl MemoryForget {
    fn new() -> Self {
        MemoryForget(ToolSpec {
            name: "memory_forget".to_owned(),
            description: "Forget one memory about the user, by the id memory_search showed."
                .to_owned(),
            parameters: json!({"type":"object","required":["id"],"properties":{"id":{"type":"string","description":"The memory's id."}}}),
        })
    }
}

impl Tool for MemoryForget {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    fn call<'a>(
        &'a self,
        arguments: &'a Value,
        context: &'a ToolContext<'a>,
    ) -> BoxFuture<'a, Result<String, ToolError>> {
        Box::pin(async move {
            let id = text_arg(arguments, "id")?;
            let store_error = |e: crate::store::StoreError| ToolError(e.to_string());
            match context.store.memory(id).await.map_err(store_error)? {
                // Another user's memory is reported exactly like a missing one.
                Some(memory) if memory.user_id == context.user_id => {
                    context
                        .store
                        .delete_memory(id, context.clock.now())
                        .await
                        .map_err(store_error)?;
                    Ok(format!("Forgot: {}", memory.text))
                }
                _ => Err(ToolError(format!("no memory with id `{id}`"))),
            }
        })
    }
}
