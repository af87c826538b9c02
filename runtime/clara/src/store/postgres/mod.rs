//! The Postgres store: PostgreSQL with the `vector` extension (pgvector), embedded migrations,
//! full text through a generated `tsvector` column and vector search through per-dimension
//! HNSW indexes, implementing [`Store`](clara_core::store::Store) over a connection pool.

mod channel_modes;
mod connection_tokens;
mod email_watch;
mod import_marks;
mod jobs;
mod memories;
mod search;
mod sessions;
mod tasks;
mod tool_calls;
mod usage;
mod vectors;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use clara_core::llm::{BoxFuture, Role};
use clara_core::store::{
    ChannelModeSetting, ChannelModes, ConnectionTokens, EmailAccount, EmailAlert, EmailSettings,
    EmailWatch, ImportMarks, Job, JobQueue, Memories, Memory, MemoryChange, MemoryQuery, Millis,
    NewMemory, ScoredMemory, Session, SessionQuery, Sessions, Stamp, StoreError, StoreResult,
    StoredMessage, StoredToken, TaskLeases, TaskRun, ToolCallRecord, ToolLog, UsageBy, UsageFilter,
    UsageLog, UsageRecord, UsageTotal, UserEmailRule,
};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::str::FromStr;

use super::usage_buffer::UsageBuffer;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// The schema, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// The range pgvector accepts for `hnsw.ef_search`.
const EF_SEARCH_RANGE: (u32, u32) = (1, 1000);

/// A [`Store`](clara_core::store::Store) in a Postgres database with pgvector.
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// `hnsw.ef_search` for vector search, within pgvector's range.
    ef_search: u32,
    /// Dimensions whose HNSW index is known to exist (so it is created once per process).
    indexed_dims: Mutex<HashSet<i32>>,
    usage: Arc<UsageBuffer>,
}

impl PostgresStore {
    /// Connects to the database at `url` with at most `max_connections` pooled connections,
    /// installs the `vector` extension when missing and brings the schema up to date.
    /// `ef_search` is clamped to what pgvector accepts (1..=1000).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        ef_search: u32,
    ) -> Result<PostgresStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect(url)
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect to Postgres: {e}")))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        Ok(PostgresStore {
            pool,
            ef_search: ef_search.clamp(EF_SEARCH_RANGE.0, EF_SEARCH_RANGE.1),
            indexed_dims: Mutex::new(HashSet::new()),
            usage: Arc::default(),
        })
    }

    /// Connects to the database at `url` for reading only: every transaction is read-only and
    /// nothing is migrated, so a command that only looks (`clara replay`) cannot change what it
    /// reads. A database older than this clara's schema is refused: `clara migrate` first.
    pub async fn connect_read_only(
        url: &str,
        max_connections: u32,
        ef_search: u32,
    ) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Database(format!("cannot connect to Postgres: {e}")))?
            .options([("default_transaction_read_only", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect to Postgres: {e}")))?;
        let what = "the database";
        let applied: Option<i64> = sqlx::query_scalar(super::APPLIED_VERSION)
            .fetch_one(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("{what} is not a clara database: {e}")))?;
        super::require_current(applied, &MIGRATOR, what)?;
        Ok(PostgresStore {
            pool,
            ef_search: ef_search.clamp(EF_SEARCH_RANGE.0, EF_SEARCH_RANGE.1),
            indexed_dims: Mutex::new(HashSet::new()),
            usage: Arc::default(),
        })
    }

    /// Waits for in-flight work and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool (for tests and maintenance).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether this process already made sure the HNSW index for `dims` exists.
    fn is_indexed(&self, dims: i32) -> bool {
        self.indexed_dims
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&dims)
    }

    /// Remembers that the HNSW index for `dims` exists.
    fn mark_indexed(&self, dims: i32) {
        self.indexed_dims
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(dims);
    }
}

