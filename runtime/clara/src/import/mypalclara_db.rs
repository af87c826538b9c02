//! Reading a MyPalClara installation: its main database (SQLite file or Postgres URL:
//! `projects`, `sessions`, `messages`, `channel_summaries`) and its memories (the pgvector
//! table of its memory store, or a JSON export of the points). Columns an older schema lacks
//! are read as missing; a row without what clara needs is named in the error.

use std::collections::HashMap;

use clara_core::store::Millis;
use serde_json::Value;
use sqlx::{Connection, Row};

/// A database to read: a SQLite file or a Postgres server.
pub enum Database {
    /// A SQLite file.
    Sqlite(sqlx::SqliteConnection),
    /// A Postgres database.
    Postgres(sqlx::PgConnection),
}

/// One MyPalClara session.
#[derive(Debug, Clone)]
pub struct OldSession {
    pub id: String,
    pub user_id: String,
    pub context_id: String,
    pub started_at: Millis,
    pub last_activity_at: Millis,
    pub summary: Option<String>,
}

/// One MyPalClara message.
#[derive(Debug, Clone)]
pub struct OldMessage {
    pub id: String,
    pub session_id: String,
    pub role: String,
    pub content: String,
    pub created_at: Option<Millis>,
}

/// One point of MyPalClara's memory store.
#[derive(Debug, Clone)]
pub struct OldMemory {
    pub id: String,
    pub payload: Value,
    pub vector: Option<Vec<f32>>,
}

/// What was read from the main database.
pub struct Read {
    pub projects: HashMap<String, String>,
    pub sessions: Vec<OldSession>,
    pub messages: Vec<OldMessage>,
    pub channel_summaries: usize,
}

