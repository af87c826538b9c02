//! The embedded SQLite store: one database file (WAL, foreign keys, busy timeout) with
//! embedded migrations, implementing [`Store`](clara_core::store::Store) over one writer connection and a pool of
//! readers.
//!
//! SQLite runs one write at a time anyway; giving every write the same connection, in turn,
//! means this process's writers queue in order instead of meeting each other's locks and
//! sleeping in SQLite's busy handler, and a write skips the pool's check-in ping. Readers use
//! the pool and, in WAL mode, never wait for the writer.
//!
//! A bound row limit is written `LIMIT +?n`, never `LIMIT ?n`: SQLite plans a bare parameter
//! in LIMIT around its value, so every new binding would expire the cached statement and
//! parse and plan it again (five times a turn, a third of the store's CPU). The unary plus
//! makes it an expression, evaluated at run time.

mod channel_modes;
mod connection_tokens;
mod email_watch;
mod import_marks;
mod jobs;
mod memories;
mod search;
mod sessions;
mod tasks;
mod text_side;
mod tool_calls;
mod usage;
mod vector_index;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clara_core::llm::{BoxFuture, Role};
use clara_core::store::{
    ChannelModeSetting, ChannelModes, ConnectionTokens, EmailAccount, EmailAlert, EmailSettings,
    EmailWatch, ImportMarks, Job, JobQueue, Memories, Memory, MemoryChange, MemoryQuery, Millis,
    NewMemory, ScoredMemory, Session, SessionQuery, Sessions, Stamp, StoreError, StoreResult,
    StoredMessage, StoredToken, TaskLeases, TaskRun, ToolCallRecord, ToolLog, UsageBy, UsageFilter,
    UsageLog, UsageRecord, UsageTotal, UserEmailRule,
};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, MutexGuard};
use vector_index::VectorIndex;

use super::usage_buffer::{UsageBuffer, UsageSink};

/// The schema, embedded at compile time.
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pooled reader connections (WAL lets readers run beside the writer).
const MAX_READERS: u32 = 8;

/// Each connection's share of a page cache of `cache_mib` MiB, in KiB: SQLite gives every
/// connection a cache of its own, which by default (2 MiB each) grows with the pool.
fn cache_kib_each(cache_mib: u32) -> u32 {
    (cache_mib.max(1) * 1024 / (MAX_READERS + 1)).max(64)
}

/// How every connection to the database at `path` is set up.
fn connect_options(path: &Path, cache_mib: u32) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // Negative: a size in KiB rather than in pages.
        .pragma("cache_size", format!("-{}", cache_kib_each(cache_mib)))
}

/// The pool of reader connections.
async fn reader_pool(options: &SqliteConnectOptions) -> Result<SqlitePool, sqlx::Error> {
    // A local file does not drop connections, so the pool skips the ping before each use
    // (one round trip to the connection's thread per query saved).
    SqlitePoolOptions::new()
        .max_connections(MAX_READERS)
        .test_before_acquire(false)
        .connect_with(options.clone())
        .await
}

/// The error for a database at `path` that cannot be opened.
fn cannot_open(path: &Path) -> impl Fn(sqlx::Error) -> StoreError + Copy + '_ {
    move |e| StoreError::Database(format!("cannot open {}: {e}", path.display()))
}

/// A [`Store`](clara_core::store::Store) in a SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Arc<Mutex<SqliteConnection>>,
    file: Arc<DatabaseFile>,
    vectors: Arc<VectorIndex>,
    usage: Arc<UsageBuffer>,
}

/// Which file the store opened, so a write notices when the path no longer names it: SQLite
/// would go on writing into a deleted file, and what a user said would vanish at exit.
#[derive(Debug)]
struct DatabaseFile {
    path: std::path::PathBuf,
    identity: Option<(u64, u64)>,
}

impl DatabaseFile {
    fn of(path: &Path) -> Result<DatabaseFile, StoreError> {
        Ok(DatabaseFile {
            path: path.to_owned(),
            identity: identity(path),
        })
    }

