//! [`UsageLog`] in memory: the calls in the order recorded, summed on demand.

use std::collections::BTreeMap;

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::{
    Millis, StoreResult, UsageBy, UsageFilter, UsageLog, UsageRecord, UsageTotal, rank,
};

impl UsageLog for InMemoryStore {
    fn record_usage<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            state.usage.push(record.clone());
            Ok(())
        })
    }

    fn flush_usage(&self) -> BoxFuture<'_, StoreResult<()>> {
        self.with(|_| Ok(()))
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
                let call = UsageTotal::of(by.key_of(record), record);
                match sums.get_mut(&call.key) {
                    Some(sum) => sum.add(&call),
                    None => {
                        sums.insert(call.key.clone(), call);
                    }
                }
            }
            let mut totals: Vec<UsageTotal> = sums.into_values().collect();
            rank(&mut totals);
            Ok(totals)
        })
    }

    fn usage_spent<'a>(
        &'a self,
        filter: &'a UsageFilter,
        since: Millis,
    ) -> BoxFuture<'a, StoreResult<UsageTotal>> {
        self.with(|state| {
            let mut sum = UsageTotal::default();
            for record in state
                .usage
                .iter()
                .filter(|r| r.at >= since && filter.matches(r))
            {
                sum.add(&UsageTotal::of(String::new(), record));
            }
            Ok(sum)
        })
    }
}