impl Sessions for PostgresStore {
    fn open_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        Box::pin(sessions::open_session(&self.pool, user, conversation))
    }

    fn latest_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        Box::pin(sessions::latest_session(&self.pool, user, conversation))
    }

    fn start_session<'a>(
        &'a self,
        user: &'a str,
        conversation: &'a str,
        previous: Option<&'a str>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<(Session, bool)>> {
        Box::pin(sessions::start_session(
            &self.pool,
            user,
            conversation,
            previous,
            now,
        ))
    }

    fn end_session<'a>(
        &'a self,
        session: &'a str,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(sessions::end_session(&self.pool, session, now))
    }

    fn session<'a>(&'a self, session: &'a str) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        Box::pin(sessions::session(&self.pool, session))
    }

    fn user_message_stamps<'a>(
        &'a self,
        user: Option<&'a str>,
        conversation: Option<&'a str>,
        since: Millis,
        up_to: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Stamp>>> {
        Box::pin(sessions::user_message_stamps(
            &self.pool,
            user,
            conversation,
            since,
            up_to,
        ))
    }

    fn find_sessions<'a>(
        &'a self,
        query: &'a SessionQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<Session>>> {
        Box::pin(sessions::find_sessions(&self.pool, query))
    }

    fn idle_sessions(
        &self,
        before: Millis,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<Session>>> {
        Box::pin(sessions::idle_sessions(&self.pool, before, limit))
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

    fn is_repeat<'a>(
        &'a self,
        session: &'a str,
        content: &'a str,
        since: Millis,
        lookback: u32,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(sessions::is_repeat(
            &self.pool, session, content, since, lookback,
        ))
    }
}

impl Memories for PostgresStore {
    fn add_memory<'a>(
        &'a self,
        memory: NewMemory,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<Memory>> {
        Box::pin(memories::add_memory(self, memory, now))
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
            self, id, text, is_key, embedding, now,
        ))
    }

    fn delete_memory<'a>(&'a self, id: &'a str, now: Millis) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(memories::delete_memory(&self.pool, id, now))
    }

    fn memories_of<'a>(&'a self, user: &'a str) -> BoxFuture<'a, StoreResult<Vec<Memory>>> {
        Box::pin(memories::memories_of(&self.pool, user))
    }

    fn memory_users<'a>(&'a self) -> BoxFuture<'a, StoreResult<Vec<(String, u64)>>> {
        Box::pin(memories::memory_users(&self.pool))
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
        Box::pin(search::search_memories(&self.pool, self.ef_search, query))
    }

    fn search_memories_together<'a>(
        &'a self,
        queries: &'a [MemoryQuery<'a>],
    ) -> BoxFuture<'a, StoreResult<Vec<Vec<ScoredMemory>>>> {
        Box::pin(search::search_memories_together(
            &self.pool,
            self.ef_search,
            queries,
        ))
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
        Box::pin(memories::set_embedding(self, id, model, vector))
    }
}

impl JobQueue for PostgresStore {
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

impl TaskLeases for PostgresStore {
    fn claim_task_run<'a>(
        &'a self,
        name: &'a str,
        due_at: Millis,
        now: Millis,
        lease_until: Millis,
        node: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(tasks::claim_task_run(
            &self.pool,
            name,
            due_at,
            now,
            lease_until,
            node,
        ))
    }

    fn finish_task_run<'a>(
        &'a self,
        name: &'a str,
        node: &'a str,
        finished_at: Millis,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(tasks::finish_task_run(
            &self.pool,
            name,
            node,
            finished_at,
            error,
        ))
    }

    fn task_run<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<TaskRun>>> {
        Box::pin(tasks::task_run(&self.pool, name))
    }
}

impl ChannelModes for PostgresStore {
    fn channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ChannelModeSetting>>> {
        Box::pin(channel_modes::get(&self.pool, platform, channel_id))
    }

    fn set_channel_mode<'a>(
        &'a self,
        setting: &'a ChannelModeSetting,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(channel_modes::set(&self.pool, setting))
    }

    fn channel_modes<'a>(
        &'a self,
        platform: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<ChannelModeSetting>>> {
        Box::pin(channel_modes::all(&self.pool, platform))
    }

    fn clear_channel_mode<'a>(
        &'a self,
        platform: &'a str,
        channel_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(channel_modes::clear(&self.pool, platform, channel_id))
    }
}

#[cfg(test)]
mod tests;

impl ToolLog for PostgresStore {
    fn record_tool_call<'a>(
        &'a self,
        record: &'a ToolCallRecord,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(tool_calls::record(&self.pool, record))
    }

    fn tool_call_stamps<'a>(
        &'a self,
        user_id: Option<&'a str>,
        conversation: Option<&'a str>,
        since: Millis,
        up_to: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<Stamp>>> {
        Box::pin(tool_calls::stamps(
            &self.pool,
            user_id,
            conversation,
            since,
            up_to,
        ))
    }

    fn tool_approved<'a>(
        &'a self,
        user_id: &'a str,
        tool: &'a str,
        approvers: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(tool_calls::approved(&self.pool, user_id, tool, approvers))
    }

    fn recent_tool_calls(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<ToolCallRecord>>> {
        Box::pin(tool_calls::recent(&self.pool, limit))
    }
}