    /// An error when the file at the path is gone or is another file now.
    fn check(&self) -> StoreResult<()> {
        if self.identity.is_some() && identity(&self.path) != self.identity {
            return Err(StoreError::Database(format!(
                "the database file {} was deleted or replaced while clara was running, so nothing more can be stored; restart clara",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// The device and inode of the file at `path`.
fn identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

impl SqliteStore {
    /// Opens (creating it and its folders when missing) the database at `path` and brings its
    /// schema up to date. Its connections share out `cache_mib` MiB of page cache.
    pub async fn open(path: &Path, cache_mib: u32) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Database(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let options = connect_options(path, cache_mib).create_if_missing(true);
        let cannot_open = cannot_open(path);
        // sqlx takes no lock around SQLite migrations: two processes opening a new database
        // at once would both try to create its tables, and the second to switch a new file
        // to WAL gets "database is locked" without waiting. An OS lock next to the file
        // takes turns, from creating the file to the last migration.
        let lock = migration_lock(path).await?;
        // Created here once; every later connection opens the file it finds and never makes
        // a new empty one in place of a database deleted while clara runs.
        SqliteConnection::connect_with(&options)
            .await
            .map_err(cannot_open)?
            .close()
            .await
            .map_err(cannot_open)?;
        let file = DatabaseFile::of(path)?;
        let options = options.create_if_missing(false);
        let pool = reader_pool(&options).await.map_err(cannot_open)?;
        let migrated = MIGRATOR.run(&pool).await;
        drop(lock);
        migrated.map_err(|e| StoreError::Database(format!("migration failed: {e}")))?;
        let writer = SqliteConnection::connect_with(&options)
            .await
            .map_err(cannot_open)?;
        Ok(SqliteStore {
            pool,
            writer: Arc::new(Mutex::new(writer)),
            file: Arc::new(file),
            vectors: Arc::default(),
            usage: Arc::default(),
        })
    }

    /// Opens the existing database at `path` for reading only: nothing is created or migrated
    /// and every write fails, so a command that only looks (`clara replay`) cannot change what
    /// it reads. A database older than this clara's schema is refused: `clara migrate` first.
    pub async fn open_read_only(path: &Path, cache_mib: u32) -> Result<SqliteStore, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Database(format!(
                "there is no database at {}",
                path.display()
            )));
        }
        // A database closed cleanly has no WAL index (`-shm`), and a read-only connection
        // cannot make one: a read-write connection (which writes no data) makes it first and
        // stays open until the readers are, or the index would go with it. Where the folder
        // is not writable this fails, and the read-only open says why.
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        let index_maker = if std::path::Path::new(&shm).exists() {
            None
        } else {
            SqliteConnection::connect_with(&connect_options(path, cache_mib))
                .await
                .ok()
        };
        let options = connect_options(path, cache_mib).read_only(true);
        let cannot_open = cannot_open(path);
        let pool = reader_pool(&options).await.map_err(cannot_open)?;
        let what = format!("the database at {}", path.display());
        let applied: Option<i64> = sqlx::query_scalar(super::APPLIED_VERSION)
            .fetch_one(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("{what} is not a clara database: {e}")))?;
        super::require_current(applied, &MIGRATOR, &what)?;
        let writer = SqliteConnection::connect_with(&options)
            .await
            .map_err(cannot_open)?;
        if let Some(connection) = index_maker {
            let _ = connection.close().await;
        }
        Ok(SqliteStore {
            pool,
            writer: Arc::new(Mutex::new(writer)),
            file: Arc::new(DatabaseFile::of(path)?),
            vectors: Arc::default(),
            usage: Arc::default(),
        })
    }

    /// Waits for in-flight work and closes every connection (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
        // The writer closes (and checkpoints) when the last clone of the store is dropped.
    }

    /// The writer connection, once the writes queued before this one are done, and only
    /// while the database file is still the one opened.
    async fn writer(&self) -> StoreResult<MutexGuard<'_, SqliteConnection>> {
        let writer = self.writer.lock().await;
        self.file.check()?;
        Ok(writer)
    }
}

/// An exclusive lock on `DB-migrate.lock` beside the database, held until dropped.
// A marked unsafe site: flock on a file clara owns.
#[allow(unsafe_code)]
async fn migration_lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = path.as_os_str().to_owned();
    name.push("-migrate.lock");
    let lock_path = std::path::PathBuf::from(name);
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor we own; it blocks until the lock is ours.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(file)
    })
    .await
    .map_err(|e| StoreError::Database(e.to_string()))?;
    locked.map_err(|e| StoreError::Database(format!("cannot lock for migrations: {e}")))
}

