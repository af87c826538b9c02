//! The pipeline engine: a message goes in, the pipeline's steps run in order over a [`Turn`],
//! a reply comes out, and everything worth keeping is stored. Work that can wait (memory
//! extraction, session summaries) goes to the durable job queue and runs after the reply.
//!
//! Modules depend one way, from the leaves up: `clock`, `events`, `sent_file`, `turn`, `tools`, `memory`,
//! `template`, `job`, `meter` ← `budget` ← `services`, `persona`, `session` ← `run` ← `steps` ← `pipeline` ←
//! `generation` ← `outcome`, `extract`, `worker`.

mod approval;
mod arguments;
mod budget;
mod clock;
pub mod event_data;
mod events;
mod extract;
mod generation;
mod job;
mod memory;
mod memory_tools;
mod meter;
mod metered_embedder;
mod outcome;
mod persona;
mod pipeline;
mod rate_windows;
mod run;
mod sent_file;
mod services;
mod session;
mod steps;
mod template;
mod tools;
pub mod trace;
mod turn;
mod worker;

use crate::llm::ProviderError;
use crate::store::StoreError;
pub use approval::{ApprovalRequest, Approver, Approvers, Decision};
pub use budget::BudgetRefusal;
pub use clock::{Clock, ManualClock, SystemClock};
pub use event_data::EventData;
pub use events::{Event, EventObserver, EventSink, LogEvents, RecordedEvents};
pub use generation::{Generation, Parts};
pub use memory::embed_one;
pub use memory_tools::memory_tools;
pub use meter::TurnSpend;
pub use outcome::Outcome;
pub use sent_file::{SentFile, SentFiles, media_type};
pub use services::Services;
pub use steps::is_classification;
pub use tools::{Place, Tool, ToolContext, ToolError, ToolPolicy, ToolSource};
pub use turn::{Conversation, Incoming, Turn, TurnEnd};
pub use worker::JobReport;

/// Why a turn or job failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model call failed (after retries and fallbacks).
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A template failed to render.
    #[error("template: {0}")]
    Template(String),
    /// The config cannot serve this request (no pipeline for the adapter, unknown provider).
    #[error("{0}")]
    Config(String),
    /// A budget refused a model call.
    #[error("{0}")]
    Budget(BudgetRefusal),
}

impl EngineError {
    /// A short, stable name for the kind of failure (a span's `error.type`), never its text.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::Provider(_) => "provider",
            EngineError::Store(_) => "store",
            EngineError::Template(_) => "template",
            EngineError::Config(_) => "config",
            EngineError::Budget(_) => "budget",
        }
    }
}
