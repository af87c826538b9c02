//! The embedded SQLite store: one database file (WAL, foreign keys, busy timeout) with
//! embedded migrations, implementing [`Store`] over a connection pool.
//!
//! A bound row limit is written `LIMIT +?n`, never `LIMIT ?n`: SQLite plans a bare parameter
//! in LIMIT around its value, so every new binding would expire the cached statement and
//! parse and plan it again (five times a turn, a third of the store's CPU). The unary plus
//! makes it an expression, evaluated at run time.

mod jobs;
mod memories;
mod search;
mod sessions;
mod vector_index;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clara_core::llm::{BoxFuture, Role};
use clara_core::store::{
    Job, Memory, MemoryChange, MemoryQuery, Millis, NewMemory, ScoredMemory, Session, Store,
    StoreError, StoreResult, StoredMessage,
};
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use vector_index::VectorIndex;

/// The schema, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pooled connections to a database file (WAL lets readers run beside the one writer).
const MAX_CONNECTIONS: u32 = 8;

/// A [`Store`] in a SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    vectors: Arc<VectorIndex>,
}

impl SqliteStore {
    /// Opens (creating it and its folders when missing) the database at `path` and brings its
    /// schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Database(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // A local file does not drop connections, so the pool skips the ping before each
        // use (one round trip to the connection's thread per query saved).
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        SqliteStore::migrated(pool).await
    }

    /// A private in-memory database, gone when the store is dropped (for tests).
    pub async fn in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db)?
            .foreign_keys(true);
        // One connection that never closes: each in-memory connection is its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db)?;
        SqliteStore::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<SqliteStore, StoreError> {
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        Ok(SqliteStore {
            pool,
            vectors: Arc::default(),
        })
    }

    /// Waits for in-flight work and closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A database error as a [`StoreError`].
pub(crate) fn db(error: sqlx::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

/// `Ok` when a statement touched a row, else `NotFound(what)`.
fn found(rows_affected: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}

impl Store for SqliteStore {
    fn open_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        Box::pin(sessions::open_session(&self.pool, user, conversation))
    }

    fn start_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
        previous: Option<&'a str>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<Session>> {
        Box::pin(sessions::start_session(
            &self.pool,
            user,
            conversation,
            previous,
            now,
        ))
    }

    fn end_session<'a>(&'a self, session: &'a str, now: Millis) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(sessions::end_session(&self.pool, session, now))
    }

    fn session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        Box::pin(sessions::session(&self.pool, session))
    }

    fn set_summary<'a>(
        &'a self,
        session: &'a str,
        summary: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(sessions::set_summary(&self.pool, session, summary))
    }

    fn add_message<'a>(
        &'a self,
        session: &'a str,
        role: Role,
        author: Option<&'a str>,
        content: &'a str,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(sessions::add_message(
            &self.pool, session, role, author, content, now,
        ))
    }

    fn recent_messages<'a>(
        &'a self,
        session: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<StoredMessage>>> {
        Box::pin(sessions::recent_messages(&self.pool, session, limit))
    }

    fn add_memory<'a>(
        &'a self,
        memory: NewMemory,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<Memory>> {
        Box::pin(memories::add_memory(&self.pool, &self.vectors, memory, now))
    }

    fn update_memory<'a>(
        &'a self,
        id: &'a str,
        text: &'a str,
        is_key: bool,
        embedding: Option<(&'a str, &'a [f32])>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(memories::update_memory(
            &self.pool,
            &self.vectors,
            id,
            text,
            is_key,
            embedding,
            now,
        ))
    }

    fn delete_memory<'a>(&'a self, id: &'a str, now: Millis) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(memories::delete_memory(&self.pool, &self.vectors, id, now))
    }

    fn memory<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<Memory>>> {
        Box::pin(memories::memory(&self.pool, id))
    }

    fn memory_history<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Vec<MemoryChange>>> {
        Box::pin(memories::memory_history(&self.pool, id))
    }

    fn key_memories<'a>(
        &'a self,
        user: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>> {
        Box::pin(memories::key_memories(&self.pool, user, limit))
    }

    fn search_memories<'a>(
        &'a self,
        query: &'a MemoryQuery<'a>,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredMemory>>> {
        Box::pin(search::search_memories(&self.pool, &self.vectors, query))
    }

    fn memories_to_embed<'a>(
        &'a self,
        model: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Memory>>> {
        Box::pin(memories::memories_to_embed(&self.pool, model, limit))
    }

    fn set_embedding<'a>(
        &'a self,
        id: &'a str,
        model: &'a str,
        vector: &'a [f32],
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(memories::set_embedding(
            &self.pool,
            &self.vectors,
            id,
            model,
            vector,
        ))
    }

    fn enqueue_job<'a>(
        &'a self,
        kind: &'a str,
        payload: &'a serde_json::Value,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(jobs::enqueue_job(&self.pool, kind, payload, run_after))
    }

    fn claim_job<'a>(
        &'a self,
        now: Millis,
        lease_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        Box::pin(jobs::claim_job(&self.pool, now, lease_ms))
    }

    fn complete_job(&self, id: i64) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(jobs::complete_job(&self.pool, id))
    }

    fn retry_job<'a>(
        &'a self,
        id: i64,
        error: &'a str,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(jobs::retry_job(&self.pool, id, error, run_after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_store_works_and_has_fts5() {
        let store = SqliteStore::in_memory().await.expect("open");
        let (fts5,): (i64,) = sqlx::query_as("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
            .fetch_one(&store.pool)
            .await
            .expect("query");
        assert_eq!(fts5, 1, "the bundled SQLite lacks FTS5");
        let session = store
            .start_session("u", "dm-u", None, 1)
            .await
            .expect("start");
        assert_eq!(
            store.session(&session.id).await.expect("get"),
            Some(session)
        );
    }
}
