//! Checks of the SQLite build itself, beside the shared store contract.

use super::*;

#[tokio::test]
async fn the_bundled_sqlite_has_fts5() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("clara.db"))
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
        .expect("start");
    assert_eq!(
        store.session(&session.id).await.expect("get"),
        Some(session)
    );
}
