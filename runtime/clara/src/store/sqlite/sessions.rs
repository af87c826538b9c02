//! Sessions and their messages.

use clara_core::llm::Role;
use clara_core::store::{
    Millis, Session, SessionQuery, Stamp, StoreError, StoreResult, StoredMessage,
};
use sqlx::{SqliteConnection, SqlitePool};

use crate::store::rows::{
    MessageRow, SessionRow, message_columns, new_session, role_name, session_select,
};
use crate::store::{db, found};

/// The open session of `user` in `conversation` (there is at most one).
pub(super) async fn open_session(
    pool: &SqlitePool,
    user: &str,
    conversation: &str,
) -> StoreResult<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(session_select!(
        "WHERE user_id = ?1 AND conversation = ?2 AND ended_at IS NULL"
    ))
    .bind(user)
    .bind(conversation)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(row.map(Session::from))
}

/// The newest session of `user` in `conversation`, open or ended.
pub(super) async fn latest_session(
    pool: &SqlitePool,
    user: &str,
    conversation: &str,
) -> StoreResult<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(session_select!(
        "WHERE user_id = ?1 AND conversation = ?2 ",
        "ORDER BY started_at DESC, rowid DESC LIMIT 1"
    ))
    .bind(user)
    .bind(conversation)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(row.map(Session::from))
}

/// Starts a session, or returns the one a concurrent opener started: the unique index on
/// open sessions lets only one insert through.
pub(super) async fn start_session(
    conn: &mut SqliteConnection,
    user: &str,
    conversation: &str,
    previous: Option<&str>,
    now: Millis,
) -> StoreResult<(Session, bool)> {
    let session = new_session(user, conversation, previous, now);
    let inserted = sqlx::query(
        "INSERT INTO sessions (id, user_id, conversation, started_at, last_activity_at, \
         previous_session_id) VALUES (?1, ?2, ?3, ?4, ?4, ?5) \
         ON CONFLICT (user_id, conversation) WHERE ended_at IS NULL DO NOTHING",
    )
    .bind(&session.id)
    .bind(user)
    .bind(conversation)
    .bind(now)
    .bind(previous)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    if inserted.rows_affected() == 1 {
        return Ok((session, true));
    }
    let row: Option<SessionRow> = sqlx::query_as(session_select!(
        "WHERE user_id = ?1 AND conversation = ?2 AND ended_at IS NULL"
    ))
    .bind(user)
    .bind(conversation)
    .fetch_optional(conn)
    .await
    .map_err(db)?;
    row.map(|r| (Session::from(r), false)).ok_or_else(|| {
        StoreError::Database("the open session vanished while it was joined".to_owned())
    })
}

/// Ends a session (an already ended session keeps its first end time); whether this call
/// ended it.
pub(super) async fn end_session(
    conn: &mut SqliteConnection,
    session: &str,
    now: Millis,
) -> StoreResult<bool> {
    let result =
        sqlx::query("UPDATE sessions SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL")
            .bind(session)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(db)?;
    if result.rows_affected() == 1 {
        return Ok(true);
    }
    let exists: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM sessions WHERE id = ?1")
        .bind(session)
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    found(u64::from(exists.is_some()), || format!("session {session}"))?;
    Ok(false)
}

/// Open sessions idle since before `before`, least recently active first.
pub(super) async fn idle_sessions(
    pool: &SqlitePool,
    before: Millis,
    limit: u32,
) -> StoreResult<Vec<Session>> {
    let rows: Vec<SessionRow> = sqlx::query_as(session_select!(
        "WHERE ended_at IS NULL AND last_activity_at < ?1 ",
        "ORDER BY last_activity_at LIMIT +?2"
    ))
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().map(Session::from).collect())
}

