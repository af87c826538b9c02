//! `clara import mypalclara` (the real binary) from a MyPalClara installation the test builds
//! from the reference schema (`db/models.py`): a SQLite database with projects, sessions (one
//! of an older schema's shape), messages and channel summaries, and memories as a JSON export
//! of the points with their vectors — and, with Postgres, the same in a Postgres database and
//! a pgvector table. A dry run writes nothing; the import keeps users, conversations, times
//! and projects; a second run adds nothing; a row without what clara needs is named.

use std::path::Path;

use serde_json::json;
use sqlx::Connection;

use crate::store_contract::TestDatabase;
use crate::support::{self, ok, said, shipped_root};

const SCHEMA: &str = "
CREATE TABLE projects (id VARCHAR PRIMARY KEY, owner_id VARCHAR, name VARCHAR);
CREATE TABLE sessions (id VARCHAR PRIMARY KEY, project_id VARCHAR, user_id VARCHAR,
    context_id VARCHAR DEFAULT 'default', title VARCHAR, archived VARCHAR DEFAULT 'false',
    started_at TIMESTAMP, last_activity_at TIMESTAMP, previous_session_id VARCHAR,
    context_snapshot TEXT, session_summary TEXT);
CREATE TABLE messages (id INTEGER PRIMARY KEY, session_id VARCHAR, user_id VARCHAR,
    role VARCHAR, content TEXT, created_at TIMESTAMP);
CREATE TABLE channel_summaries (id VARCHAR PRIMARY KEY, channel_id VARCHAR, summary TEXT,
    summary_cutoff_at TIMESTAMP, last_updated_at TIMESTAMP);
";

const ROWS: &str = "
INSERT INTO projects VALUES ('p1', 'discord-1', 'Garden');
INSERT INTO sessions (id, project_id, user_id, context_id, started_at, last_activity_at, session_summary)
    VALUES ('s1', 'p1', 'discord-1', 'default', '2025-03-01 10:00:00', '2025-03-01 10:05:00', 'Talked about tomatoes.');
INSERT INTO sessions (id, project_id, user_id, context_id, started_at, last_activity_at)
    VALUES ('s2', 'p1', 'discord-2', 'discord-channel-77', '2025-03-02 09:00:00.250', '2025-03-02 09:01:00');
INSERT INTO messages VALUES (1, 's1', 'discord-1', 'user', 'My tomatoes are wilting', '2025-03-01 10:00:00');
INSERT INTO messages VALUES (2, 's1', 'discord-1', 'assistant', 'Water them in the morning.', '2025-03-01 10:00:05');
INSERT INTO messages VALUES (3, 's1', 'discord-1', 'user', 'Thanks!', '2025-03-01 10:05:00');
INSERT INTO messages VALUES (4, 's2', 'discord-2', 'user', 'Hello channel', '2025-03-02 09:00:30');
INSERT INTO messages VALUES (5, 's2', 'discord-2', 'assistant', 'Hi there', '2025-03-02 09:01:00');
INSERT INTO channel_summaries VALUES ('c1', 'discord-channel-77', 'A greeting.', '2025-03-02 09:01:00', '2025-03-02 09:02:00');
";

/// MyPalClara's memory points: two facts of user 1 (one key, filed under the project), one
/// of user 2, and a mood record that is not a fact.
fn points() -> serde_json::Value {
    json!([
        {"id": "m1", "vector": [0.1, 0.2, 0.3], "payload": {"data": "Grows tomatoes", "user_id": "discord-1",
            "agent_id": "clara", "project_id": "p1", "is_key": "false",
            "created_at": "2025-03-01T02:00:00-08:00", "updated_at": "2025-03-01T02:00:00-08:00"}},
        {"id": "m2", "vector": [0.3, 0.2, 0.1], "payload": {"data": "Lives in Lisbon", "user_id": "discord-1",
            "agent_id": "clara", "is_key": "true", "created_at": "2025-02-01T00:00:00-08:00"}},
        {"id": "m3", "vector": [0.2, 0.2, 0.2], "payload": {"data": "Likes jazz", "user_id": "discord-2",
            "agent_id": "clara", "is_key": "false", "created_at": "2025-03-02T00:00:00-08:00"}},
        {"id": "m4", "vector": [0.0, 0.0, 1.0], "payload": {"data": "Felt happy", "user_id": "discord-1",
            "memory_type": "emotional_context", "created_at": "2025-03-01T00:00:00-08:00"}}
    ])
}

