//! Checks of the SQLite store that are about its file: data outlives the process, and two
//! stores on one file (two processes) see each other's writes and claims (task runs and email
//! checks), model usage included.

use std::sync::Arc;

use clara::store::SqliteStore;
use clara_config::model::store::DEFAULT_SQLITE_CACHE_MIB;
use clara_core::llm::Role;
use clara_core::store::{
    JobQueue, Memories, MemoryQuery, Sessions, Store, TaskLeases, UsageBy, UsageLog, UsageRecord,
};
use serde_json::json;

use super::email_watch::claim_race;
use super::search::nearest;
use super::task_leases::race_rounds;
use super::{embedded, query, search};

/// The store on the file at `path`, as `clara` opens it by default.
async fn open(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(path, DEFAULT_SQLITE_CACHE_MIB)
        .await
        .expect("open the database file")
}

// SQLite only: the file itself.

#[tokio::test]
async fn sqlite_data_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/folders/clara.db");
    let (session, memory_id, job) = {
        let store = open(&path).await;
        let session = store
            .start_session("ann", "dm-ann", None, 1)
            .await
            .unwrap()
            .0;
        store
            .add_message(&session.id, Role::User, None, "remember me", 2)
            .await
            .unwrap();
        let memory = store
            .add_memory(embedded("ann", "Ann keeps bees", "m", &[0.0, 1.0]), 3)
            .await
            .unwrap();
        let job = store
            .enqueue_job("extract", &json!({"n": 1}), 4)
            .await
            .unwrap();
        store.close().await;
        (session, memory.id, job)
    };
    assert!(path.is_file());

    let store = open(&path).await;
    assert_eq!(
        store
            .open_session("ann", "dm-ann")
            .await
            .unwrap()
            .map(|s| s.id),
        Some(session.id.clone())
    );
    let messages = store.recent_messages(&session.id, 10).await.unwrap();
    assert_eq!(messages[0].content, "remember me");
    assert_eq!(store.memory_history(&memory_id).await.unwrap().len(), 1);
    let q = MemoryQuery {
        embedding: Some(("m", &[0.0, 1.0])),
        ..query("ann", "bees")
    };
    let found = search(&store, &q).await;
    assert_eq!(
        found
            .iter()
            .map(|m| (m.memory.id.as_str(), m.score))
            .collect::<Vec<_>>(),
        [(memory_id.as_str(), 1.0)]
    );
    assert_eq!(
        store.claim_job(10, 10).await.unwrap().map(|j| j.id),
        Some(job)
    );
}

#[tokio::test]
async fn sqlite_search_sees_what_another_process_wrote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let here = open(&path).await;
    let elsewhere = open(&path).await;
    let first = here
        .add_memory(embedded("ann", "one", "m", &[1.0, 0.0]), 1)
        .await
        .unwrap();
    assert_eq!(
        nearest(&here, "ann", &[1.0, 0.0]).await,
        [first.id.as_str()]
    );
    let second = elsewhere
        .add_memory(embedded("ann", "two", "m", &[0.0, 1.0]), 2)
        .await
        .unwrap();
    assert_eq!(nearest(&here, "ann", &[0.0, 1.0]).await[0], second.id);
    let third = elsewhere
        .add_memory(embedded("ann", "three", "m", &[0.0, 1.0]), 3)
        .await
        .unwrap();
    elsewhere.delete_memory(&second.id, 4).await.unwrap();
    // This process's own write after another's must not hide the other's changes.
    here.set_embedding(&first.id, "m", &[0.6, 0.8])
        .await
        .unwrap();
    assert_eq!(
        nearest(&here, "ann", &[0.0, 1.0]).await,
        [third.id.as_str(), first.id.as_str()]
    );
}