/// The sessions `query` chooses: the newest `limit` of them, oldest first.
pub(super) async fn find_sessions(
    pool: &SqlitePool,
    query: &SessionQuery,
) -> StoreResult<Vec<Session>> {
    let rows: Vec<SessionRow> = sqlx::query_as(session_select!(
        "WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR conversation = ?2) ",
        "AND (?3 IS NULL OR id = ?3) AND (?4 IS NULL OR last_activity_at >= ?4) ",
        "AND (?5 IS NULL OR started_at < ?5) ORDER BY started_at DESC, rowid DESC LIMIT +?6"
    ))
    .bind(query.user_id.as_deref())
    .bind(query.conversation.as_deref())
    .bind(query.session_id.as_deref())
    .bind(query.since)
    .bind(query.until)
    .bind(i64::from(query.limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().rev().map(Session::from).collect())
}

/// User messages since `since` by `user`, in `conversation`, or both. Only sessions active
/// since then can hold one, which the activity indexes find without reading the rest.
pub(super) async fn user_message_stamps(
    pool: &SqlitePool,
    user: Option<&str>,
    conversation: Option<&str>,
    since: Millis,
    up_to: u32,
) -> StoreResult<Vec<Stamp>> {
    // One statement per scope, so each reads the scope's sessions by index and then only the
    // window's messages (`messages_user_time`).
    macro_rules! stamps {
        ($scope:literal) => {
            concat!(
                "SELECT m.created_at, m.id FROM sessions s JOIN messages m \
                 ON m.session_id = s.id WHERE ",
                $scope,
                " AND s.last_activity_at >= ?3 AND m.role = 'user' AND m.created_at >= ?3 \
                 ORDER BY m.created_at DESC, m.id DESC LIMIT ?4"
            )
        };
    }
    let sql = match (user, conversation) {
        (Some(_), Some(_)) => stamps!("s.user_id = ?1 AND s.conversation = ?2"),
        (Some(_), None) => stamps!("s.user_id = ?1 AND ?2 IS NULL"),
        (None, Some(_)) => stamps!("s.conversation = ?2 AND ?1 IS NULL"),
        (None, None) => stamps!("?1 IS NULL AND ?2 IS NULL"),
    };
    let rows: Vec<(Millis, i64)> = sqlx::query_as(sql)
        .bind(user)
        .bind(conversation)
        .bind(since)
        .bind(i64::from(up_to))
        .fetch_all(pool)
        .await
        .map_err(db)?;
    Ok(rows.into_iter().map(|(at, id)| Stamp { at, id }).collect())
}

/// A session by id.
pub(super) async fn session(pool: &SqlitePool, session: &str) -> StoreResult<Option<Session>> {
    let row: Option<SessionRow> = sqlx::query_as(session_select!("WHERE id = ?1"))
        .bind(session)
        .fetch_optional(pool)
        .await
        .map_err(db)?;
    Ok(row.map(Session::from))
}

/// Sets a session's summary.
pub(super) async fn set_summary(
    conn: &mut SqliteConnection,
    session: &str,
    summary: &str,
) -> StoreResult<()> {
    let result = sqlx::query("UPDATE sessions SET summary = ?2 WHERE id = ?1")
        .bind(session)
        .bind(summary)
        .execute(conn)
        .await
        .map_err(db)?;
    found(result.rows_affected(), || format!("session {session}"))
}

/// Appends a message and moves the session's last activity forward, in one transaction.
pub(super) async fn add_message(
    conn: &mut SqliteConnection,
    session: &str,
    role: Role,
    author: Option<&str>,
    content: &str,
    now: Millis,
) -> StoreResult<i64> {
    // A trigger moves the session's last activity; the foreign key refuses unknown sessions.
    let inserted = sqlx::query(
        "INSERT INTO messages (session_id, role, author, content, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(session)
    .bind(role_name(role)?)
    .bind(author)
    .bind(content)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(e) if e.is_foreign_key_violation() => {
            StoreError::NotFound(format!("session {session}"))
        }
        _ => db(error),
    })?;
    Ok(inserted.last_insert_rowid())
}

/// Whether one of the session's last `lookback` messages is the user's `content` again,
/// written at or after `since`. Only the ids are read to find them; no row leaves SQL.
pub(super) async fn is_repeat(
    pool: &SqlitePool,
    session: &str,
    content: &str,
    since: Millis,
    lookback: u32,
) -> StoreResult<bool> {
    let (repeat,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE id IN \
         (SELECT id FROM messages WHERE session_id = ?1 ORDER BY id DESC LIMIT +?4) \
         AND role = 'user' AND content = ?2 AND created_at >= ?3)",
    )
    .bind(session)
    .bind(content)
    .bind(since)
    .bind(i64::from(lookback))
    .fetch_one(pool)
    .await
    .map_err(db)?;
    Ok(repeat)
}

/// The last `limit` messages of a session, oldest first.
pub(super) async fn recent_messages(
    pool: &SqlitePool,
    session: &str,
    limit: u32,
) -> StoreResult<Vec<StoredMessage>> {
    let rows: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM (SELECT * FROM messages WHERE session_id = ?1 ORDER BY id DESC LIMIT +?2) \
         ORDER BY id",
    ))
    .bind(session)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.into_iter().map(MessageRow::into_message).collect()
}
