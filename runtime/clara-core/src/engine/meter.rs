//! Who and what a model call is charged to: the usage log's columns, and the budgets that cap
//! it beyond `[budgets]` (a `budget` step's) with the turn's own spending so far.

use std::sync::{Arc, Mutex, PoisonError};

use clara_config::model::budget::Budget;

/// Who and what a model call is for, so its usage is counted (and capped) where it belongs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meter<'a> {
    /// Whose message or memory.
    pub user_id: Option<&'a str>,
    /// The conversation.
    pub conversation: Option<&'a str>,
    /// The pipeline running.
    pub pipeline: Option<&'a str>,
    /// `turn`, `classifier`, `memory`, `summary` or `task`.
    pub purpose: &'static str,
    /// The platform and request id of the turn, for events.
    pub turn: Option<(&'a str, &'a str)>,
    /// Run by a hook, a task or the job worker.
    pub automated: bool,
    /// The caps of the pipeline's `budget` step, when the turn passed one.
    pub budgets: &'a [Arc<NamedBudget>],
    /// What the turn has spent so far, for `window = "turn"` caps; `None` outside a turn
    /// (each background call is then its own window).
    pub spent: Option<&'a TurnSpend>,
}

/// A budget with the name events and logs give it.
#[derive(Debug, PartialEq)]
pub(crate) struct NamedBudget {
    /// Its `[budgets]` key, or `PIPELINE.STEP.NAME` for a step's.
    pub name: String,
    /// The pipeline whose `budget` step declared it: it counts only that pipeline's calls.
    pub owner: Option<String>,
    pub budget: Budget,
}

/// Tokens and money, as budgets count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Spend {
    /// Prompt, reply and cache tokens together.
    pub tokens: u64,
    /// Millionths of a US dollar.
    pub micros: i64,
}

impl Spend {
    pub(crate) fn add(&mut self, other: Spend) {
        self.tokens += other.tokens;
        self.micros += other.micros;
    }

    pub(crate) fn remove(&mut self, other: Spend) {
        self.tokens = self.tokens.saturating_sub(other.tokens);
        self.micros = (self.micros - other.micros).max(0);
    }

    pub(crate) fn plus(self, other: Spend) -> Spend {
        let mut sum = self;
        sum.add(other);
        sum
    }
}

/// A turn's spending so far: its model calls run one after another, so a lock is never
/// contended.
#[derive(Debug, Default)]
pub struct TurnSpend(Mutex<Spend>);

impl TurnSpend {
    pub(crate) fn get(&self) -> Spend {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn add(&self, spend: Spend) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(spend);
    }
}