#[tokio::test]
async fn sqlite_task_run_claims_race_across_stores_on_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let here = open(&path).await;
    let elsewhere = open(&path).await;
    let stores: [Arc<dyn Store>; 2] = [Arc::new(here.clone()), Arc::new(elsewhere.clone())];
    race_rounds(&stores).await;
    here.close().await;
    elsewhere.close().await;
    drop(stores);

    // A restart sees the last claimed run, so it neither repeats it nor forgets it.
    let reopened = open(&path).await;
    let run = reopened.task_run("race").await.unwrap().expect("stored");
    assert_eq!(
        (run.last_due_at, run.last_finished_at, run.last_ok),
        (5_000, Some(5_500), Some(true))
    );
    assert!(
        !reopened
            .claim_task_run("race", 5_000, 9_000, 10_000, "restarted")
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_email_check_claims_race_across_stores_on_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let here = open(&path).await;
    let elsewhere = open(&path).await;
    let stores: [Arc<dyn Store>; 2] = [Arc::new(here.clone()), Arc::new(elsewhere.clone())];
    claim_race(&stores).await;
    here.close().await;
    elsewhere.close().await;
}

#[tokio::test]
async fn a_read_only_store_reads_beside_a_writer_and_never_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let missing = SqliteStore::open_read_only(&path, DEFAULT_SQLITE_CACHE_MIB)
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("there is no database at"),
        "{missing}"
    );
    assert!(!path.exists(), "a read-only open creates nothing");

    let writer = open(&path).await;
    let (session, _) = writer
        .start_session("ann", "dm-ann", None, 1)
        .await
        .unwrap();
    writer
        .add_message(&session.id, Role::User, Some("Ann"), "hello", 2)
        .await
        .unwrap();
    let reader = SqliteStore::open_read_only(&path, DEFAULT_SQLITE_CACHE_MIB)
        .await
        .expect("a current database opens read-only while its writer runs");
    let messages = reader.recent_messages(&session.id, 10).await.unwrap();
    assert_eq!(messages.len(), 1);
    let refused = reader
        .add_message(&session.id, Role::User, None, "sneaky", 3)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("readonly"), "{refused}");
    assert_eq!(
        writer.recent_messages(&session.id, 10).await.unwrap().len(),
        1
    );

    // With no writer left (its WAL checkpointed and removed) the file still opens read-only.
    drop(reader);
    writer.close().await;
    drop(writer);
    let alone = SqliteStore::open_read_only(&path, DEFAULT_SQLITE_CACHE_MIB)
        .await
        .expect("a database nobody writes opens read-only");
    assert_eq!(
        alone.recent_messages(&session.id, 10).await.unwrap().len(),
        1
    );
    drop(alone);

    // A database behind this clara's schema is refused, not migrated.
    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let old = SqliteStore::open_read_only(&path, DEFAULT_SQLITE_CACHE_MIB)
        .await
        .unwrap_err();
    assert!(
        old.to_string().contains("run `clara migrate` first"),
        "{old}"
    );
}

#[tokio::test]
async fn model_usage_reaches_the_file_in_moments_and_at_once_when_flushed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("clara.db");
    let writer = open(&path).await;
    let reader = open(&path).await;
    let call = |at| UsageRecord {
        at,
        purpose: "turn".to_owned(),
        provider: "openrouter".to_owned(),
        model: "m".to_owned(),
        input_tokens: 10,
        ..UsageRecord::default()
    };
    let calls_seen = || async {
        let totals = reader.usage_totals(UsageBy::Model, 0, None).await.unwrap();
        totals.first().map_or(0, |t| t.calls)
    };
    // Held by the writer, written by itself soon after, with no read or flush on its side.
    writer.record_usage(&call(1)).await.unwrap();
    let waited = std::time::Instant::now();
    while calls_seen().await < 1 {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(10),
            "the held record was never written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Flushed, it is there at once (what shutdown does).
    writer.record_usage(&call(2)).await.unwrap();
    writer.flush_usage().await.unwrap();
    assert_eq!(calls_seen().await, 2);
}
