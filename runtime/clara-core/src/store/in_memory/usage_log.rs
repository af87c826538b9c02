//! [`UsageLog`] in memory: the calls in the order recorded, summed on demand.

use std::collections::BTreeMap;

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::{Millis, StoreResult, UsageBy, UsageLog, UsageRecord, UsageTotal, rank};

impl UsageLog for InMemoryStore {
    fn record_usage<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            state.usage.push(record.clone());
            Ok(())
        })
    }

    fn usage_totals(
        &self,
        by: UsageBy,
        since: Millis,
        until: Option<Millis>,
    ) -> BoxFuture<'_, StoreResult<Vec<UsageTotal>>> {
        self.with(|state| {
            let mut sums: BTreeMap<String, UsageTotal> = BTreeMap::new();
            let chosen = state
                .usage
                .iter()
                .filter(|r| r.at >= since && until.is_none_or(|t| r.at < t));
            for record in chosen {
                let key = by.key_of(record);
                let sum = sums.entry(key.clone()).or_insert_with(|| UsageTotal {
                    key,
                    ..UsageTotal::default()
                });
                sum.calls += 1;
                sum.input_tokens += u64::from(record.input_tokens);
                sum.output_tokens += u64::from(record.output_tokens);
                sum.cache_read_tokens += u64::from(record.cache_read_tokens);
                sum.cache_write_tokens += u64::from(record.cache_write_tokens);
                sum.cost_micros += record.cost_micros;
            }
            let mut totals: Vec<UsageTotal> = sums.into_values().collect();
            rank(&mut totals);
            Ok(totals)
        })
    }
}
