//! Row shapes both SQL backends read the same way.

use clara_core::store::{MemoryChange, MemoryEvent, StoreError, StoreResult};

/// A `memory_history` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ChangeRow {
    memory_id: String,
    event: String,
    old_text: Option<String>,
    new_text: Option<String>,
    created_at: i64,
}

impl ChangeRow {
    /// The row as a history entry.
    pub(crate) fn into_change(self) -> StoreResult<MemoryChange> {
        let event = match self.event.as_str() {
            "ADD" => MemoryEvent::Add,
            "UPDATE" => MemoryEvent::Update,
            "DELETE" => MemoryEvent::Delete,
            other => {
                return Err(StoreError::Database(format!(
                    "unknown memory event `{other}`"
                )));
            }
        };
        Ok(MemoryChange {
            memory_id: self.memory_id,
            event,
            old_text: self.old_text,
            new_text: self.new_text,
            created_at: self.created_at,
        })
    }
}
