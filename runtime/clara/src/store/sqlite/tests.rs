//! Checks of the SQLite build itself, beside the shared store contract.

use super::*;
use clara_config::model::store::DEFAULT_SQLITE_CACHE_MIB;

#[tokio::test]
async fn the_bundled_sqlite_has_fts5() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("clara.db"), DEFAULT_SQLITE_CACHE_MIB)
        .await
        .expect("open");
    let (fts5,): (i64,) = sqlx::query_as("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
        .fetch_one(&store.pool)
        .await
        .expect("query");
    assert_eq!(fts5, 1, "the bundled SQLite lacks FTS5");
    let session = store
        .start_session("u", "dm-u", None, 1)
        .await
        .expect("start")
        .0;
    assert_eq!(
        store.session(&session.id).await.expect("get"),
        Some(session)
    );
}

#[tokio::test]
async fn the_page_cache_is_shared_out_among_the_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("clara.db"), 9)
        .await
        .expect("open");
    // Nine connections (a writer and eight readers) share 9 MiB: 1 MiB, as -KiB, each.
    for conn in [
        &mut *store.pool.acquire().await.expect("reader"),
        &mut *store.writer.lock().await,
    ] {
        let (size,): (i64,) = sqlx::query_as("PRAGMA cache_size")
            .fetch_one(conn)
            .await
            .expect("pragma");
        assert_eq!(size, -1024);
    }
}

#[tokio::test]
async fn upgrading_ends_all_but_the_newest_of_several_open_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    {
        let store = SqliteStore::open(&path, DEFAULT_SQLITE_CACHE_MIB)
            .await
            .expect("open");
        // The state an older clara could leave: two open sessions for one conversation.
        for statement in [
            "DROP INDEX sessions_one_open",
            "INSERT INTO sessions (id, user_id, conversation, started_at, last_activity_at) \
             VALUES ('old', 'ann', 'dm-ann', 1, 5), ('new', 'ann', 'dm-ann', 2, 6), \
             ('bob', 'bob', 'dm-bob', 1, 1)",
            "DELETE FROM _sqlx_migrations WHERE description = 'one open session'",
        ] {
            sqlx::query(statement)
                .execute(&store.pool)
                .await
                .expect(statement);
        }
    }
    let store = SqliteStore::open(&path, DEFAULT_SQLITE_CACHE_MIB)
        .await
        .expect("reopen migrates");
    let open = store.open_session("ann", "dm-ann").await.unwrap().unwrap();
    assert_eq!(open.id, "new");
    let old = store.session("old").await.unwrap().unwrap();
    assert_eq!(old.ended_at, Some(5), "ended at its last activity");
    assert!(store.open_session("bob", "dm-bob").await.unwrap().is_some());
}

#[tokio::test]
async fn a_database_deleted_while_open_refuses_writes_instead_of_losing_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let store = SqliteStore::open(&path, DEFAULT_SQLITE_CACHE_MIB)
        .await
        .expect("open");
    let (session, _) = store.start_session("u", "dm-u", None, 1).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    let error = store
        .add_message(&session.id, Role::User, None, "hello", 2)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("was deleted or replaced"),
        "{error}"
    );
    assert!(!path.exists(), "no empty database takes its place");
}
