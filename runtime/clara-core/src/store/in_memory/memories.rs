//! [`Memories`] in memory: live memories by sequence number, and a history that outlives them.

use std::cmp::Reverse;

use super::search::search;
use super::{InMemoryStore, State, StoredMemory};
use crate::llm::BoxFuture;
use crate::store::{
    Memories, Memory, MemoryChange, MemoryEvent, MemoryQuery, Millis, NewMemory, ScoredMemory,
    StoreError, StoreResult,
};

impl State {
    fn stored_mut(&mut self, id: &str) -> StoreResult<&mut StoredMemory> {
        self.memories
            .values_mut()
            .find(|m| m.memory.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("memory {id}")))
    }

    fn log(
        &mut self,
        memory_id: &str,
        event: MemoryEvent,
        old: Option<&str>,
        new: Option<&str>,
        now: Millis,
    ) {
        self.history.push(MemoryChange {
            memory_id: memory_id.to_owned(),
            event,
            old_text: old.map(str::to_owned),
            new_text: new.map(str::to_owned),
            created_at: now,
        });
    }

    /// Memories passing `keep`, in sequence order, at most `limit`.
    fn memories_where(&self, limit: u32, keep: impl Fn(&StoredMemory) -> bool) -> Vec<Memory> {
        self.memories
            .values()
            .filter(|m| keep(m))
            .take(limit as usize)
            .map(|m| m.memory.clone())
            .collect()
    }
}

impl Memories for InMemoryStore {
    fn add_memory<'a>(
        &'a self,
        memory: NewMemory,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<Memory>> {
        self.with(|state| {
            let stored = StoredMemory {
                seq: state.next(),
                memory: Memory {
                    id: state.new_id(),
                    user_id: memory.user_id,
                    project: memory.project,
                    text: memory.text,
                    is_key: memory.is_key,
                    created_at: now,
                    updated_at: now,
                },
                embedding: memory.embedding,
            };
            let added = stored.memory.clone();
            state.log(&added.id, MemoryEvent::Add, None, Some(&added.text), now);
            state.memories.insert(stored.seq, stored);
            Ok(added)
        })
    }

    fn update_memory<'a>(
        &'a self,
        id: &'a str,
        text: &'a str,
        is_key: bool,
        embedding: Option<(&'a str, &'a [f32])>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            let stored = state.stored_mut(id)?;
            let old = std::mem::replace(&mut stored.memory.text, text.to_owned());
            stored.memory.is_key = is_key;
            stored.memory.updated_at = now;
            match embedding {
                Some((model, vector)) => {
                    stored.embedding = Some((model.to_owned(), vector.to_vec()));
                }
                // A vector of other words would mislead search: the memory waits to be
                // embedded again.
                None if old != text => stored.embedding = None,
                None => {}
            }
            state.log(id, MemoryEvent::Update, Some(&old), Some(text), now);
            Ok(())
        })
    }

    fn delete_memory<'a>(&'a self, id: &'a str, now: Millis) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            let seq = state.stored_mut(id)?.seq;
            let removed = state.memories.remove(&seq).map(|m| m.memory.text);
            state.log(id, MemoryEvent::Delete, removed.as_deref(), None, now);
            Ok(())
        })
    }

    fn memory<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<Memory>>> {
        self.with(|state| Ok(state.memories_where(1, |m| m.memory.id == id).pop()))
    }

    fn memory_history<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<MemoryChange>>> {
        self.with(|state| {
            Ok(state
                .history
                .iter()
                .filter(|c| c.memory_id == id)
                .cloned()
                .collect())
        })
    }

    fn memories_of<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Vec<Memory>>> {
        // Live memories are kept by sequence number: the order they were added.
        self.with(|state| {
            Ok(state
                .memories
                .values()
                .filter(|m| m.memory.user_id == user)
                .map(|m| m.memory.clone())
                .collect())
        })
    }

    fn memory_users<'a>(&'a self) -> BoxFuture<'a, StoreResult<Vec<(String, u64)>>> {
        self.with(|state| {
            let mut users = std::collections::BTreeMap::<String, u64>::new();
            for m in state.memories.values() {
                *users.entry(m.memory.user_id.clone()).or_default() += 1;
            }
            Ok(users.into_iter().collect())
        })
    }

    fn key_memories<'a>(
        &'a self,
        user: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>> {
        self.with(|state| {
            let mut key: Vec<&StoredMemory> = state
                .memories
                .values()
                .filter(|m| m.memory.user_id == user && m.memory.is_key)
                .collect();
            key.sort_by_key(|m| Reverse((m.memory.updated_at, m.seq)));
            Ok(key
                .into_iter()
                .take(limit as usize)
                .map(|m| m.memory.clone())
                .collect())
        })
    }

    fn search_memories<'a>(
        &'a self,
        query: &'a MemoryQuery<'a>,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredMemory>>> {
        self.with(|state| Ok(search(state, query)))
    }

    fn memories_to_embed<'a>(
        &'a self,
        model: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>> {
        self.with(|state| {
            Ok(state.memories_where(limit, |m| {
                m.embedding.as_ref().is_none_or(|(by, _)| by != model)
            }))
        })
    }

    fn set_embedding<'a>(
        &'a self,
        id: &'a str,
        model: &'a str,
        vector: &'a [f32],
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            state.stored_mut(id)?.embedding = Some((model.to_owned(), vector.to_vec()));
            Ok(())
        })
    }
}