impl Database {
    /// Opens `locator`: a `postgres://`/`postgresql://` URL, else a SQLite file (read-only).
    /// The error never holds the URL (it may carry a password).
    pub async fn open(locator: &str) -> Result<Database, String> {
        if locator.starts_with("postgres://") || locator.starts_with("postgresql://") {
            let conn = sqlx::PgConnection::connect(locator).await.map_err(|e| {
                format!(
                    "cannot reach the MyPalClara Postgres database: {}",
                    redact(&e.to_string(), locator)
                )
            })?;
            return Ok(Database::Postgres(conn));
        }
        let path = std::path::Path::new(locator);
        if !path.is_file() {
            return Err(format!("there is no MyPalClara database at {locator}"));
        }
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .read_only(true);
        let conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| format!("cannot open {locator}: {e}"))?;
        Ok(Database::Sqlite(conn))
    }

    /// The columns of `table`; empty when there is no such table.
    async fn columns(&mut self, table: &str) -> Result<Vec<String>, String> {
        let names: Vec<String> = match self {
            Database::Sqlite(conn) => {
                let rows = sqlx::query("SELECT name FROM pragma_table_info(?1)")
                    .bind(table)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| e.to_string())?;
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            Database::Postgres(conn) => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = current_schema()",
            )
            .bind(table)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| e.to_string())?,
        };
        Ok(names)
    }

    /// Every row of `table` with `wanted` columns as text (missing columns and NULLs as
    /// `None`), in the order of `order`. `None` when the table does not exist.
    async fn rows(
        &mut self,
        table: &str,
        wanted: &[&str],
        order: &str,
    ) -> Result<Option<Vec<Vec<Option<String>>>>, String> {
        let present = self.columns(table).await?;
        if present.is_empty() {
            return Ok(None);
        }
        let select: Vec<String> = wanted
            .iter()
            .map(|c| {
                if present.iter().any(|p| p == c) {
                    format!("CAST({c} AS TEXT)")
                } else {
                    "CAST(NULL AS TEXT)".to_owned()
                }
            })
            .collect();
        let order = if present.iter().any(|p| p == order) {
            format!(" ORDER BY {order}")
        } else {
            String::new()
        };
        // Built only from this module's table and column names (a collection name is checked
        // to be a plain identifier first), never from the data.
        let sql = format!("SELECT {} FROM {table}{order}", select.join(", "));
        let read = |row: &dyn Fn(usize) -> Option<String>| (0..wanted.len()).map(row).collect();
        let rows = match self {
            Database::Sqlite(conn) => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| format!("cannot read `{table}`: {e}"))?
                .iter()
                .map(|r| read(&|i| r.try_get::<Option<String>, _>(i).ok().flatten()))
                .collect(),
            Database::Postgres(conn) => sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| format!("cannot read `{table}`: {e}"))?
                .iter()
                .map(|r| read(&|i| r.try_get::<Option<String>, _>(i).ok().flatten()))
                .collect(),
        };
        Ok(Some(rows))
    }

    /// Projects, sessions (oldest first), messages (in order) and how many channel summaries
    /// there are.
    pub async fn read(&mut self) -> Result<Read, String> {
        let projects = self
            .rows("projects", &["id", "name"], "id")
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| Some((r[0].clone()?, r[1].clone()?)))
            .collect();
        let sessions = self
            .rows(
                "sessions",
                &[
                    "id",
                    "user_id",
                    "context_id",
                    "started_at",
                    "last_activity_at",
                    "session_summary",
                ],
                "started_at",
            )
            .await?
            .ok_or("the database has no `sessions` table: is it MyPalClara's?")?;
        let mut old_sessions = Vec::new();
        for (n, row) in sessions.into_iter().enumerate() {
            let id = row[0]
                .clone()
                .ok_or(format!("session row {} has no id", n + 1))?;
            let user_id = row[1]
                .clone()
                .filter(|u| !u.trim().is_empty())
                .ok_or(format!("session {id} has no user_id"))?;
            let started_at = row[3].as_deref().and_then(parse_time);
            let last = row[4].as_deref().and_then(parse_time);
            let started_at = started_at
                .or(last)
                .ok_or(format!("session {id} has no started_at"))?;
            old_sessions.push(OldSession {
                context_id: row[2].clone().unwrap_or_else(|| "default".to_owned()),
                last_activity_at: last.unwrap_or(started_at),
                summary: row[5].clone().filter(|s| !s.trim().is_empty()),
                id,
                user_id,
                started_at,
            });
        }
        let messages = self
            .rows(
                "messages",
                &["id", "session_id", "role", "content", "created_at"],
                "id",
            )
            .await?
            .ok_or("the database has no `messages` table: is it MyPalClara's?")?;
        let mut old_messages = Vec::new();
        for (n, row) in messages.into_iter().enumerate() {
            let id = row[0]
                .clone()
                .ok_or(format!("message row {} has no id", n + 1))?;
            let (Some(session_id), Some(role)) = (row[1].clone(), row[2].clone()) else {
                return Err(format!("message {id} has no session_id or role"));
            };
            old_messages.push(OldMessage {
                content: row[3].clone().unwrap_or_default(),
                created_at: row[4].as_deref().and_then(parse_time),
                id,
                session_id,
                role,
            });
        }
        // Messages are numbered as they were written: in that order, whatever text sorting did.
        old_messages.sort_by_key(|m| m.id.parse::<i64>().unwrap_or(i64::MAX));
        let channel_summaries = self
            .rows("channel_summaries", &["id"], "id")
            .await?
            .map_or(0, |rows| rows.len());
        Ok(Read {
            projects,
            sessions: old_sessions,
            messages: old_messages,
            channel_summaries,
        })
    }

    /// The points of the pgvector table `collection` (`id`, `vector`, `payload`).
    pub async fn memories(&mut self, collection: &str) -> Result<Vec<OldMemory>, String> {
        if !collection
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!("`{collection}` is not a table name"));
        }
        let rows = self
            .rows(collection, &["id", "payload", "vector"], "id")
            .await?
            .ok_or(format!(
                "the memory database has no table `{collection}` (--collection names it)"
            ))?;
        rows.into_iter()
            .map(|row| {
                let id = row[0].clone().ok_or("a memory row has no id")?;
                let payload = row[1]
                    .as_deref()
                    .and_then(|p| serde_json::from_str(p).ok())
                    .ok_or(format!("memory {id} has no readable payload"))?;
                Ok(OldMemory {
                    vector: row[2].as_deref().and_then(parse_vector),
                    id,
                    payload,
                })
            })
            .collect()
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = match self {
            Database::Sqlite(conn) => conn.close().await,
            Database::Postgres(conn) => conn.close().await,
        };
    }
}

