//! The operator's platform document (`vpbx platform apply`): one row, versioned like a
//! tenant's document, so the server can poll its version and reload it.

use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;
use crate::wall_clock_ms;

/// The stored platform document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformDoc {
    /// Counts applies, from 1.
    pub version: i64,
    /// The document (YAML, secrets sealed as the caller stored them).
    pub config: String,
    pub updated_at_ms: i64,
}

impl Store {
    /// The platform document, or `None` before the first apply.
    pub async fn get_platform(&self) -> Result<Option<PlatformDoc>, StoreError> {
        let row = sqlx::query("SELECT version, config, updated_at_ms FROM platform WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            Ok(PlatformDoc {
                version: r.try_get("version")?,
                config: r.try_get("config")?,
                updated_at_ms: r.try_get("updated_at_ms")?,
            })
        })
        .transpose()
    }

    /// The platform document's version (0 before the first apply): one primary-key read,
    /// which the server polls.
    pub async fn platform_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT version FROM platform WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("version")?,
            None => 0,
        })
    }

    /// Replaces the platform document and returns its new version. Fails with
    /// [`StoreError::VersionConflict`] (changing nothing) unless the stored version is
    /// `expected_version` (0: none stored yet), so two operators applying at once cannot
    /// silently overwrite each other.
    pub async fn put_platform(
        &self,
        config_text: &str,
        expected_version: i64,
    ) -> Result<i64, StoreError> {
        let now = wall_clock_ms();
        let mut tx = self.begin_write().await?;
        let version = expected_version + 1;
        // One statement decides, so two concurrent applies cannot both win: the insert
        // conflicts on the primary key, the update matches only the expected version.
        let done = if expected_version == 0 {
            sqlx::query(
                "INSERT INTO platform (id, version, config, updated_at_ms) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(version)
            .bind(config_text)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            sqlx::query(
                "UPDATE platform SET version = $1, config = $2, updated_at_ms = $3 \
                 WHERE id = 1 AND version = $4",
            )
            .bind(version)
            .bind(config_text)
            .bind(now)
            .bind(expected_version)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        if done != 1 {
            let actual: i64 = match sqlx::query("SELECT version FROM platform WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?
            {
                Some(r) => r.try_get("version")?,
                None => 0,
            };
            tx.rollback().await?;
            return Err(StoreError::VersionConflict {
                domain: "(platform)".into(),
                expected: expected_version,
                actual,
            });
        }
        tx.commit().await?;
        Ok(version)
    }
}
