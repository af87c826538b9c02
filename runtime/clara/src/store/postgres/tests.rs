//! Checks that need a real server (ignored unless `CLARA_TEST_POSTGRES_URL` is set): the
//! planner answers vector search from the per-dimension HNSW index.

use clara_core::store::{Memories, NewMemory};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

use super::PostgresStore;
use super::search::vector_sql;
use super::vectors::index_name;

/// Rows loaded so the index is clearly cheaper than a scan.
const ROWS: usize = 5_000;

#[tokio::test]
#[cfg_attr(
    not(clara_test_postgres),
    ignore = "needs CLARA_TEST_POSTGRES_URL: eval \"$(bash .ci/postgres.sh start)\""
)]
async fn vector_search_uses_the_hnsw_index_of_its_dimension() {
    let admin_url = std::env::var("CLARA_TEST_POSTGRES_URL").expect("run with the URL set");
    let name = format!("clara_explain_{:016x}", rand::random::<u64>());
    let mut admin = PgConnection::connect(&admin_url).await.expect("connect");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let (server, params) = admin_url.split_once('?').unwrap_or((&admin_url, ""));
    let (base, _) = server.rsplit_once('/').expect("URL with a database");
    let url = format!("{base}/{name}?{params}");
    let store = PostgresStore::connect(url.trim_end_matches('?'), 2, 40)
        .await
        .expect("open");

    // The first 3-dimensional vector creates the index; then load many more.
    store
        .add_memory(
            NewMemory {
                user_id: "ann".to_owned(),
                project: None,
                text: "first".to_owned(),
                is_key: false,
                embedding: Some(("m".to_owned(), vec![1.0, 0.0, 0.0])),
            },
            1,
        )
        .await
        .expect("add");
    sqlx::query(
        "INSERT INTO memories (id, user_id, text, embedding, embedding_model, embedding_dims, \
         created_at, updated_at) \
         SELECT 'bulk' || i, 'ann', 'bulk', \
             ARRAY[random(), random(), random()]::real[]::vector, 'm', 3, i, i \
         FROM generate_series(1, $1) AS i",
    )
    .bind(ROWS as i32)
    .execute(store.pool())
    .await
    .expect("bulk insert");
    sqlx::query("ANALYZE memories")
        .execute(store.pool())
        .await
        .expect("analyze");

    let explain = format!("EXPLAIN {}", vector_sql(3));
    let plan: Vec<String> = sqlx::query(AssertSqlSafe(explain))
        .bind(pgvector::Vector::from(vec![0.5_f32, 0.5, 0.1]))
        .bind("m")
        .bind("ann")
        .bind(None::<String>)
        .bind(10_i64)
        .fetch_all(store.pool())
        .await
        .expect("explain")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
    let plan = plan.join("\n");
    println!("{plan}");
    store.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .expect("drop database");
    assert!(
        plan.contains(&format!("Index Scan using {}", index_name(3))),
        "{plan}"
    );
}
