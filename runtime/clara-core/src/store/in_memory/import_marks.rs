//! [`ImportMarks`] in memory: a map from source record to clara id.

use super::InMemoryStore;
use crate::llm::BoxFuture;
use crate::store::{ImportMarks, StoreResult};

fn key(source: &str, kind: &str, source_id: &str) -> (String, String, String) {
    (source.to_owned(), kind.to_owned(), source_id.to_owned())
}

impl ImportMarks for InMemoryStore {
    fn imported<'a>(
        &'a self,
        source: &'a str,
        kind: &'a str,
        source_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<String>>> {
        self.with(|state| {
            Ok(state
                .import_marks
                .get(&key(source, kind, source_id))
                .cloned())
        })
    }

    fn mark_imported<'a>(
        &'a self,
        source: &'a str,
        kind: &'a str,
        source_id: &'a str,
        target_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.with(|state| {
            state
                .import_marks
                .entry(key(source, kind, source_id))
                .or_insert_with(|| target_id.to_owned());
            Ok(())
        })
    }
}