async fn run_sql(conn: &mut sqlx::SqliteConnection, sql: &str) {
    for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

fn import(root: &Path, args: &[&str]) -> std::process::Output {
    support::clara(root)
        .env("OPENROUTER_API_KEY", "k")
        .args(["import", "mypalclara"])
        .args(args)
        .output()
        .unwrap()
}

/// A clara session: user, conversation, start, end, summary.
type SessionRow = (String, String, i64, Option<i64>, Option<String>);

/// clara's sessions (user, conversation, start, end, summary) and messages (role, content,
/// time), from its SQLite file.
async fn clara_rows(root: &Path) -> (Vec<String>, Vec<String>) {
    let db = root.join("data/clara.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let sessions: Vec<SessionRow> = sqlx::query_as(
        "SELECT user_id, conversation, started_at, ended_at, summary FROM sessions ORDER BY started_at",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let messages: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT role, content, created_at FROM messages ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    (
        sessions.iter().map(|s| format!("{s:?}")).collect(),
        messages.iter().map(|m| format!("{m:?}")).collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mypalclara_sqlite_installation_moves_in_once() {
    let root = shipped_root();
    let old = tempfile::tempdir().unwrap();
    let db = old.path().join("clara.db");
    let mut conn = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    run_sql(&mut conn, SCHEMA).await;
    run_sql(&mut conn, ROWS).await;
    conn.close().await.unwrap();
    let export = old.path().join("memories.json");
    std::fs::write(&export, points().to_string()).unwrap();
    let (db, export) = (db.to_str().unwrap(), export.to_str().unwrap());

    let dry = ok(import(
        root.path(),
        &["--db", db, "--memories", export, "--dry-run"],
    ));
    assert!(
        dry.starts_with(
            "would import 2 sessions, 5 messages and 3 memories of 2 users (0 already here)\n"
        ),
        "{dry}"
    );
    assert!(
        dry.contains("left out: 1 `emotional_context` memories (not facts)"),
        "{dry}"
    );
    assert!(dry.contains("left out: 1 channel summaries"), "{dry}");
    assert!(dry.ends_with("nothing was written (--dry-run)\n"), "{dry}");
    let none = ok(support::clara(root.path())
        .env("OPENROUTER_API_KEY", "k")
        .args(["memory", "list"])
        .output()
        .unwrap());
    assert_eq!(none, "no memories\n");

    let done = ok(import(root.path(), &["--db", db, "--memories", export]));
    assert!(
        done.starts_with(
            "imported 2 sessions, 5 messages and 3 memories of 2 users (0 already here)\n"
        ),
        "{done}"
    );
    let (sessions, messages) = clara_rows(root.path()).await;
    assert_eq!(
        sessions,
        [
            r#"("discord-1", "dm-discord-1", 1740823200000, Some(1740823500000), Some("Talked about tomatoes."))"#,
            r#"("discord-2", "channel-77", 1740906000250, Some(1740906060000), None)"#,
        ]
    );
    assert_eq!(messages.len(), 5);
    assert_eq!(
        messages[0],
        r#"("user", "My tomatoes are wilting", 1740823200000)"#
    );
    assert_eq!(messages[4], r#"("assistant", "Hi there", 1740906060000)"#);
    let listed = ok(support::clara(root.path())
        .env("OPENROUTER_API_KEY", "k")
        .args(["memory", "list", "--user", "discord-1"])
        .output()
        .unwrap());
    assert!(
        listed.contains("key 2025-02-01  Lives in Lisbon"),
        "{listed}"
    );
    assert!(
        listed.contains("[Garden] 2025-03-01  Grows tomatoes"),
        "{listed}"
    );

    assert!(
        done.contains("memory search uses full text until embeddings are configured"),
        "{done}"
    );

    // Where clara embeds with MyPalClara's model (and size), the vectors come along.
    let embedded = shipped_root();
    let with_embeddings = support::clara(embedded.path())
        .env("OPENROUTER_API_KEY", "k")
        .env("OPENAI_API_KEY", "k")
        .env("CLARA_EMBEDDINGS__ENABLED", "true")
        .env("CLARA_EMBEDDINGS__DIMENSIONS", "3")
        .args(["import", "mypalclara", "--db", db, "--memories", export])
        .output()
        .unwrap();
    let said_there = ok(with_embeddings);
    assert!(!said_there.contains("new embeddings"), "{said_there}");
    let file = embedded.path().join("data/clara.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let (kept,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM memories WHERE length(embedding) = 12 AND embedding_model IS NOT NULL",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_eq!(kept, 3, "three memories with their 3-dimensional vectors");

    let again = ok(import(root.path(), &["--db", db, "--memories", export]));
    assert!(
        again.starts_with(
            "imported 0 sessions, 0 messages and 0 memories of 2 users (10 already here)\n"
        ),
        "{again}"
    );
    assert_eq!(clara_rows(root.path()).await.1.len(), 5);

    // A row without what clara needs is named, and nothing is written.
    let broken = old.path().join("broken.db");
    std::fs::copy(db, &broken).unwrap();
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", broken.display()))
        .await
        .unwrap();
    run_sql(
        &mut conn,
        "INSERT INTO messages (id, session_id, content) VALUES (9, 's1', 'x')",
    )
    .await;
    conn.close().await.unwrap();
    let refused = import(
        root.path(),
        &["--db", broken.to_str().unwrap(), "--source", "other"],
    );
    assert!(!refused.status.success());
    assert!(
        said(&refused).contains("message 9 has no session_id or role"),
        "{}",
        said(&refused)
    );
    assert_eq!(clara_rows(root.path()).await.0.len(), 2);
    let missing = import(root.path(), &["--db", "/nowhere/clara.db"]);
    assert!(said(&missing).contains("there is no MyPalClara database at /nowhere/clara.db"));
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(clara_test_postgres),
    ignore = "needs CLARA_TEST_POSTGRES_URL: eval \"$(bash .ci/postgres.sh start)\""
)]
async fn a_mypalclara_postgres_installation_with_pgvector_moves_in() {
    let server = std::env::var("CLARA_TEST_POSTGRES_URL").unwrap();
    let old = TestDatabase::create(&server).await;
    let mut conn = sqlx::PgConnection::connect(&old.url).await.unwrap();
    let schema = SCHEMA.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY");
    for statement in schema
        .split(';')
        .chain(ROWS.split(';'))
        .chain([
            "CREATE EXTENSION IF NOT EXISTS vector",
            "CREATE TABLE clara_memories (id UUID PRIMARY KEY, vector vector(3), payload JSONB)",
        ])
        .filter(|s| !s.trim().is_empty())
    {
        sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    for (i, point) in points().as_array().unwrap().iter().enumerate() {
        sqlx::query("INSERT INTO clara_memories VALUES ($1::uuid, $2::vector, $3::jsonb)")
            .bind(format!("00000000-0000-0000-0000-00000000000{i}"))
            .bind(point["vector"].to_string())
            .bind(point["payload"].to_string())
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();

    let root = shipped_root();
    let done = support::clara(root.path())
        .env("OPENROUTER_API_KEY", "k")
        .env("MYPALCLARA_DATABASE_URL", &old.url)
        .args([
            "import",
            "mypalclara",
            "--db-env",
            "MYPALCLARA_DATABASE_URL",
            "--memories-env",
            "MYPALCLARA_DATABASE_URL",
        ])
        .output()
        .unwrap();
    let done = ok(done);
    assert!(
        done.starts_with(
            "imported 2 sessions, 5 messages and 3 memories of 2 users (0 already here)\n"
        ),
        "{done}"
    );
    let (sessions, messages) = clara_rows(root.path()).await;
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        messages[0],
        r#"("user", "My tomatoes are wilting", 1740823200000)"#
    );
    old.drop().await;
}
