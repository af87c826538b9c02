//! Connection tokens: upsert, read and delete one user's sealed tokens for a connection, and
//! claim an OAuth state nonce once.

use clara_core::store::{Millis, StoreResult, StoredToken};
use sqlx::PgPool;

use crate::store::db;

/// Stores `user_id`'s tokens for `connection`, replacing any before.
pub(super) async fn save(
    pool: &PgPool,
    user_id: &str,
    connection: &str,
    sealed: &[u8],
    expires_at: Option<Millis>,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO connection_tokens (user_id, connection, sealed, expires_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id, connection) DO UPDATE SET \
             sealed = EXCLUDED.sealed, \
             expires_at = EXCLUDED.expires_at, \
             updated_at = EXCLUDED.updated_at",
    )
    .bind(user_id)
    .bind(connection)
    .bind(sealed)
    .bind(expires_at)
    .bind(now)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

/// `user_id`'s tokens for `connection`.
pub(super) async fn get(
    pool: &PgPool,
    user_id: &str,
    connection: &str,
) -> StoreResult<Option<StoredToken>> {
    let row: Option<(Vec<u8>, Option<Millis>, Millis)> = sqlx::query_as(
        "SELECT sealed, expires_at, updated_at FROM connection_tokens \
         WHERE user_id = $1 AND connection = $2",
    )
    .bind(user_id)
    .bind(connection)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    Ok(row.map(|(sealed, expires_at, updated_at)| StoredToken {
        sealed,
        expires_at,
        updated_at,
    }))
}

/// Deletes `user_id`'s tokens for `connection`; `true` when there were any.
pub(super) async fn delete(pool: &PgPool, user_id: &str, connection: &str) -> StoreResult<bool> {
    let result =
        sqlx::query("DELETE FROM connection_tokens WHERE user_id = $1 AND connection = $2")
            .bind(user_id)
            .bind(connection)
            .execute(pool)
            .await
            .map_err(db)?;
    Ok(result.rows_affected() > 0)
}

/// Forgets the nonces expired before `now`, then records `nonce`; `true` when it was not
/// recorded already (the primary key settles two processes claiming it at once).
pub(super) async fn claim_state(
    pool: &PgPool,
    nonce: &str,
    expires_at: Millis,
    now: Millis,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let inserted = sqlx::query(
        "INSERT INTO oauth_states (nonce, expires_at) VALUES ($1, $2) \
         ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce)
    .bind(expires_at)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(inserted.rows_affected() == 1)
}
