use sqlx::Row;

use crate::store::bump_meta;
use crate::{Store, StoreError, wall_clock_ms};

/// A banned source address. Bans are platform-wide, not per tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The address as text (`192.0.2.7`, `2001:db8::1`).
    pub ip: String,
    /// Banned until, epoch ms.
    pub until_ms: i64,
    /// Why, in one line (`10 failed authentications in 60 s`, `scanner user agent`).
    pub reason: String,
    /// When the ban was (last) put, epoch ms.
    pub created_at_ms: i64,
}

const BANS_GENERATION: &str = "bans_generation";

impl Store {
    /// Bans `ip` until `until_ms` (replacing an existing ban of it) and bumps the bans
    /// generation.
    pub async fn put_ban(&self, ip: &str, until_ms: i64, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        bump_meta(&mut tx, BANS_GENERATION).await?;
        sqlx::query(
            "INSERT INTO bans (ip, until_ms, reason, created_at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ip) DO UPDATE SET until_ms = excluded.until_ms, \
             reason = excluded.reason, created_at_ms = excluded.created_at_ms",
        )
        .bind(ip)
        .bind(until_ms)
        .bind(reason)
        .bind(wall_clock_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lifts the ban of `ip`; `false` if there was none (then nothing changes, not even the
    /// generation).
    pub async fn remove_ban(&self, ip: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM bans WHERE ip = $1")
            .bind(ip)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        bump_meta(&mut tx, BANS_GENERATION).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Bans still in force at `now_ms`, ordered by address.
    pub async fn list_bans(&self, now_ms: i64) -> Result<Vec<Ban>, StoreError> {
        let rows = sqlx::query(
            "SELECT ip, until_ms, reason, created_at_ms FROM bans WHERE until_ms > $1 ORDER BY ip",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Ban {
                    ip: r.try_get("ip")?,
                    until_ms: r.try_get("until_ms")?,
                    reason: r.try_get("reason")?,
                    created_at_ms: r.try_get("created_at_ms")?,
                })
            })
            .collect()
    }

    /// The bans generation: bumped by every put and every successful remove, so a server
    /// notices `vpbx ban remove` run from the CLI.
    pub async fn bans_generation(&self) -> Result<i64, StoreError> {
        self.meta_value(BANS_GENERATION).await
    }
}
