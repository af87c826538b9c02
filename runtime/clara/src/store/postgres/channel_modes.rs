//! Channel modes set at run time: read, upsert and clear one channel's row.

use clara_core::store::{ChannelModeSetting, StoreResult};
use sqlx::PgPool;

use crate::store::db;
use crate::store::rows::{ChannelModeRow, channel_mode_select};

/// The mode set for `channel_id` of `platform`.
pub(super) async fn get(
    pool: &PgPool,
    platform: &str,
    channel_id: &str,
) -> StoreResult<Option<ChannelModeSetting>> {
    let row: Option<ChannelModeRow> = sqlx::query_as(channel_mode_select!(
        "WHERE platform = $1 AND channel_id = $2"
    ))
    .bind(platform)
    .bind(channel_id)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(row.map(ChannelModeSetting::from))
}

/// Every mode set on `platform`, by channel id.
pub(super) async fn all(pool: &PgPool, platform: &str) -> StoreResult<Vec<ChannelModeSetting>> {
    let rows: Vec<ChannelModeRow> = sqlx::query_as(channel_mode_select!(
        "WHERE platform = $1 ORDER BY channel_id"
    ))
    .bind(platform)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(rows.into_iter().map(ChannelModeSetting::from).collect())
}

/// Stores `setting`, replacing the channel's previous one.
pub(super) async fn set(pool: &PgPool, setting: &ChannelModeSetting) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_modes (platform, channel_id, guild_id, mode, set_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (platform, channel_id) DO UPDATE SET \
             guild_id = EXCLUDED.guild_id, \
             mode = EXCLUDED.mode, \
             set_by = EXCLUDED.set_by, \
             updated_at = EXCLUDED.updated_at",
    )
    .bind(&setting.platform)
    .bind(&setting.channel_id)
    .bind(&setting.guild_id)
    .bind(&setting.mode)
    .bind(&setting.set_by)
    .bind(setting.updated_at)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

/// Deletes the channel's row; `true` when there was one.
pub(super) async fn clear(pool: &PgPool, platform: &str, channel_id: &str) -> StoreResult<bool> {
    let result = sqlx::query("DELETE FROM channel_modes WHERE platform = $1 AND channel_id = $2")
        .bind(platform)
        .bind(channel_id)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(result.rows_affected() > 0)
}
