//! Row shapes both SQL backends read the same way: each table's column list, the row it reads
//! into, and the row's conversion to the store's record. A dialect keeps only its SQL text.
//!
//! A column list is a macro so that each query stays one static string (`concat!`): SQLite
//! caches a prepared statement by its text, and a formatted string would also have to be
//! asserted safe.

use clara_core::llm::Role;
use clara_core::store::{
    ChannelModeSetting, EmailAccount, EmailAlert, EmailSettings, Job, Memory, MemoryChange,
    MemoryEvent, NewMemory, Session, StoreError, StoreResult, StoredMessage, TaskRun,
    UserEmailRule,
};

/// `SELECT <session columns> FROM sessions <rest>`, read as a [`SessionRow`].
macro_rules! session_select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT id, user_id, conversation, started_at, last_activity_at, ended_at, \
             previous_session_id, summary FROM sessions ",
            $($rest),*
        )
    };
}
pub(crate) use session_select;

/// The columns of a message, read as a [`MessageRow`].
macro_rules! message_columns {
    () => {
        "id, session_id, role, author, content, created_at"
    };
}
pub(crate) use message_columns;

/// `SELECT <memory columns> FROM memories <rest>`, read as a [`MemoryRow`].
macro_rules! memory_select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT seq, id, user_id, project, text, is_key, created_at, updated_at FROM memories ",
            $($rest),*
        )
    };
}
pub(crate) use memory_select;

/// `SELECT <history columns> FROM memory_history <rest>`, read as a [`ChangeRow`].
macro_rules! change_select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT memory_id, event, old_text, new_text, created_at FROM memory_history ",
            $($rest),*
        )
    };
}
pub(crate) use change_select;

/// `SELECT <task run columns> FROM task_runs <rest>`, read as a [`TaskRunRow`].
macro_rules! task_run_select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT name, last_due_at, last_started_at, last_finished_at, last_ok, last_error, \
             running_by, lease_until FROM task_runs ",
            $($rest),*
        )
    };
}
pub(crate) use task_run_select;

/// `SELECT <channel mode columns> FROM channel_modes <rest>`, read as a [`ChannelModeRow`].
macro_rules! channel_mode_select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT platform, channel_id, guild_id, mode, set_by, updated_at FROM channel_modes ",
            $($rest),*
        )
    };
}
pub(crate) use channel_mode_select;

/// A `sessions` row.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: String,
    user_id: String,
    conversation: String,
    started_at: i64,
    last_activity_at: i64,
    ended_at: Option<i64>,
    previous_session_id: Option<String>,
    summary: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: row.id,
            user_id: row.user_id,
            conversation: row.conversation,
            started_at: row.started_at,
            last_activity_at: row.last_activity_at,
            ended_at: row.ended_at,
            previous_session_id: row.previous_session_id,
            summary: row.summary,
        }
    }
}

/// A new session as [`start_session`](clara_core::store::Sessions::start_session) inserts it.
pub(crate) fn new_session(
    user: &str,
    conversation: &str,
    previous: Option<&str>,
    now: i64,
) -> Session {
    Session {
        id: super::new_id(),
        user_id: user.to_owned(),
        conversation: conversation.to_owned(),
        started_at: now,
        last_activity_at: now,
        ended_at: None,
        previous_session_id: previous.map(str::to_owned),
        summary: None,
    }
}

/// A `messages` row.
#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: i64,
    session_id: String,
    role: String,
    author: Option<String>,
    content: String,
    created_at: i64,
}

impl MessageRow {
    /// The row as a message; an error for a role this build does not know.
    pub(crate) fn into_message(self) -> StoreResult<StoredMessage> {
        Ok(StoredMessage {
            role: parse_role(&self.role)?,
            id: self.id,
            session_id: self.session_id,
            author: self.author,
            content: self.content,
            created_at: self.created_at,
        })
    }
}

/// A role as stored: its serde name (`user`, `assistant`, …).
pub(crate) fn role_name(role: Role) -> StoreResult<String> {
    match serde_json::to_value(role) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        other => Err(StoreError::Database(format!(
            "cannot store role {role:?}: {other:?}"
        ))),
    }
}

/// A stored role name back as a [`Role`].
fn parse_role(name: &str) -> StoreResult<Role> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| StoreError::Database(format!("unknown message role `{name}`")))
}

