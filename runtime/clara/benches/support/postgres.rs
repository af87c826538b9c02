//! Throwaway Postgres databases for the benches, on the server `CLARA_TEST_POSTGRES_URL` names.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Creates the database `name` afresh (dropping one left by an earlier run) with room to
/// build HNSW indexes in memory; returns its URL.
pub async fn fresh_database(admin_url: &str, name: &str) -> String {
    admin(
        admin_url,
        &[
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
            format!("ALTER DATABASE {name} SET maintenance_work_mem = '2GB'"),
        ],
    )
    .await;
    match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("unexpected URL {admin_url}"),
    }
}

/// Drops the database `name`, connections and all.
pub async fn drop_database(admin_url: &str, name: &str) {
    admin(
        admin_url,
        &[format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")],
    )
    .await;
}

async fn admin(admin_url: &str, statements: &[String]) {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .expect("connect to the Postgres server");
    for statement in statements {
        sqlx::query(AssertSqlSafe(statement.clone()))
            .execute(&mut conn)
            .await
            .expect("manage the bench database");
    }
    let _ = conn.close().await;
}
