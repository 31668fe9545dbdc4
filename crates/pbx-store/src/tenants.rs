use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::bump_meta;
use crate::{Store, StoreError, wall_clock_ms};

/// The database id of a tenant. Ids are never reused after a tenant is deleted, so a stale id
/// (for example in a write-behind queue) can never reach a newer tenant's rows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TenantId(pub i64);

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A tenant's metadata, without its configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    /// Database id.
    pub id: TenantId,
    /// The tenant's SIP domain, ASCII-lowercased.
    pub domain: String,
    /// How many times the configuration was put; 0 = never configured.
    pub version: i64,
    /// Creation time, epoch ms.
    pub created_at_ms: i64,
    /// Time of the last change, epoch ms.
    pub updated_at_ms: i64,
}

/// A tenant with its configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantConfig {
    /// Metadata.
    pub row: TenantRow,
    /// The opaque configuration text (YAML/JSON), `None` until the first put.
    pub config: Option<String>,
}

/// What changed since a given config generation (see [`Store::tenant_changes_since`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TenantChanges {
    /// The generation these changes bring the caller up to: pass it to the next call.
    pub generation: i64,
    /// Tenants created or reconfigured since: replace the caller's copy wholesale.
    pub changed: Vec<TenantConfig>,
    /// Domains deleted since (and not created again): drop them.
    pub deleted: Vec<String>,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Monotonic id (insertion order).
    pub id: i64,
    /// The tenant the change concerned.
    pub domain: String,
    /// When, epoch ms.
    pub at_ms: i64,
    /// Who: a CLI user, an API token name, `server`, ….
    pub actor: String,
    /// What, in one line.
    pub summary: String,
}

const CONFIG_GENERATION: &str = "config_generation";

const TENANT_COLUMNS: &str = "id, domain, version, config, created_at_ms, updated_at_ms";

fn normalize(domain: &str) -> String {
    domain.trim().to_ascii_lowercase()
}