impl Sessions for SqliteStore {
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
        Box::pin(async move {
            sessions::start_session(
                &mut *self.writer().await?,
                user,
                conversation,
                previous,
                now,
            )
            .await
        })
    }

    fn end_session<'a>(
        &'a self,
        session: &'a str,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(
            async move { sessions::end_session(&mut *self.writer().await?, session, now).await },
        )
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
        Box::pin(async move {
            sessions::set_summary(&mut *self.writer().await?, session, summary).await
        })
    }

    fn add_message<'a>(
        &'a self,
        session: &'a str,
        role: Role,
        author: Option<&'a str>,
        content: &'a str,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(async move {
            sessions::add_message(
                &mut *self.writer().await?,
                session,
                role,
                author,
                content,
                now,
            )
            .await
        })
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

impl Memories for SqliteStore {
    fn add_memory<'a>(
        &'a self,
        memory: NewMemory,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<Memory>> {
        Box::pin(async move {
            memories::add_memory(&mut *self.writer().await?, &self.vectors, memory, now).await
        })
    }

    fn update_memory<'a>(
        &'a self,
        id: &'a str,
        text: &'a str,
        is_key: bool,
        embedding: Option<(&'a str, &'a [f32])>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            memories::update_memory(
                &mut *self.writer().await?,
                &self.vectors,
                id,
                text,
                is_key,
                embedding,
                now,
            )
            .await
        })
    }

    fn delete_memory<'a>(&'a self, id: &'a str, now: Millis) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            memories::delete_memory(&mut *self.writer().await?, &self.vectors, id, now).await
        })
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
        Box::pin(search::search_memories(&self.pool, &self.vectors, query))
    }

    fn search_memories_together<'a>(
        &'a self,
        queries: &'a [MemoryQuery<'a>],
    ) -> BoxFuture<'a, StoreResult<Vec<Vec<ScoredMemory>>>> {
        Box::pin(search::search_memories_together(
            &self.pool,
            &self.vectors,
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
        Box::pin(async move {
            memories::set_embedding(&mut *self.writer().await?, &self.vectors, id, model, vector)
                .await
        })
    }
}

impl JobQueue for SqliteStore {
    fn enqueue_job<'a>(
        &'a self,
        kind: &'a str,
        payload: &'a serde_json::Value,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(async move {
            jobs::enqueue_job(&mut *self.writer().await?, kind, payload, run_after).await
        })
    }

    fn claim_job<'a>(
        &'a self,
        now: Millis,
        lease_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<Job>>> {
        Box::pin(async move { jobs::claim_job(&mut *self.writer().await?, now, lease_ms).await })
    }

    fn complete_job(&self, id: i64) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move { jobs::complete_job(&mut *self.writer().await?, id).await })
    }

    fn retry_job<'a>(
        &'a self,
        id: i64,
        error: &'a str,
        run_after: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(
            async move { jobs::retry_job(&mut *self.writer().await?, id, error, run_after).await },
        )
    }
}

impl TaskLeases for SqliteStore {
    fn claim_task_run<'a>(
        &'a self,
        name: &'a str,
        due_at: Millis,
        now: Millis,
        lease_until: Millis,
        node: &'a str,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            tasks::claim_task_run(
                &mut *self.writer().await?,
                name,
                due_at,
                now,
                lease_until,
                node,
            )
            .await
        })
    }

    fn finish_task_run<'a>(
        &'a self,
        name: &'a str,
        node: &'a str,
        finished_at: Millis,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            tasks::finish_task_run(&mut *self.writer().await?, name, node, finished_at, error).await
        })
    }

    fn task_run<'a>(&'a self, name: &'a str) -> BoxFuture<'a, StoreResult<Option<TaskRun>>> {
        Box::pin(tasks::task_run(&self.pool, name))
    }
}

impl ChannelModes for SqliteStore {
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
        Box::pin(async move { channel_modes::set(&mut *self.writer().await?, setting).await })
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
        Box::pin(async move {
            channel_modes::clear(&mut *self.writer().await?, platform, channel_id).await
        })
    }
}

#[cfg(test)]
mod tests;

