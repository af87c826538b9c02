//! Long-term memories: one fact each, with an audit history of every change, embeddings per
//! model and hybrid search.

use super::{Memory, MemoryChange, MemoryQuery, Millis, NewMemory, ScoredMemory, StoreResult};
use crate::llm::BoxFuture;

/// Long-term memories of each user, their history and their search.
pub trait Memories: Send + Sync {
    /// Stores a memory and records an `Add` in its history.
    fn add_memory<'a>(
        &'a self,
        memory: NewMemory,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<Memory>>;

    /// Rewrites a memory's text (and embedding) and records an `Update`.
    fn update_memory<'a>(
        &'a self,
        id: &'a str,
        text: &'a str,
        is_key: bool,
        embedding: Option<(&'a str, &'a [f32])>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// Deletes a memory and records a `Delete` (the history stays).
    fn delete_memory<'a>(&'a self, id: &'a str, now: Millis) -> BoxFuture<'a, StoreResult<()>>;

    /// Every live memory of `user`, oldest first.
    fn memories_of<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Vec<Memory>>>;

    /// Each user who has live memories, with how many, by user id: where an operator starts.
    fn memory_users<'a>(&'a self) -> BoxFuture<'a, StoreResult<Vec<(String, u64)>>>;

    /// A memory by id.
    fn memory<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<Memory>>>;

    /// Every change to a memory, oldest first.
    fn memory_history<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<MemoryChange>>>;

    /// A user's key memories, newest first.
    fn key_memories<'a>(
        &'a self,
        user: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>>;

    /// Hybrid search over a user's memories: full text, plus vector similarity when the query
    /// has an embedding, fused by rank. Scores are in 0..=1, higher is better.
    fn search_memories<'a>(
        &'a self,
        query: &'a MemoryQuery<'a>,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredMemory>>>;

    /// Several searches of one text for one user that differ only in `project` and `limit`,
    /// answered together, each as [`Memories::search_memories`] would answer it, in the
    /// queries' order. A store may share their work (word counts, the full-text ranking,
    /// the vector scan); by default they run side by side.
    fn search_memories_together<'a>(
        &'a self,
        queries: &'a [MemoryQuery<'a>],
    ) -> BoxFuture<'a, StoreResult<Vec<Vec<ScoredMemory>>>> {
        Box::pin(futures_util::future::try_join_all(
            queries.iter().map(|query| self.search_memories(query)),
        ))
    }

    /// Memories without an embedding from `model` (none yet, or another model's), for
    /// re-embedding; vectors of different models are never compared.
    fn memories_to_embed<'a>(
        &'a self,
        model: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>>;

    /// Stores a memory's embedding from `model`.
    fn set_embedding<'a>(
        &'a self,
        id: &'a str,
        model: &'a str,
        vector: &'a [f32],
    ) -> BoxFuture<'a, StoreResult<()>>;
}