fn tenant_row(row: &AnyRow) -> Result<TenantRow, StoreError> {
    Ok(TenantRow {
        id: TenantId(row.try_get("id")?),
        domain: row.try_get("domain")?,
        version: row.try_get("version")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

fn tenant_config(row: &AnyRow) -> Result<TenantConfig, StoreError> {
    Ok(TenantConfig {
        row: tenant_row(row)?,
        config: row.try_get("config")?,
    })
}

impl Store {
    /// Creates an unconfigured tenant (version 0) for `domain` (ASCII-lowercased) and bumps the
    /// config generation. Fails with [`StoreError::TenantExists`] if the domain is taken.
    pub async fn create_tenant(&self, domain: &str) -> Result<TenantId, StoreError> {
        let domain = normalize(domain);
        let now = wall_clock_ms();
        let mut tx = self.begin_write().await?;
        let generation = bump_meta(&mut tx, CONFIG_GENERATION).await?;
        let inserted = sqlx::query(
            "INSERT INTO tenants (domain, version, config, created_at_ms, updated_at_ms, changed_gen) \
             VALUES ($1, 0, NULL, $2, $2, $3) ON CONFLICT (domain) DO NOTHING RETURNING id",
        )
        .bind(&domain)
        .bind(now)
        .bind(generation)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            tx.rollback().await?;
            return Err(StoreError::TenantExists(domain));
        };
        let id = TenantId(row.try_get("id")?);
        sqlx::query("DELETE FROM tenant_tombstones WHERE domain = $1")
            .bind(&domain)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Deletes the tenant and everything that belongs to it (configuration, bindings, call
    /// records), leaves a tombstone for [`Store::tenant_changes_since`] and bumps the config
    /// generation. The audit log keeps its lines (append one for the deletion). Bans are
    /// global and stay.
    pub async fn delete_tenant(&self, domain: &str) -> Result<(), StoreError> {
        let domain = normalize(domain);
        let mut tx = self.begin_write().await?;
        let generation = bump_meta(&mut tx, CONFIG_GENERATION).await?;
        let row = sqlx::query("SELECT id FROM tenants WHERE domain = $1")
            .bind(&domain)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(StoreError::TenantNotFound(domain));
        };
        let id: i64 = row.try_get("id")?;
        // The foreign key cascades too; deleting explicitly keeps this correct even on a
        // connection where SQLite's foreign_keys pragma is off.
        sqlx::query("DELETE FROM bindings WHERE tenant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM cdr WHERE tenant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tenant_tombstones (domain, deleted_gen) VALUES ($1, $2) \
             ON CONFLICT (domain) DO UPDATE SET deleted_gen = excluded.deleted_gen",
        )
        .bind(&domain)
        .bind(generation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// All tenants, ordered by domain, without their documents.
    pub async fn list_tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, domain, version, created_at_ms, updated_at_ms FROM tenants ORDER BY domain",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(tenant_row).collect()
    }

    /// One tenant with its document, or `None`.
    pub async fn get_tenant(&self, domain: &str) -> Result<Option<TenantConfig>, StoreError> {
        let domain = normalize(domain);
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE domain = $1"
        )))
        .bind(&domain)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(tenant_config).transpose()
    }

    /// Every tenant with its document (server start-up).
    pub async fn load_all_tenants(&self) -> Result<Vec<TenantConfig>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants ORDER BY domain"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(tenant_config).collect()
    }

    /// Replaces the tenant's document and returns its new version, atomically with a bump of
    /// the config generation. With `expected_version`, fails with
    /// [`StoreError::VersionConflict`] (changing nothing) unless the stored version equals it.
    pub async fn put_tenant_config(
        &self,
        domain: &str,
        config_text: &str,
        expected_version: Option<i64>,
    ) -> Result<i64, StoreError> {
        let domain = normalize(domain);
        let now = wall_clock_ms();
        let mut tx = self.begin_write().await?;
        let generation = bump_meta(&mut tx, CONFIG_GENERATION).await?;
        let updated =
            match expected_version {
                Some(expected) => sqlx::query(
                    "UPDATE tenants SET config = $1, version = version + 1, updated_at_ms = $2, \
                     changed_gen = $3 WHERE domain = $4 AND version = $5 RETURNING version",
                )
                .bind(config_text)
                .bind(now)
                .bind(generation)
                .bind(&domain)
                .bind(expected)
                .fetch_optional(&mut *tx)
                .await?,
                None => sqlx::query(
                    "UPDATE tenants SET config = $1, version = version + 1, updated_at_ms = $2, \
                     changed_gen = $3 WHERE domain = $4 RETURNING version",
                )
                .bind(config_text)
                .bind(now)
                .bind(generation)
                .bind(&domain)
                .fetch_optional(&mut *tx)
                .await?,
            };
        if let Some(row) = updated {
            let version: i64 = row.try_get("version")?;
            tx.commit().await?;
            return Ok(version);
        }
        let current = sqlx::query("SELECT version FROM tenants WHERE domain = $1")
            .bind(&domain)
            .fetch_optional(&mut *tx)
            .await?;
        tx.rollback().await?;
        match (current, expected_version) {
            (None, _) => Err(StoreError::TenantNotFound(domain)),
            (Some(row), Some(expected)) => Err(StoreError::VersionConflict {
                domain,
                expected,
                actual: row.try_get("version")?,
            }),
            (Some(_), None) => Err(StoreError::Corrupt {
                table: "tenants",
                detail: format!("unconditional update of {domain} matched no row"),
            }),
        }
    }

    /// The config generation: bumped by every tenant create, delete and config put. One
    /// primary-key read; the server polls it (about every 500 ms) and calls
    /// [`Store::tenant_changes_since`] when it moved.
    pub async fn config_generation(&self) -> Result<i64, StoreError> {
        self.meta_value(CONFIG_GENERATION).await
    }

    /// The tenants created, reconfigured or deleted after generation `since` — only those rows
    /// are read, so polling stays cheap with thousands of tenants. Pass the returned
    /// `generation` next time. Applying `deleted` then `changed` brings a copy up to date.
    pub async fn tenant_changes_since(&self, since: i64) -> Result<TenantChanges, StoreError> {
        // The generation is read first: every change numbered up to it has committed (the meta
        // row lock orders them), so the reads below see at least those. Changes numbered
        // after it may appear as well and are simply seen again on the next call.
        let generation = self.config_generation().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE changed_gen > $1 ORDER BY domain"
        )))
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let changed = rows.iter().map(tenant_config).collect::<Result<_, _>>()?;
        let rows = sqlx::query(
            "SELECT domain FROM tenant_tombstones WHERE deleted_gen > $1 ORDER BY domain",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let deleted = rows
            .iter()
            .map(|r| r.try_get::<String, _>("domain"))
            .collect::<Result<_, _>>()?;
        Ok(TenantChanges {
            generation,
            changed,
            deleted,
        })
    }

    /// Appends one line to the audit log.
    pub async fn append_audit(
        &self,
        domain: &str,
        actor: &str,
        summary: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (domain, at_ms, actor, summary) VALUES ($1, $2, $3, $4)",
        )
        .bind(normalize(domain))
        .bind(wall_clock_ms())
        .bind(actor)
        .bind(summary)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest `limit` audit lines of a domain, newest first.
    pub async fn list_audit(
        &self,
        domain: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, domain, at_ms, actor, summary FROM audit_log WHERE domain = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(normalize(domain))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    domain: r.try_get("domain")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    summary: r.try_get("summary")?,
                })
            })
            .collect()
    }
}
