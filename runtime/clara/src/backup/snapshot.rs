//! A consistent snapshot of one store into a file, and a snapshot put back. SQLite is copied
//! with `VACUUM INTO` (one read transaction: a running clara keeps reading and writing
//! meanwhile) and restored into a fresh file that is checked, then swapped in; Postgres goes
//! through `pg_dump` / `pg_restore` in one transaction.

use std::path::{Path, PathBuf};

use clara_config::Env;
use clara_config::model::store::StoreConfig;
use serde::{Deserialize, Serialize};
use sqlx::{ConnectOptions, Connection};

/// What kind of store a snapshot is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A SQLite database file.
    Sqlite,
    /// A `pg_dump` archive (custom format).
    Postgres,
}

/// Where a store lives.
enum Place {
    File(PathBuf),
    Database(String),
}

fn place(config: &StoreConfig, root: &Path, env: &Env) -> Result<Place, String> {
    match config {
        StoreConfig::Sqlite { path, .. } => Ok(Place::File(root.join(path))),
        StoreConfig::Postgres { url_env, .. } => env
            .get(url_env)
            .map(|url| Place::Database(url.to_owned()))
            .ok_or_else(|| format!("the variable `{url_env}` (the database URL) is not set")),
    }
}

/// The kind of snapshot `config` makes.
pub fn kind(config: &StoreConfig) -> Kind {
    match config {
        StoreConfig::Sqlite { .. } => Kind::Sqlite,
        StoreConfig::Postgres { .. } => Kind::Postgres,
    }
}

/// Writes a snapshot of the store to `into` (which must not exist).
pub async fn take(config: &StoreConfig, root: &Path, env: &Env, into: &Path) -> Result<(), String> {
    match place(config, root, env)? {
        Place::File(db) => {
            if !db.is_file() {
                return Err(format!("there is no database at {}", db.display()));
            }
            let mut conn = sqlite(&db).await?;
            let target = into.to_str().ok_or("the snapshot path is not UTF-8")?;
            sqlx::query("VACUUM INTO ?1")
                .bind(target)
                .execute(&mut conn)
                .await
                .map_err(|e| format!("the snapshot failed: {e}"))?;
            let _ = conn.close().await;
            Ok(())
        }
        Place::Database(url) => {
            let output = tokio::process::Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
                .arg(into)
                .arg("--dbname")
                .arg(&url)
                .output()
                .await
                .map_err(|e| missing_tool("pg_dump", &e))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!("pg_dump failed: {}", last_line(&output.stderr)))
            }
        }
    }
}

/// Whether the store holds anything a restore would overwrite: messages or memories.
pub async fn holds_data(config: &StoreConfig, root: &Path, env: &Env) -> Result<bool, String> {
    const COUNT: &str = "SELECT (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM memories)";
    match place(config, root, env)? {
        Place::File(db) => {
            if !db.is_file() {
                return Ok(false);
            }
            let mut conn = sqlite(&db).await?;
            let count: Result<(i64,), _> = sqlx::query_as(COUNT).fetch_one(&mut conn).await;
            let _ = conn.close().await;
            // A database without clara's tables holds nothing of clara's.
            Ok(count.is_ok_and(|(n,)| n > 0))
        }
        Place::Database(url) => {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| format!("cannot reach the database: {e}"))?;
            let count: Result<(i64,), _> = sqlx::query_as(COUNT).fetch_one(&mut conn).await;
            let _ = conn.close().await;
            Ok(count.is_ok_and(|(n,)| n > 0))
        }
    }
}

/// Puts the snapshot at `from` back as the store. SQLite: the snapshot is checked
/// (`PRAGMA integrity_check`) where it is, then moved over the database file with its
/// journal files removed; Postgres: `pg_restore --clean` in a single transaction.
pub async fn put_back(
    config: &StoreConfig,
    root: &Path,
    env: &Env,
    from: &Path,
) -> Result<(), String> {
    match place(config, root, env)? {
        Place::File(db) => {
            let mut conn = sqlite(from).await?;
            let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| format!("the snapshot is not a database: {e}"))?;
            let _ = conn.close().await;
            if verdict != "ok" {
                return Err(format!(
                    "the snapshot fails SQLite's integrity check: {verdict}"
                ));
            }
            if let Some(dir) = db.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            for suffix in ["-wal", "-shm"] {
                let mut name = db.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(name));
            }
            std::fs::rename(from, &db)
                .map_err(|e| format!("cannot move the snapshot to {}: {e}", db.display()))
        }
        Place::Database(url) => {
            let output = tokio::process::Command::new("pg_restore")
                .args([
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    "--single-transaction",
                    "--exit-on-error",
                    "--dbname",
                ])
                .arg(&url)
                .arg(from)
                .output()
                .await
                .map_err(|e| missing_tool("pg_restore", &e))?;
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "pg_restore failed (nothing was changed): {}",
                    last_line(&output.stderr)
                ))
            }
        }
    }
}

async fn sqlite(path: &Path) -> Result<sqlx::SqliteConnection, String> {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

fn missing_tool(program: &str, error: &std::io::Error) -> String {
    if error.kind() == std::io::ErrorKind::NotFound {
        format!("`{program}` is not installed (Debian: apt install postgresql-client)")
    } else {
        format!("cannot run `{program}`: {error}")
    }
}

fn last_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no reason given")
        .to_owned()
}
