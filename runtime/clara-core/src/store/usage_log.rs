//! The usage log: one row per model call, with who and what it was for, its tokens and its
//! cost, summed by user, channel, model, pipeline, purpose or day for `clara usage`.

use super::{Millis, StoreResult};
use crate::llm::BoxFuture;

/// One model call's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageRecord {
    /// When the call ended.
    pub at: Millis,
    /// Whose message (or memory) it served, when a user's.
    pub user_id: Option<String>,
    /// The conversation (`dm-…`, `channel-…`), when one.
    pub conversation: Option<String>,
    /// The pipeline that ran it, when one did.
    pub pipeline: Option<String>,
    /// What it was for: `turn` (a user's message), `classifier`, `memory`, `summary` (a
    /// session's), `task` (a scheduled task or hook).
    pub purpose: String,
    /// The provider that answered (after any fallback).
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// The tier asked for, when one was.
    pub tier: Option<String>,
    /// Prompt tokens at the full rate.
    pub input_tokens: u32,
    /// Reply tokens.
    pub output_tokens: u32,
    /// Prompt tokens read from the prompt cache.
    pub cache_read_tokens: u32,
    /// Prompt tokens written to the prompt cache.
    pub cache_write_tokens: u32,
    /// What it cost, in millionths of a US dollar (0 for an unpriced model).
    pub cost_micros: i64,
}

/// What usage is summed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageBy {
    /// Each user (calls for no user under `-`).
    User,
    /// Each conversation.
    Channel,
    /// Each provider's model: `provider/model`.
    Model,
    /// Each pipeline.
    Pipeline,
    /// Each purpose.
    Purpose,
    /// Each UTC day, `YYYY-MM-DD`.
    Day,
}

/// Usage summed for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageTotal {
    /// The user, conversation, model, pipeline, purpose or day; `-` when a call had none.
    pub key: String,
    /// Model calls.
    pub calls: u64,
    /// Prompt tokens at the full rate.
    pub input_tokens: u64,
    /// Reply tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: u64,
    /// Cost in millionths of a US dollar.
    pub cost_micros: i64,
}

impl UsageTotal {
    /// One call's usage, under `key`.
    pub fn of(key: String, record: &UsageRecord) -> UsageTotal {
        UsageTotal {
            key,
            calls: 1,
            input_tokens: u64::from(record.input_tokens),
            output_tokens: u64::from(record.output_tokens),
            cache_read_tokens: u64::from(record.cache_read_tokens),
            cache_write_tokens: u64::from(record.cache_write_tokens),
            cost_micros: record.cost_micros,
        }
    }

    /// Adds `other`'s counts (not its key) to these.
    pub fn add(&mut self, other: &UsageTotal) {
        self.calls += other.calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_write_tokens += other.cache_write_tokens;
        self.cost_micros += other.cost_micros;
    }
}

/// Which calls a budget's spending covers; an unset field is every value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// Only this user's calls.
    pub user_id: Option<String>,
    /// Only this conversation's calls.
    pub conversation: Option<String>,
    /// Only calls of these pipelines.
    pub pipelines: Option<Vec<String>>,
    /// Only calls for these purposes.
    pub purposes: Option<Vec<String>>,
}

impl UsageFilter {
    /// Whether `record` is one of the calls this filter covers.
    pub fn matches(&self, record: &UsageRecord) -> bool {
        let is = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        let among = |want: &Option<Vec<String>>, have: Option<&String>| {
            want.as_ref()
                .is_none_or(|w| have.is_some_and(|h| w.contains(h)))
        };
        is(&self.user_id, &record.user_id)
            && is(&self.conversation, &record.conversation)
            && among(&self.pipelines, record.pipeline.as_ref())
            && among(&self.purposes, Some(&record.purpose))
    }
}

/// The model calls of each user, conversation and pipeline, and what they cost.
pub trait UsageLog: Send + Sync {
    /// Records one call. A store may hold it in memory for a moment to write it with others;
    /// its own reads of the log see it either way.
    fn record_usage<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, StoreResult<()>>;

    /// Writes the calls still held in memory, before the process ends.
    fn flush_usage(&self) -> BoxFuture<'_, StoreResult<()>>;

    /// Usage at or after `since` (and before `until`, when set), summed by `by`, the most
    /// costly first (then by key).
    fn usage_totals(
        &self,
        by: UsageBy,
        since: Millis,
        until: Option<Millis>,
    ) -> BoxFuture<'_, StoreResult<Vec<UsageTotal>>>;

    /// Usage at or after `since` of the calls `filter` covers, summed (key `""`): what a
    /// budget has spent in its window.
    fn usage_spent<'a>(
        &'a self,
        filter: &'a UsageFilter,
        since: Millis,
    ) -> BoxFuture<'a, StoreResult<UsageTotal>>;
}

impl UsageBy {
    /// A record's key under this grouping.
    pub fn key_of(self, record: &UsageRecord) -> String {
        let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
        match self {
            UsageBy::User => or_dash(&record.user_id),
            UsageBy::Channel => or_dash(&record.conversation),
            UsageBy::Model => format!("{}/{}", record.provider, record.model),
            UsageBy::Pipeline => or_dash(&record.pipeline),
            UsageBy::Purpose => record.purpose.clone(),
            UsageBy::Day => day_of(record.at),
        }
    }
}

/// The UTC day of `at`, `YYYY-MM-DD`.
pub fn day_of(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
}

/// Orders totals the most costly first, then by key.
pub fn rank(totals: &mut [UsageTotal]) {
    totals.sort_by(|a, b| {
        b.cost_micros
            .cmp(&a.cost_micros)
            .then_with(|| a.key.cmp(&b.key))
    });
}