impl ConnectionTokens for PostgresStore {
    fn save_token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
        sealed: &'a [u8],
        expires_at: Option<Millis>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(connection_tokens::save(
            &self.pool, user_id, connection, sealed, expires_at, now,
        ))
    }

    fn token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<StoredToken>>> {
        Box::pin(connection_tokens::get(&self.pool, user_id, connection))
    }

    fn delete_token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(connection_tokens::delete(&self.pool, user_id, connection))
    }

    fn claim_oauth_state<'a>(
        &'a self,
        nonce: &'a str,
        expires_at: Millis,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(connection_tokens::claim_state(
            &self.pool, nonce, expires_at, now,
        ))
    }
}

impl EmailWatch for PostgresStore {
    fn save_email_account<'a>(
        &'a self,
        account: &'a EmailAccount,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(email_watch::save_account(&self.pool, account))
    }

    fn email_accounts<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<EmailAccount>>> {
        Box::pin(email_watch::accounts(&self.pool, user_id))
    }

    fn remove_email_account<'a>(
        &'a self,
        user_id: &'a str,
        id: i64,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(email_watch::remove_account(&self.pool, user_id, id))
    }

    fn claim_email_checks(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<EmailAccount>>> {
        Box::pin(email_watch::claim(&self.pool, now, lease_ms, limit))
    }

    fn finish_email_check<'a>(
        &'a self,
        id: i64,
        outcome: Result<Option<&'a str>, &'a str>,
        now: Millis,
        next_at: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(email_watch::finish(&self.pool, id, outcome, now, next_at))
    }

    fn email_settings<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<EmailSettings>> {
        Box::pin(email_watch::settings(&self.pool, user_id))
    }

    fn save_email_settings<'a>(
        &'a self,
        user_id: &'a str,
        settings: &'a EmailSettings,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(email_watch::save_settings(&self.pool, user_id, settings))
    }

    fn save_email_rule<'a>(
        &'a self,
        user_id: &'a str,
        rule: &'a UserEmailRule,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(email_watch::save_rule(&self.pool, user_id, rule))
    }

    fn email_rules<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<UserEmailRule>>> {
        Box::pin(email_watch::rules(&self.pool, user_id))
    }

    fn remove_email_rule<'a>(
        &'a self,
        user_id: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(email_watch::remove_rule(&self.pool, user_id, name))
    }

    fn record_email_alert<'a>(
        &'a self,
        alert: &'a EmailAlert,
    ) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        Box::pin(email_watch::record_alert(&self.pool, alert))
    }

    fn undelivered_email_alerts(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<EmailAlert>>> {
        Box::pin(email_watch::undelivered(&self.pool, limit))
    }

    fn mark_email_alert_delivered(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(email_watch::mark_delivered(&self.pool, id, at))
    }

    fn release_email_alert(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(email_watch::release(&self.pool, id, at))
    }

    fn recent_email_alerts<'a>(
        &'a self,
        user_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<EmailAlert>>> {
        Box::pin(email_watch::recent(&self.pool, user_id, limit))
    }
}

impl UsageLog for PostgresStore {
    fn record_usage<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, StoreResult<()>> {
        self.usage.hold(&self.pool, record.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn flush_usage(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.usage.write(&self.pool))
    }

    fn usage_totals(
        &self,
        by: UsageBy,
        since: Millis,
        until: Option<Millis>,
    ) -> BoxFuture<'_, StoreResult<Vec<UsageTotal>>> {
        Box::pin(async move {
            self.usage.write(&self.pool).await?;
            usage::totals(&self.pool, by, since, until).await
        })
    }

    fn usage_spent<'a>(
        &'a self,
        filter: &'a UsageFilter,
        since: Millis,
    ) -> BoxFuture<'a, StoreResult<UsageTotal>> {
        Box::pin(async move {
            self.usage.write(&self.pool).await?;
            usage::spent(&self.pool, filter, since).await
        })
    }
}

impl ImportMarks for PostgresStore {
    fn imported<'a>(
        &'a self,
        source: &'a str,
        kind: &'a str,
        source_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<String>>> {
        Box::pin(import_marks::get(&self.pool, source, kind, source_id))
    }

    fn mark_imported<'a>(
        &'a self,
        source: &'a str,
        kind: &'a str,
        source_id: &'a str,
        target_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(import_marks::mark(
            &self.pool, source, kind, source_id, target_id,
        ))
    }
}
