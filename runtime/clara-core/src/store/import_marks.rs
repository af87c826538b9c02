//! What was brought in from another system (`clara import`): each source record's clara id,
//! so an import run twice adds nothing twice.

use super::StoreResult;
use crate::llm::BoxFuture;

/// Source records already imported, by source, kind and id.
pub trait ImportMarks: Send + Sync {
    /// The clara id record `source_id` (a `kind`: `session`, `message`, `memory`) of `source`
    /// was imported as, if it was.
    fn imported<'a>(
        &'a self,
        source: &'a str,
        kind: &'a str,
        source_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<String>>>;

    /// Records that record `source_id` was imported as `target_id` (a second mark of the same
    /// record keeps the first).
    fn mark_imported<'a>(
        &'a self,
        source: &'a str,
        kind: &'a str,
        source_id: &'a str,
        target_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>>;
}