/// The points of a JSON export: an array (or JSON Lines) of `{id, payload, vector?}`.
pub fn memories_from_json(text: &str) -> Result<Vec<OldMemory>, String> {
    let values: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(Value::Object(map)) => match map.get("points").or_else(|| map.get("memories")) {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![Value::Object(map)],
        },
        _ => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", n + 1)))
            .collect::<Result<_, _>>()?,
    };
    values
        .into_iter()
        .enumerate()
        .map(|(n, v)| {
            let id = match v.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(format!("memory {} has no id", n + 1)),
            };
            let payload = v
                .get("payload")
                .filter(|p| p.is_object())
                .cloned()
                .ok_or(format!("memory {id} has no payload"))?;
            let vector = v
                .get("vector")
                .and_then(|x| serde_json::from_value(x.clone()).ok());
            Ok(OldMemory {
                id,
                payload,
                vector,
            })
        })
        .collect()
}

/// A time as MyPalClara wrote it: naive UTC (`2025-01-02 03:04:05.678`), or ISO 8601 with an
/// offset (its memory payloads, in US/Pacific).
pub fn parse_time(text: &str) -> Option<Millis> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f%#z",
    ] {
        if let Ok(at) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(at.and_utc().timestamp_millis());
        }
        if let Ok(at) = chrono::DateTime::parse_from_str(text, format) {
            return Some(at.timestamp_millis());
        }
    }
    None
}

/// A pgvector value as text: `[0.1,0.2,…]`.
fn parse_vector(text: &str) -> Option<Vec<f32>> {
    serde_json::from_str(text).ok()
}

/// `message` without `url` or its password.
fn redact(message: &str, url: &str) -> String {
    let mut message = message.replace(url, "<the database URL>");
    if let Ok(parsed) = reqwest::Url::parse(url)
        && let Some(password) = parsed.password()
        && !password.is_empty()
    {
        message = message.replace(password, "***");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_mypalclara_wrote_them() {
        assert_eq!(parse_time("1970-01-01 00:00:01.5"), Some(1_500));
        assert_eq!(parse_time("1970-01-01T00:00:02"), Some(2_000));
        assert_eq!(parse_time("1970-01-01T00:00:00-08:00"), Some(8 * 3_600_000));
        assert_eq!(parse_time("1970-01-01 00:00:00+00"), Some(0));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn json_exports_are_read_as_arrays_objects_or_lines() {
        let one = r#"{"id": "a", "payload": {"data": "x"}, "vector": [0.5, 1.0]}"#;
        let array = memories_from_json(&format!("[{one}]")).unwrap();
        assert_eq!(array[0].vector.as_deref(), Some(&[0.5, 1.0][..]));
        let lines = memories_from_json(&format!("{one}\n{one}\n")).unwrap();
        assert_eq!(lines.len(), 2);
        let points = memories_from_json(&format!(r#"{{"points": [{one}]}}"#)).unwrap();
        assert_eq!(points[0].id, "a");
        let bad = memories_from_json(&format!("{one}\nnot json")).unwrap_err();
        assert!(bad.starts_with("line 2:"), "{bad}");
        assert!(
            memories_from_json(r#"[{"id": 1}]"#)
                .unwrap_err()
                .contains("no payload")
        );
    }

    #[test]
    fn passwords_never_reach_an_error() {
        let url = "postgres://clara:s3cret@db:5432/clara";
        assert_eq!(
            redact(&format!("failed for {url}"), url),
            "failed for <the database URL>"
        );
        assert_eq!(
            redact("password s3cret refused", url),
            "password *** refused"
        );
    }
}