impl ToolLog for SqliteStore {
    fn record_tool_call<'a>(
        &'a self,
        record: &'a ToolCallRecord,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(async move { tool_calls::record(&mut *self.writer().await?, record).await })
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

impl ConnectionTokens for SqliteStore {
    fn save_token<'a>(
        &'a self,
        user_id: &'a str,
        connection: &'a str,
        sealed: &'a [u8],
        expires_at: Option<Millis>,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            connection_tokens::save(
                &mut *self.writer().await?,
                user_id,
                connection,
                sealed,
                expires_at,
                now,
            )
            .await
        })
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
        Box::pin(async move {
            connection_tokens::delete(&mut *self.writer().await?, user_id, connection).await
        })
    }

    fn claim_oauth_state<'a>(
        &'a self,
        nonce: &'a str,
        expires_at: Millis,
        now: Millis,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            connection_tokens::claim_state(&mut *self.writer().await?, nonce, expires_at, now).await
        })
    }
}

impl EmailWatch for SqliteStore {
    fn save_email_account<'a>(
        &'a self,
        account: &'a EmailAccount,
    ) -> BoxFuture<'a, StoreResult<i64>> {
        Box::pin(
            async move { email_watch::save_account(&mut *self.writer().await?, account).await },
        )
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
        Box::pin(async move {
            email_watch::remove_account(&mut *self.writer().await?, user_id, id).await
        })
    }

    fn claim_email_checks(
        &self,
        now: Millis,
        lease_ms: Millis,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<Vec<EmailAccount>>> {
        Box::pin(async move {
            email_watch::claim(&mut *self.writer().await?, now, lease_ms, limit).await
        })
    }

    fn finish_email_check<'a>(
        &'a self,
        id: i64,
        outcome: Result<Option<&'a str>, &'a str>,
        now: Millis,
        next_at: Millis,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            email_watch::finish(&mut *self.writer().await?, id, outcome, now, next_at).await
        })
    }

    fn email_settings<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<EmailSettings>> {
        Box::pin(email_watch::settings(&self.pool, user_id))
    }

    fn save_email_settings<'a>(
        &'a self,
        user_id: &'a str,
        settings: &'a EmailSettings,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            email_watch::save_settings(&mut *self.writer().await?, user_id, settings).await
        })
    }

    fn save_email_rule<'a>(
        &'a self,
        user_id: &'a str,
        rule: &'a UserEmailRule,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(
            async move { email_watch::save_rule(&mut *self.writer().await?, user_id, rule).await },
        )
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
        Box::pin(async move {
            email_watch::remove_rule(&mut *self.writer().await?, user_id, name).await
        })
    }

    fn record_email_alert<'a>(
        &'a self,
        alert: &'a EmailAlert,
    ) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        Box::pin(async move { email_watch::record_alert(&mut *self.writer().await?, alert).await })
    }

    fn undelivered_email_alerts(&self, limit: u32) -> BoxFuture<'_, StoreResult<Vec<EmailAlert>>> {
        Box::pin(email_watch::undelivered(&self.pool, limit))
    }

    fn mark_email_alert_delivered(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(
            async move { email_watch::mark_delivered(&mut *self.writer().await?, id, at).await },
        )
    }

    fn release_email_alert(&self, id: i64, at: Millis) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move { email_watch::release(&mut *self.writer().await?, id, at).await })
    }

    fn recent_email_alerts<'a>(
        &'a self,
        user_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, StoreResult<Vec<EmailAlert>>> {
        Box::pin(email_watch::recent(&self.pool, user_id, limit))
    }
}

impl UsageLog for SqliteStore {
    fn record_usage<'a>(&'a self, record: &'a UsageRecord) -> BoxFuture<'a, StoreResult<()>> {
        self.usage.hold(self, record.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn flush_usage(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.usage.write(self))
    }

    fn usage_totals(
        &self,
        by: UsageBy,
        since: Millis,
        until: Option<Millis>,
    ) -> BoxFuture<'_, StoreResult<Vec<UsageTotal>>> {
        Box::pin(async move {
            self.usage.write(self).await?;
            usage::totals(&self.pool, by, since, until).await
        })
    }

    fn usage_spent<'a>(
        &'a self,
        filter: &'a UsageFilter,
        since: Millis,
    ) -> BoxFuture<'a, StoreResult<UsageTotal>> {
        Box::pin(async move {
            self.usage.write(self).await?;
            usage::spent(&self.pool, filter, since).await
        })
    }
}

impl UsageSink for SqliteStore {
    fn insert<'a>(&'a self, records: &'a [UsageRecord]) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move { usage::insert(&mut *self.writer().await?, records).await })
    }
}

impl ImportMarks for SqliteStore {
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
        Box::pin(async move {
            import_marks::mark(
                &mut *self.writer().await?,
                source,
                kind,
                source_id,
                target_id,
            )
            .await
        })
    }
}
