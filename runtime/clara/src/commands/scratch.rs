//! A scratch engine for `clara test` and `clara replay`: the root's real pipelines, personas,
//! steps and tools over an in-memory store and a clock that moves only when told, with the
//! providers the caller brings, seeded with what a user had before the first turn.

use std::collections::BTreeMap;
use std::sync::Arc;

use clara_config::ConfigSet;
use clara_core::engine::{
    Clock, Conversation, EngineError, Generation, ManualClock, Parts, RecordedEvents, Tool,
};
use clara_core::llm::{Provider, Role};
use clara_core::store::{InMemoryStore, Millis, NewMemory, Store, StoreResult};

/// An engine over a store of its own, and the handles a runner reads it by.
pub struct Scratch {
    /// The engine.
    pub generation: Generation,
    /// Its store, empty until seeded.
    pub store: Arc<dyn Store>,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// What it emitted.
    pub events: Arc<RecordedEvents>,
}

/// A message of the seeded session.
pub struct SeedMessage<'a> {
    /// Who said it.
    pub role: Role,
    /// The author's display name, for user messages.
    pub author: Option<&'a str>,
    /// What was said.
    pub text: &'a str,
}

impl Scratch {
    /// The engine of `set` calling `providers` (by their names in `clara.toml`) and `tools`,
    /// its clock at `start`.
    pub fn new(
        set: &Arc<ConfigSet>,
        providers: BTreeMap<String, Arc<dyn Provider>>,
        tools: Vec<Arc<dyn Tool>>,
        start: Millis,
    ) -> Result<Scratch, EngineError> {
        let clock = Arc::new(ManualClock::new(start));
        let store: Arc<dyn Store> = Arc::new(InMemoryStore::new());
        let events = Arc::new(RecordedEvents::default());
        let generation = Generation::new(Parts {
            config: set.clone(),
            providers,
            embedder: None,
            store: store.clone(),
            tools,
            tool_sources: Vec::new(),
            clock: clock.clone(),
            events: events.clone(),
            approvers: Arc::default(),
        })?;
        Ok(Scratch {
            generation,
            store,
            clock,
            events,
        })
    }

    /// Moves the clock to `at` (never back).
    pub fn move_to(&self, at: Millis) {
        let now = self.clock.now();
        if at > now {
            self.clock.advance(at - now);
        }
    }

    /// Stores `memories` as the user's, at the clock's time.
    pub async fn seed_memories(&self, memories: Vec<NewMemory>) -> StoreResult<()> {
        for memory in memories {
            self.store.add_memory(memory, self.clock.now()).await?;
        }
        Ok(())
    }

    /// Gives `user` in `conversation` an ended session summarised as `previous_summary` (when
    /// set) and an open one holding `history` (when not empty), at the clock's time: what the
    /// conversation had before the first turn.
    pub async fn seed_session(
        &self,
        user: &str,
        conversation: &Conversation,
        previous_summary: Option<&str>,
        history: &[SeedMessage<'_>],
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let mut previous = None;
        if let Some(summary) = previous_summary {
            let (session, _) = self
                .store
                .start_session(user, &conversation.id, None, now)
                .await?;
            self.store.set_summary(&session.id, summary).await?;
            self.store.end_session(&session.id, now).await?;
            previous = Some(session.id);
        }
        if history.is_empty() {
            return Ok(());
        }
        let (session, _) = self
            .store
            .start_session(user, &conversation.id, previous.as_deref(), now)
            .await?;
        for message in history {
            self.store
                .add_message(&session.id, message.role, message.author, message.text, now)
                .await?;
        }
        Ok(())
    }
}