/// A `memories` row (without the embedding, which only search reads).
#[derive(sqlx::FromRow)]
pub(crate) struct MemoryRow {
    /// The backend's key for the memory, which search ranks by.
    pub(crate) seq: i64,
    id: String,
    user_id: String,
    project: Option<String>,
    text: String,
    is_key: bool,
    created_at: i64,
    updated_at: i64,
}

impl From<MemoryRow> for Memory {
    fn from(row: MemoryRow) -> Self {
        Memory {
            id: row.id,
            user_id: row.user_id,
            project: row.project,
            text: row.text,
            is_key: row.is_key,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A new memory as [`add_memory`](clara_core::store::Memories::add_memory) stores it, and the
/// embedding it came with.
pub(crate) fn new_memory(new: NewMemory, now: i64) -> (Memory, Option<(String, Vec<f32>)>) {
    let memory = Memory {
        id: super::new_id(),
        user_id: new.user_id,
        project: new.project,
        text: new.text,
        is_key: new.is_key,
        created_at: now,
        updated_at: now,
    };
    (memory, new.embedding)
}

/// A `memory_history` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ChangeRow {
    memory_id: String,
    event: String,
    old_text: Option<String>,
    new_text: Option<String>,
    created_at: i64,
}

impl ChangeRow {
    /// The row as a history entry.
    pub(crate) fn into_change(self) -> StoreResult<MemoryChange> {
        let event = match self.event.as_str() {
            "ADD" => MemoryEvent::Add,
            "UPDATE" => MemoryEvent::Update,
            "DELETE" => MemoryEvent::Delete,
            other => {
                return Err(StoreError::Database(format!(
                    "unknown memory event `{other}`"
                )));
            }
        };
        Ok(MemoryChange {
            memory_id: self.memory_id,
            event,
            old_text: self.old_text,
            new_text: self.new_text,
            created_at: self.created_at,
        })
    }
}

/// A claimed `jobs` row: `id, kind, payload, attempts, last_error`, the payload as JSON text
/// and the attempts as a 64-bit integer.
#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    kind: String,
    payload: String,
    attempts: i64,
    last_error: Option<String>,
}

impl JobRow {
    /// The row as a job; an error when its payload is not JSON.
    pub(crate) fn into_job(self) -> StoreResult<Job> {
        let payload = serde_json::from_str(&self.payload).map_err(|e| {
            StoreError::Database(format!("job {} has a broken payload: {e}", self.id))
        })?;
        Ok(Job {
            id: self.id,
            kind: self.kind,
            payload,
            attempts: u32::try_from(self.attempts.max(0)).unwrap_or(u32::MAX),
            last_error: self.last_error,
        })
    }
}

/// A `task_runs` row.
#[derive(sqlx::FromRow)]
pub(crate) struct TaskRunRow {
    name: String,
    last_due_at: i64,
    last_started_at: i64,
    last_finished_at: Option<i64>,
    last_ok: Option<bool>,
    last_error: Option<String>,
    running_by: Option<String>,
    lease_until: Option<i64>,
}

impl From<TaskRunRow> for TaskRun {
    fn from(row: TaskRunRow) -> Self {
        TaskRun {
            name: row.name,
            last_due_at: row.last_due_at,
            last_started_at: row.last_started_at,
            last_finished_at: row.last_finished_at,
            last_ok: row.last_ok,
            last_error: row.last_error,
            running_by: row.running_by,
            lease_until: row.lease_until,
        }
    }
}

/// A `channel_modes` row.
#[derive(sqlx::FromRow)]
pub(crate) struct ChannelModeRow {
    platform: String,
    channel_id: String,
    guild_id: Option<String>,
    mode: String,
    set_by: String,
    updated_at: i64,
}

impl From<ChannelModeRow> for ChannelModeSetting {
    fn from(row: ChannelModeRow) -> Self {
        ChannelModeSetting {
            platform: row.platform,
            channel_id: row.channel_id,
            guild_id: row.guild_id,
            mode: row.mode,
            set_by: row.set_by,
            updated_at: row.updated_at,
        }
    }
}

/// The columns of an `email_accounts` row, read as an [`EmailAccountRow`].
macro_rules! email_account_columns {
    () => {
        "id, user_id, kind, address, host, port, tls, sealed_password, poll_interval_minutes, \
         cursor, next_poll_at, error_count, last_error, last_checked_at, created_at"
    };
}
pub(crate) use email_account_columns;

/// The columns of an `email_alerts` row, read as an [`EmailAlertRow`].
macro_rules! email_alert_columns {
    () => {
        "id, account_id, user_id, message_key, sender, subject, preview, rule, importance, \
         matched, created_at, delivered_at"
    };
}
pub(crate) use email_alert_columns;

/// An `email_accounts` row. The small numbers are 32-bit (`INTEGER` in Postgres).
#[derive(sqlx::FromRow)]
pub(crate) struct EmailAccountRow {
    id: i64,
    user_id: String,
    kind: String,
    address: String,
    host: String,
    port: i32,
    tls: bool,
    sealed_password: Option<Vec<u8>>,
    poll_interval_minutes: i32,
    cursor: Option<String>,
    next_poll_at: i64,
    error_count: i32,
    last_error: Option<String>,
    last_checked_at: Option<i64>,
    created_at: i64,
}

impl EmailAccountRow {
    /// The row as an account; an error for a port no TCP connection can use.
    pub(crate) fn into_account(self) -> StoreResult<EmailAccount> {
        let port = u16::try_from(self.port).map_err(|_| {
            StoreError::Database(format!(
                "email account {} has port {}, out of range",
                self.id, self.port
            ))
        })?;
        Ok(EmailAccount {
            id: self.id,
            user_id: self.user_id,
            kind: self.kind,
            address: self.address,
            host: self.host,
            port,
            tls: self.tls,
            sealed_password: self.sealed_password,
            poll_interval_minutes: u32::try_from(self.poll_interval_minutes.max(0))
                .unwrap_or(u32::MAX),
            cursor: self.cursor,
            next_poll_at: self.next_poll_at,
            error_count: u32::try_from(self.error_count.max(0)).unwrap_or(u32::MAX),
            last_error: self.last_error,
            last_checked_at: self.last_checked_at,
            created_at: self.created_at,
        })
    }
}

/// Rows as accounts, by id: a claim's `RETURNING` comes back in no set order.
pub(crate) fn accounts_by_id(rows: Vec<EmailAccountRow>) -> StoreResult<Vec<EmailAccount>> {
    let mut accounts = rows
        .into_iter()
        .map(EmailAccountRow::into_account)
        .collect::<StoreResult<Vec<_>>>()?;
    accounts.sort_by_key(|a| a.id);
    Ok(accounts)
}

/// An account's minutes between checks as stored (a 32-bit `INTEGER`); an error past that.
pub(crate) fn poll_minutes(account: &EmailAccount) -> StoreResult<i32> {
    i32::try_from(account.poll_interval_minutes).map_err(|_| {
        StoreError::Database(format!(
            "a check every {} minutes is too rare to store",
            account.poll_interval_minutes
        ))
    })
}

/// An `email_settings` row (without its user).
#[derive(sqlx::FromRow)]
pub(crate) struct EmailSettingsRow {
    alert_adapter: Option<String>,
    alert_channel: Option<String>,
    ping: bool,
    quiet_start: Option<String>,
    quiet_end: Option<String>,
    timezone: Option<String>,
}

impl From<EmailSettingsRow> for EmailSettings {
    fn from(row: EmailSettingsRow) -> Self {
        EmailSettings {
            alert_adapter: row.alert_adapter,
            alert_channel: row.alert_channel,
            ping: row.ping,
            quiet_hours: row.quiet_start.zip(row.quiet_end),
            timezone: row.timezone,
        }
    }
}

/// An `email_rules` row (without its user).
#[derive(sqlx::FromRow)]
pub(crate) struct EmailRuleRow {
    name: String,
    preset: Option<String>,
    rule_json: Option<String>,
    created_at: i64,
}

impl From<EmailRuleRow> for UserEmailRule {
    fn from(row: EmailRuleRow) -> Self {
        UserEmailRule {
            name: row.name,
            preset: row.preset,
            rule_json: row.rule_json,
            created_at: row.created_at,
        }
    }
}

/// An `email_alerts` row.
#[derive(sqlx::FromRow)]
pub(crate) struct EmailAlertRow {
    id: i64,
    account_id: i64,
    user_id: String,
    message_key: String,
    sender: String,
    subject: String,
    preview: String,
    rule: String,
    importance: String,
    matched: String,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl From<EmailAlertRow> for EmailAlert {
    fn from(row: EmailAlertRow) -> Self {
        EmailAlert {
            id: row.id,
            account_id: row.account_id,
            user_id: row.user_id,
            message_key: row.message_key,
            sender: row.sender,
            subject: row.subject,
            preview: row.preview,
            rule: row.rule,
            importance: row.importance,
            matched: row.matched,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
        }
    }
}
