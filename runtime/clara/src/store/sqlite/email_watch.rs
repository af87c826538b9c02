//! Email watching: watched inboxes upserted, listed and removed, due checks claimed in one
//! statement and finished, each user's alert settings and rules, and alerts recorded once per
//! message and marked delivered once.

use clara_core::store::{
    EmailAccount, EmailAlert, EmailSettings, Millis, StoreResult, UserEmailRule,
};
use sqlx::{Connection, SqliteConnection, SqlitePool};

use crate::store::db;
use crate::store::rows::{
    EmailAccountRow, EmailAlertRow, EmailRuleRow, EmailSettingsRow, accounts_by_id,
    email_account_columns, email_alert_columns, poll_minutes,
};

/// Adds `account`, or replaces the one of the same user, address and host while keeping its
/// id, cursor and when it was connected; its id.
pub(super) async fn save_account(
    conn: &mut SqliteConnection,
    account: &EmailAccount,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO email_accounts (user_id, kind, address, host, port, tls, sealed_password, \
             poll_interval_minutes, cursor, next_poll_at, error_count, last_error, \
             last_checked_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
         ON CONFLICT (user_id, address, host) DO UPDATE SET \
             kind = excluded.kind, \
             port = excluded.port, \
             tls = excluded.tls, \
             sealed_password = excluded.sealed_password, \
             poll_interval_minutes = excluded.poll_interval_minutes, \
             next_poll_at = excluded.next_poll_at, \
             error_count = 0, \
             last_error = NULL \
         RETURNING id",
    )
    .bind(&account.user_id)
    .bind(&account.kind)
    .bind(&account.address)
    .bind(&account.host)
    .bind(i32::from(account.port))
    .bind(account.tls)
    .bind(account.sealed_password.as_deref())
    .bind(poll_minutes(account)?)
    .bind(account.cursor.as_deref())
    .bind(account.next_poll_at)
    .bind(i32::try_from(account.error_count).unwrap_or(i32::MAX))
    .bind(account.last_error.as_deref())
    .bind(account.last_checked_at)
    .bind(account.created_at)
    .fetch_one(conn)
    .await
    .map_err(db)
}

