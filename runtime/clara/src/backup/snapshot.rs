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
                .envs(pg_env(&url)?)
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
            counted(count)
        }
        Place::Database(url) => {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| format!("cannot reach the database: {e}"))?;
            let count: Result<(i64,), _> = sqlx::query_as(COUNT).fetch_one(&mut conn).await;
            let _ = conn.close().await;
            counted(count)
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
            // The database it replaces is kept beside it (with its journal files, under the
            // names SQLite gives them), not deleted.
            let with = |path: &Path, suffix: &str| {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                PathBuf::from(name)
            };
            let kept = with(&db, ".pre-restore");
            if db.exists() {
                for suffix in ["", "-wal", "-shm"] {
                    let from = with(&db, suffix);
                    if from.exists() {
                        std::fs::rename(&from, with(&kept, suffix))
                            .map_err(|e| format!("cannot set {} aside: {e}", from.display()))?;
                    }
                }
            }
            std::fs::rename(from, &db).map_err(|e| {
                // Put back what was there.
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::rename(with(&kept, suffix), with(&db, suffix));
                }
                format!("cannot move the snapshot to {}: {e}", db.display())
            })
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
                // The database name alone: the rest (password included) goes by variables.
                .arg(
                    pg_env(&url)?
                        .iter()
                        .find(|(k, _)| *k == "PGDATABASE")
                        .map_or("postgres", |(_, v)| v.as_str()),
                )
                .envs(pg_env(&url)?)
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

/// Whether a count found rows; a database without clara's tables holds nothing of clara's,
/// and any other failure is said (a restore is not let through on a guess).
fn counted(count: Result<(i64,), sqlx::Error>) -> Result<bool, String> {
    match count {
        Ok((n,)) => Ok(n > 0),
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some("42P01") || e.message().contains("no such table") =>
        {
            Ok(false)
        }
        Err(e) => Err(format!("cannot tell whether the store holds data: {e}")),
    }
}

/// The libpq variables for `url`, so that no password is on a command line (where every
/// user of the machine can read it).
fn pg_env(url: &str) -> Result<Vec<(&'static str, String)>, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| "the database URL is not a URL".to_owned())?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let mut env = Vec::new();
    if let Some(host) = parsed.host_str() {
        env.push((
            "PGHOST",
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        ));
    }
    if let Some(port) = parsed.port() {
        env.push(("PGPORT", port.to_string()));
    }
    if !parsed.username().is_empty() {
        env.push(("PGUSER", decode(parsed.username())));
    }
    if let Some(password) = parsed.password() {
        env.push(("PGPASSWORD", decode(password)));
    }
    let database = parsed.path().trim_start_matches('/');
    if !database.is_empty() {
        env.push(("PGDATABASE", decode(database)));
    }
    for (key, value) in parsed.query_pairs() {
        let var = match key.as_ref() {
            "sslmode" => "PGSSLMODE",
            "sslrootcert" => "PGSSLROOTCERT",
            "application_name" => "PGAPPNAME",
            "options" => "PGOPTIONS",
            _ => continue,
        };
        env.push((var, value.into_owned()));
    }
    Ok(env)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_becomes_libpq_variables() {
        let env =
            pg_env("postgres://clara:p%40ss@db.example.com:5433/clara_db?sslmode=require").unwrap();
        assert_eq!(
            env,
            [
                ("PGHOST", "db.example.com".to_owned()),
                ("PGPORT", "5433".to_owned()),
                ("PGUSER", "clara".to_owned()),
                ("PGPASSWORD", "p@ss".to_owned()),
                ("PGDATABASE", "clara_db".to_owned()),
                ("PGSSLMODE", "require".to_owned()),
            ]
        );
        assert!(pg_env("not a url").is_err());
    }
}
