//! The store contract: every check is an `async fn(Arc<dyn Store>)`, run against a fresh
//! SQLite file, against the in-memory store, and against Postgres when
//! `CLARA_TEST_POSTGRES_URL` is set. One module per area of the store (`sessions`, `memories`,
//! `search`, `jobs`, `task_leases`, `channel_modes`, `usage`, `tool_calls`,
//! `connection_tokens`, `email_watch`), so `store_contract::search::` runs one area and
//! `store_contract::*::in_memory::` one backend; `sqlite_file` holds the checks about the SQLite
//! file itself.

use std::path::Path;
use std::sync::Arc;

use clara_config::Env;
use clara_config::model::store::StoreConfig;
use clara_core::store::{MemoryQuery, NewMemory, ScoredMemory, Store, StoreError};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Runs each named contract function of an area against every backend: a `mod sqlite`,
/// `mod in_memory` and `mod postgres` of tests in the area's module.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = crate::store_contract::sqlite_store(dir.path()).await;
                    super::$name(store).await;
                }
            )*
        }
        mod in_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(std::sync::Arc::new(clara_core::store::InMemoryStore::new())).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(not(clara_test_postgres), ignore = "needs CLARA_TEST_POSTGRES_URL: eval \"$(bash .ci/postgres.sh start)\"")]
                async fn $name() {
                    let (store, db) = crate::store_contract::postgres_store().await;
                    super::$name(store).await;
                    db.drop().await;
                }
            )*
        }
    };
}

mod channel_modes;
mod connection_tokens;
mod email_watch;
mod import_marks;
mod jobs;
mod memories;
mod search;
mod sessions;
mod sqlite_file;
mod task_leases;
mod tool_calls;
mod usage;

/// A fresh SQLite store in `dir`, opened the way the runtime opens it.
async fn sqlite_store(dir: &Path) -> Arc<dyn Store> {
    let config = StoreConfig::Sqlite {
        path: "data/clara.db".to_owned(),
        cache_mib: clara_config::model::store::DEFAULT_SQLITE_CACHE_MIB,
    };
    clara::store::open(
        &config,
        dir,
        &Env::default(),
        clara::store::Access::ReadWrite,
    )
    .await
    .expect("open sqlite store")
}

/// The variable holding the test server's URL; the Postgres tests are ignored without it.
const POSTGRES_URL_VAR: &str = "CLARA_TEST_POSTGRES_URL";

/// A Postgres store on the server `CLARA_TEST_POSTGRES_URL` points at.
///
/// Each call gets its own empty database, created on the server the URL points at (the
/// checks assume no jobs or memories but their own) and opened the way the runtime opens a
/// store; the returned [`TestDatabase`] drops it once the check passed.
async fn postgres_store() -> (Arc<dyn Store>, TestDatabase) {
    let url = std::env::var(POSTGRES_URL_VAR).expect("the Postgres tests run with the URL set");
    let db = TestDatabase::create(&url).await;
    let config = StoreConfig::Postgres {
        url_env: POSTGRES_URL_VAR.to_owned(),
        max_connections: 4,
        hnsw_ef_search: 100,
    };
    let env = Env::from_vars([(POSTGRES_URL_VAR.to_owned(), db.url.clone())]);
    let root = std::env::temp_dir();
    let store = clara::store::open(&config, &root, &env, clara::store::Access::ReadWrite)
        .await
        .expect("open postgres store");
    (store, db)
}

/// A throwaway database on the test server.
pub(crate) struct TestDatabase {
    /// The server URL it was created through.
    admin_url: String,
    /// Its name.
    name: String,
    /// The URL that opens it.
    pub(crate) url: String,
}

impl TestDatabase {
    /// Creates an empty database with a random name on the server `admin_url` points at.
    pub(crate) async fn create(admin_url: &str) -> TestDatabase {
        let name = format!("clara_test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("connect to the test server");
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        let _ = admin.close().await;
        TestDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    /// Drops the database (closing what is still connected to it).
    pub(crate) async fn drop(self) {
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .expect("connect to the test server");
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(AssertSqlSafe(drop))
            .execute(&mut admin)
            .await
            .expect("drop the test database");
        let _ = admin.close().await;
    }
}

/// `url` (`postgres://user@host:port/db?params`) pointing at database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, params) = url
        .split_once('?')
        .map_or((url, None), |(b, p)| (b, Some(p)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(params) = params {
        out.push('?');
        out.push_str(params);
    }
    out
}

#[tokio::test]
async fn postgres_without_its_url_variable_says_which_is_missing() {
    let config = StoreConfig::Postgres {
        url_env: "CLARA_TEST_UNSET_URL".to_owned(),
        max_connections: 1,
        hnsw_ef_search: 10,
    };
    let Err(StoreError::Database(message)) = clara::store::open(
        &config,
        Path::new("."),
        &Env::default(),
        clara::store::Access::ReadWrite,
    )
    .await
    else {
        panic!("a missing URL variable must be an error");
    };
    assert!(message.contains("`CLARA_TEST_UNSET_URL`"), "{message}");
    assert!(message.contains("not set"), "{message}");
}

pub(super) fn memory(user: &str, project: Option<&str>, text: &str) -> NewMemory {
    NewMemory {
        user_id: user.to_owned(),
        project: project.map(str::to_owned),
        text: text.to_owned(),
        is_key: false,
        embedding: None,
    }
}

pub(super) fn embedded(user: &str, text: &str, model: &str, vector: &[f32]) -> NewMemory {
    NewMemory {
        embedding: Some((model.to_owned(), vector.to_vec())),
        ..memory(user, None, text)
    }
}

pub(super) fn query<'a>(user: &'a str, text: &'a str) -> MemoryQuery<'a> {
    MemoryQuery {
        user_id: user,
        project: None,
        text,
        embedding: None,
        limit: 10,
        candidates: 50,
        rrf_k: 60,
    }
}

pub(super) async fn search(store: &dyn Store, query: &MemoryQuery<'_>) -> Vec<ScoredMemory> {
    store.search_memories(query).await.expect("search")
}

pub(super) fn texts(found: &[ScoredMemory]) -> Vec<&str> {
    found.iter().map(|m| m.memory.text.as_str()).collect()
}