/// `user_id`'s accounts, oldest first.
pub(super) async fn accounts(pool: &SqlitePool, user_id: &str) -> StoreResult<Vec<EmailAccount>> {
    let rows: Vec<EmailAccountRow> = sqlx::query_as(concat!(
        "SELECT ",
        email_account_columns!(),
        " FROM email_accounts WHERE user_id = ?1 ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.into_iter()
        .map(EmailAccountRow::into_account)
        .collect()
}

/// Removes `user_id`'s account `id` and its alerts; `true` when it was there. One
/// transaction, so a removed account never leaves alerts behind.
pub(super) async fn remove_account(
    conn: &mut SqliteConnection,
    user_id: &str,
    id: i64,
) -> StoreResult<bool> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let removed = sqlx::query("DELETE FROM email_accounts WHERE id = ?1 AND user_id = ?2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
        > 0;
    if removed {
        sqlx::query("DELETE FROM email_alerts WHERE account_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(removed)
}

/// Claims up to `limit` accounts due by `now`, pushing each one's next check to
/// `now + lease_ms`. One statement, so two claimers (in this process or another) never take
/// the same account.
pub(super) async fn claim(
    conn: &mut SqliteConnection,
    now: Millis,
    lease_ms: Millis,
    limit: u32,
) -> StoreResult<Vec<EmailAccount>> {
    let rows: Vec<EmailAccountRow> = sqlx::query_as(concat!(
        "UPDATE email_accounts SET next_poll_at = ?1 + ?2 \
         WHERE id IN (SELECT id FROM email_accounts WHERE next_poll_at <= ?1 \
                      ORDER BY next_poll_at, id LIMIT +?3) \
         RETURNING ",
        email_account_columns!()
    ))
    .bind(now)
    .bind(lease_ms)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await
    .map_err(db)?;
    accounts_by_id(rows)
}

/// Records how account `id`'s check went and when it is next due. An account removed while
/// its check ran is left gone.
pub(super) async fn finish(
    conn: &mut SqliteConnection,
    id: i64,
    outcome: Result<Option<&str>, &str>,
    now: Millis,
    next_at: Millis,
) -> StoreResult<()> {
    let query = match outcome {
        // No new cursor (nothing read) keeps the one stored.
        Ok(cursor) => sqlx::query(
            "UPDATE email_accounts SET cursor = COALESCE(?2, cursor), error_count = 0, \
             last_error = NULL, last_checked_at = ?3, next_poll_at = ?4 WHERE id = ?1",
        )
        .bind(id)
        .bind(cursor)
        .bind(now)
        .bind(next_at),
        Err(why) => sqlx::query(
            "UPDATE email_accounts SET error_count = error_count + 1, last_error = ?2, \
             next_poll_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(why)
        .bind(next_at),
    };
    query.execute(conn).await.map_err(db)?;
    Ok(())
}

/// `user_id`'s alert settings; the defaults when never saved.
pub(super) async fn settings(pool: &SqlitePool, user_id: &str) -> StoreResult<EmailSettings> {
    let row: Option<EmailSettingsRow> = sqlx::query_as(
        "SELECT alert_adapter, alert_channel, ping, quiet_start, quiet_end, timezone \
         FROM email_settings WHERE user_id = ?1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(row.map(EmailSettings::from).unwrap_or_default())
}

/// Replaces `user_id`'s alert settings.
pub(super) async fn save_settings(
    conn: &mut SqliteConnection,
    user_id: &str,
    settings: &EmailSettings,
) -> StoreResult<()> {
    let (quiet_start, quiet_end) = settings
        .quiet_hours
        .as_ref()
        .map(|(start, end)| (start.as_str(), end.as_str()))
        .unzip();
    sqlx::query(
        "INSERT INTO email_settings \
             (user_id, alert_adapter, alert_channel, ping, quiet_start, quiet_end, timezone) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (user_id) DO UPDATE SET \
             alert_adapter = excluded.alert_adapter, \
             alert_channel = excluded.alert_channel, \
             ping = excluded.ping, \
             quiet_start = excluded.quiet_start, \
             quiet_end = excluded.quiet_end, \
             timezone = excluded.timezone",
    )
    .bind(user_id)
    .bind(settings.alert_adapter.as_deref())
    .bind(settings.alert_channel.as_deref())
    .bind(settings.ping)
    .bind(quiet_start)
    .bind(quiet_end)
    .bind(settings.timezone.as_deref())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Adds `user_id`'s rule, or replaces the one of the same name.
pub(super) async fn save_rule(
    conn: &mut SqliteConnection,
    user_id: &str,
    rule: &UserEmailRule,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO email_rules (user_id, name, preset, rule_json, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (user_id, name) DO UPDATE SET \
             preset = excluded.preset, \
             rule_json = excluded.rule_json, \
             created_at = excluded.created_at",
    )
    .bind(user_id)
    .bind(&rule.name)
    .bind(rule.preset.as_deref())
    .bind(rule.rule_json.as_deref())
    .bind(rule.created_at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// `user_id`'s rules, oldest first (by name among those added at once).
pub(super) async fn rules(pool: &SqlitePool, user_id: &str) -> StoreResult<Vec<UserEmailRule>> {
    let rows: Vec<EmailRuleRow> = sqlx::query_as(
        "SELECT name, preset, rule_json, created_at FROM email_rules WHERE user_id = ?1 \
         ORDER BY created_at, name",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().map(UserEmailRule::from).collect())
}

/// Removes `user_id`'s rule `name`; `true` when it was there.
pub(super) async fn remove_rule(
    conn: &mut SqliteConnection,
    user_id: &str,
    name: &str,
) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM email_rules WHERE user_id = ?1 AND name = ?2")
        .bind(user_id)
        .bind(name)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(result.rows_affected() > 0)
}

/// Records `alert`; its id, or `None` when its account has one for that message already.
pub(super) async fn record_alert(
    conn: &mut SqliteConnection,
    alert: &EmailAlert,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar(
        "INSERT INTO email_alerts (account_id, user_id, message_key, sender, subject, preview, \
             rule, importance, matched, created_at, delivered_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (account_id, message_key) DO NOTHING \
         RETURNING id",
    )
    .bind(alert.account_id)
    .bind(&alert.user_id)
    .bind(&alert.message_key)
    .bind(&alert.sender)
    .bind(&alert.subject)
    .bind(&alert.preview)
    .bind(&alert.rule)
    .bind(&alert.importance)
    .bind(&alert.matched)
    .bind(alert.created_at)
    .bind(alert.delivered_at)
    .fetch_optional(conn)
    .await
    .map_err(db)
}

/// Alerts not yet delivered, oldest first, at most `limit`.
pub(super) async fn undelivered(pool: &SqlitePool, limit: u32) -> StoreResult<Vec<EmailAlert>> {
    let rows: Vec<EmailAlertRow> = sqlx::query_as(concat!(
        "SELECT ",
        email_alert_columns!(),
        " FROM email_alerts WHERE delivered_at IS NULL ORDER BY created_at, id LIMIT +?1"
    ))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().map(EmailAlert::from).collect())
}

/// Marks alert `id` delivered at `at`; `true` only when it was still waiting.
pub(super) async fn mark_delivered(
    conn: &mut SqliteConnection,
    id: i64,
    at: Millis,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE email_alerts SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
    )
    .bind(id)
    .bind(at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(result.rows_affected() == 1)
}

/// Gives back alert `id`, marked delivered at `at`, to wait again.
pub(super) async fn release(conn: &mut SqliteConnection, id: i64, at: Millis) -> StoreResult<()> {
    sqlx::query("UPDATE email_alerts SET delivered_at = NULL WHERE id = ?1 AND delivered_at = ?2")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await
        .map_err(db)?;
    Ok(())
}

/// `user_id`'s latest alerts, newest first, at most `limit`.
pub(super) async fn recent(
    pool: &SqlitePool,
    user_id: &str,
    limit: u32,
) -> StoreResult<Vec<EmailAlert>> {
    let rows: Vec<EmailAlertRow> = sqlx::query_as(concat!(
        "SELECT ",
        email_alert_columns!(),
        " FROM email_alerts WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT +?2"
    ))
    .bind(user_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().map(EmailAlert::from).collect())
}
