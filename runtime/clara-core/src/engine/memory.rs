//! Memory helpers shared by context building, the memory tools and extraction.

use super::tools::ToolContext;
use super::trace;
use crate::llm::Embedder;
use crate::store::{MemoryQuery, ScoredMemory, StoreResult};

/// The embedding of `text` and its model, or `None` without an embedder or when embedding
/// fails (memory then works on full text alone; the failure is logged).
pub async fn embed_one(embedder: Option<&dyn Embedder>, text: &str) -> Option<(String, Vec<f32>)> {
    let embedder = embedder?;
    match embedder.embed(&[text.to_owned()]).await {
        Ok(mut embedded) if !embedded.vectors.is_empty() => {
            Some((embedder.model().to_owned(), embedded.vectors.swap_remove(0)))
        }
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(%error, "embedding failed; searching full text only");
            None
        }
    }
}

/// Hybrid search of the context's user's memories, embedding `text` first.
pub async fn search(
    context: &ToolContext<'_>,
    text: &str,
    project: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<ScoredMemory>> {
    let embedding = embed_one(context.embedder, text).await;
    search_embedded(context, text, embedding.as_ref(), project, limit).await
}

/// Hybrid search with an embedding already made, for callers that search one text twice.
pub async fn search_embedded(
    context: &ToolContext<'_>,
    text: &str,
    embedding: Option<&(String, Vec<f32>)>,
    project: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<ScoredMemory>> {
    let query = memory_query(context, text, embedding, project, limit);
    context.store.search_memories(&query).await
}

/// Hybrid searches of one text in several scopes (`(project, limit)`), answered together so
/// the store can share their work; results in the scopes' order.
pub async fn search_scopes(
    context: &ToolContext<'_>,
    text: &str,
    embedding: Option<&(String, Vec<f32>)>,
    scopes: &[(Option<&str>, u32)],
) -> StoreResult<Vec<Vec<ScoredMemory>>> {
    let queries: Vec<MemoryQuery<'_>> = scopes
        .iter()
        .map(|&(project, limit)| memory_query(context, text, embedding, project, limit))
        .collect();
    // A leaf: made under the step's span and timed until it is dropped, never entered.
    let span = trace::memory_search(scopes.len());
    let found = context.store.search_memories_together(&queries).await?;
    let count: usize = found.iter().map(Vec::len).sum();
    span.record("clara.memory.found", count as u64);
    Ok(found)
}

fn memory_query<'a>(
    context: &ToolContext<'a>,
    text: &'a str,
    embedding: Option<&'a (String, Vec<f32>)>,
    project: Option<&'a str>,
    limit: u32,
) -> MemoryQuery<'a> {
    MemoryQuery {
        user_id: context.user_id,
        project,
        text,
        embedding: embedding.map(|(model, vector)| (model.as_str(), vector.as_slice())),
        limit,
        candidates: context.search.0,
        rrf_k: context.search.1,
    }
}

impl super::generation::Generation {
    /// Searches `user`'s memories for `text` as a turn does: full text and, with embeddings
    /// on, the text's vector, fused (what an operator's search in the console shows).
    pub async fn search_memories(
        &self,
        user: &str,
        text: &str,
        limit: u32,
    ) -> StoreResult<Vec<ScoredMemory>> {
        let context = self
            .services
            .tool_context(user, self.services.embedder.as_deref());
        search(&context, text, None, limit).await
    }
}
