use std::collections::HashMap;
use std::sync::OnceLock;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::{Backend, Store, StoreError, TenantId};

/// One registrar binding: a Contact registered for an address-of-record (RFC 3261 §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The row's identity, allocated by the registrar from a block it took with
    /// [`Store::take_binding_id_block`] (`block << 40 | n`). Writes and deletes go by id.
    pub id: i64,
    /// The tenant whose user registered.
    pub tenant_id: TenantId,
    /// The address-of-record's user part (the extension).
    pub aor: String,
    /// The Contact URI as registered (with its parameters).
    pub contact_uri: String,
    /// `+sip.instance` (RFC 5626), if the UA sent one.
    pub instance_id: Option<String>,
    /// `reg-id` (RFC 5626), if the UA sent one.
    pub reg_id: Option<u32>,
    /// Call-ID of the REGISTER that made or refreshed the binding.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// When the binding expires, epoch ms.
    pub expires_at_ms: i64,
    /// Where the REGISTER came from: `transport:ip:port` (`udp:192.0.2.7:5060`).
    pub received: String,
    /// Path header values and/or the flow token the server needs to reach the contact.
    pub path: Option<String>,
    /// The User-Agent header, if any.
    pub user_agent: Option<String>,
    /// Result of the last OPTIONS qualify: `unknown`, `reachable` or `unreachable`
    /// (pbx-registrar's `Qualify::as_str`); `None` when never written.
    pub qualify_status: Option<String>,
    /// The round-trip time of the qualify answer, when `reachable`.
    pub qualify_rtt_ms: Option<u32>,
    /// When the server last changed this binding, epoch ms. An upsert never replaces a row
    /// with a newer `updated_at_ms` (a late write cannot undo a later one).
    pub updated_at_ms: i64,
}

/// Ids per block of [`Store::take_binding_id_block`]: a binding's id is `block << 40 | n`.
pub const BINDING_ID_BLOCK_BITS: u32 = 40;

/// The highest block number whose ids still fit a signed 64-bit column.
const MAX_BINDING_ID_BLOCK: i64 = (1 << (63 - BINDING_ID_BLOCK_BITS)) - 1;

impl Binding {
    /// The binding's key within its AOR (the `binding_key` column, shown by `vpbx
    /// registrations`): under RFC 5626 outbound (instance and reg-id both present)
    /// `<instance>;reg-id=<n>`, else the Contact URI (RFC 3261 §10.3 step 7).
    pub fn binding_key(&self) -> std::borrow::Cow<'_, str> {
        match (&self.instance_id, self.reg_id) {
            (Some(instance), Some(reg_id)) => format!("{instance};reg-id={reg_id}").into(),
            _ => self.contact_uri.as_str().into(),
        }
    }
}

const BINDING_COLUMNS: &str = "id, tenant_id, aor, binding_key, contact_uri, instance_id, \
     reg_id, call_id, cseq, expires_at_ms, received, path, user_agent, qualify_status, \
     updated_at_ms, qualify_rtt_ms";
const BINDING_COLUMN_COUNT: usize = 16;

/// Rows per page when restoring bindings ([`Store::each_binding`]).
pub const RESTORE_PAGE: usize = 2_000;

/// Rows per multi-row statement, by backend. PostgreSQL gains from large statements (fewer
/// round trips; 400 × 15 = 6,000 parameters, under its 65,535). SQLite does not: sqlx binds
/// each `$N` by name and SQLite's name lookup is a linear scan, so the cost per statement grows
/// with the square of its parameters. Measured through sqlx on SQLite: 25 rows × 14 columns
/// ≈ 57k rows/s, 200 rows ≈ 14k rows/s.
#[derive(Debug, Clone, Copy)]
struct Chunks {
    upsert: usize,
    delete: usize,
}

fn chunks(backend: Backend) -> Chunks {
    match backend {
        Backend::Sqlite => Chunks {
            upsert: 200,
            delete: 500,
        },
        Backend::Postgres => Chunks {
            upsert: 400,
            delete: 1_000,
        },
    }
}

/// `INSERT … SELECT … FROM (VALUES …) WHERE tenant exists ON CONFLICT (id) DO UPDATE` for
/// `rows` rows. Rows of a tenant deleted meanwhile are skipped rather than failing the batch on
/// the foreign key (a write-behind queue may still hold them).
fn upsert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = String::with_capacity(400 + rows * 80);
    sql.push_str("INSERT INTO bindings (");
    sql.push_str(BINDING_COLUMNS);
    sql.push_str(") SELECT ");
    for c in 1..=BINDING_COLUMN_COUNT {
        if c > 1 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("v.column{c}"));
    }
    sql.push_str(" FROM (VALUES ");
    push_placeholders(&mut sql, backend, rows, BINDING_COLUMN_COUNT);
    sql.push_str(
        ") AS v WHERE EXISTS (SELECT 1 FROM tenants t WHERE t.id = v.column2) \
         ON CONFLICT (id) DO UPDATE SET \
         tenant_id = excluded.tenant_id, aor = excluded.aor, \
         binding_key = excluded.binding_key, contact_uri = excluded.contact_uri, instance_id = excluded.instance_id, \
         reg_id = excluded.reg_id, call_id = excluded.call_id, cseq = excluded.cseq, \
         expires_at_ms = excluded.expires_at_ms, received = excluded.received, \
         path = excluded.path, user_agent = excluded.user_agent, \
         qualify_status = excluded.qualify_status, updated_at_ms = excluded.updated_at_ms, \
         qualify_rtt_ms = excluded.qualify_rtt_ms \
         WHERE bindings.updated_at_ms <= excluded.updated_at_ms",
    );
    sql
}

fn delete_sql(backend: Backend, rows: usize) -> String {
    let mut sql = String::with_capacity(60 + rows * 8);
    sql.push_str("DELETE FROM bindings WHERE id IN (VALUES ");
    push_placeholders(&mut sql, backend, rows, 1);
    sql.push(')');
    sql
}

/// `($1, $2, …), ($n+1, …)` for `rows` rows of `columns` placeholders on PostgreSQL; anonymous
/// `(?, ?, …)` on SQLite, which sqlx binds by position: for a numbered parameter it first looks
/// its name up, and SQLite's lookup scans every name, so numbered placeholders cost the square
/// of their count.
fn push_placeholders(sql: &mut String, backend: Backend, rows: usize, columns: usize) {
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
            }
        }
        sql.push(')');
    }
}

/// The full-chunk statement texts, built once per backend; each is then a cached prepared
/// statement on every pooled connection.
fn full_upsert_sql(backend: Backend) -> &'static str {
    static SQLITE: OnceLock<String> = OnceLock::new();
    static POSTGRES: OnceLock<String> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| upsert_sql(backend, chunks(backend).upsert))
}

fn full_delete_sql(backend: Backend) -> &'static str {
    static SQLITE: OnceLock<String> = OnceLock::new();
    static POSTGRES: OnceLock<String> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| delete_sql(backend, chunks(backend).delete))
}

fn column_u32(row: &AnyRow, column: &'static str) -> Result<u32, StoreError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| StoreError::Corrupt {
        table: "bindings",
        detail: format!("{column} = {value} is not a 32-bit unsigned number"),
    })
}

fn binding_from_row(row: &AnyRow) -> Result<Binding, StoreError> {
    let reg_id: Option<i64> = row.try_get("reg_id")?;
    let reg_id = reg_id
        .map(|v| {
            u32::try_from(v).map_err(|_| StoreError::Corrupt {
                table: "bindings",
                detail: format!("reg_id = {v} is not a 32-bit unsigned number"),
            })
        })
        .transpose()?;
    Ok(Binding {
        id: row.try_get("id")?,
        tenant_id: TenantId(row.try_get("tenant_id")?),
        aor: row.try_get("aor")?,
        contact_uri: row.try_get("contact_uri")?,
        instance_id: row.try_get("instance_id")?,
        reg_id,
        call_id: row.try_get("call_id")?,
        cseq: column_u32(row, "cseq")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        received: row.try_get("received")?,
        path: row.try_get("path")?,
        user_agent: row.try_get("user_agent")?,
        qualify_status: row.try_get("qualify_status")?,
        qualify_rtt_ms: row
            .try_get::<Option<i64>, _>("qualify_rtt_ms")?
            .map(|v| {
                u32::try_from(v).map_err(|_| StoreError::Corrupt {
                    table: "bindings",
                    detail: format!("qualify_rtt_ms = {v} is not a 32-bit unsigned number"),
                })
            })
            .transpose()?,
        updated_at_ms: row.try_get("updated_at_ms")?,
    })
}

/// Keeps the last binding per id, so one multi-row statement never touches a row twice
/// (PostgreSQL refuses that in `ON CONFLICT DO UPDATE`).
fn last_per_id(batch: &[Binding]) -> Vec<&Binding> {
    let mut index: HashMap<i64, usize> = HashMap::with_capacity(batch.len());
    let mut out: Vec<&Binding> = Vec::with_capacity(batch.len());
    for b in batch {
        match index.entry(b.id) {
            std::collections::hash_map::Entry::Occupied(slot) => out[*slot.get()] = b,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(out.len());
                out.push(b);
            }
        }
    }
    out
}

async fn upsert_in(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    batch: &[&Binding],
) -> Result<u64, StoreError> {
    let size = chunks(backend).upsert;
    let mut written = 0;
    for chunk in batch.chunks(size) {
        let sql = if chunk.len() == size {
            sqlx::AssertSqlSafe(full_upsert_sql(backend).to_owned())
        } else {
            sqlx::AssertSqlSafe(upsert_sql(backend, chunk.len()))
        };
        let mut query = sqlx::query(sql);
        for b in chunk {
            query = query.bind(b.id).bind(b.tenant_id.0).bind(b.aor.as_str());
            query = match b.binding_key() {
                std::borrow::Cow::Borrowed(key) => query.bind(key),
                std::borrow::Cow::Owned(key) => query.bind(key),
            };
            query = query
                .bind(b.contact_uri.as_str())
                .bind(b.instance_id.as_deref())
                .bind(b.reg_id.map(i64::from))
                .bind(b.call_id.as_str())
                .bind(i64::from(b.cseq))
                .bind(b.expires_at_ms)
                .bind(b.received.as_str())
                .bind(b.path.as_deref())
                .bind(b.user_agent.as_deref())
                .bind(b.qualify_status.as_deref())
                .bind(b.updated_at_ms)
                .bind(b.qualify_rtt_ms.map(i64::from));
        }
        written += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(written)
}

async fn delete_in(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    ids: &[i64],
) -> Result<u64, StoreError> {
    let size = chunks(backend).delete;
    let mut deleted = 0;
    for chunk in ids.chunks(size) {
        let sql = if chunk.len() == size {
            sqlx::AssertSqlSafe(full_delete_sql(backend).to_owned())
        } else {
            sqlx::AssertSqlSafe(delete_sql(backend, chunk.len()))
        };
        let mut query = sqlx::query(sql);
        for &id in chunk {
            query = query.bind(id);
        }
        deleted += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(deleted)
}

impl Store {
    /// Inserts or replaces `batch` in one transaction (multi-row statements). Of several
    /// bindings with the same id the last wins; bindings of tenants that no longer exist are
    /// skipped. Returns how many rows were inserted or updated.
    pub async fn upsert_bindings(&self, batch: &[Binding]) -> Result<u64, StoreError> {
        self.apply_binding_changes(batch, &[])
            .await
            .map(|(written, _)| written)
    }

    /// Deletes the bindings with these ids in one transaction; returns how many existed.
    pub async fn delete_bindings(&self, ids: &[i64]) -> Result<u64, StoreError> {
        self.apply_binding_changes(&[], ids)
            .await
            .map(|(_, deleted)| deleted)
    }

    /// Deletes `deletes`, then upserts `upserts`, all in ONE transaction (what the
    /// write-behind flusher calls). Returns (rows written, rows deleted).
    pub async fn apply_binding_changes(
        &self,
        upserts: &[Binding],
        deletes: &[i64],
    ) -> Result<(u64, u64), StoreError> {
        if upserts.is_empty() && deletes.is_empty() {
            return Ok((0, 0));
        }
        let upserts = last_per_id(upserts);
        let mut tx = self.begin_write().await?;
        let deleted = delete_in(&mut tx, self.backend(), deletes).await?;
        let written = upsert_in(&mut tx, self.backend(), &upserts).await?;
        tx.commit().await?;
        Ok((written, deleted))
    }

    /// Takes a new block of binding ids for one registrar (a shard of one node): the ids
    /// `block << 40 ..= block << 40 | (2^40 - 1)` are then its alone, on every node sharing
    /// the database. A shard takes one block each time the server starts.
    pub async fn take_binding_id_block(&self, now_ms: i64) -> Result<u64, StoreError> {
        let block: i64 = sqlx::query_scalar(
            "INSERT INTO binding_id_blocks (taken_at_ms) VALUES ($1) RETURNING block",
        )
        .bind(now_ms)
        .fetch_one(self.pool())
        .await?;
        if !(2..=MAX_BINDING_ID_BLOCK).contains(&block) {
            return Err(StoreError::Corrupt {
                table: "binding_id_blocks",
                detail: format!(
                    "block {block} is outside 2..={MAX_BINDING_ID_BLOCK}: every binding id \
                     block has been used"
                ),
            });
        }
        Ok(block as u64)
    }

    /// Every binding still valid at `now_ms`, across tenants (restore after a restart).
    pub async fn load_bindings(&self, now_ms: i64) -> Result<Vec<Binding>, StoreError> {
        let mut all = Vec::new();
        self.each_binding(now_ms, |b| all.push(b)).await?;
        Ok(all)
    }

    /// Hands every binding still valid at `now_ms` to `f`, in id order, reading
    /// [`RESTORE_PAGE`] rows at a time: a server restoring 100,000 contacts never holds
    /// them all twice (rows and bindings), which would leave its memory fragmented.
    pub async fn each_binding(
        &self,
        now_ms: i64,
        mut f: impl FnMut(Binding),
    ) -> Result<usize, StoreError> {
        let page = format!(
            "SELECT {BINDING_COLUMNS} FROM bindings WHERE expires_at_ms > $1 AND id > $2 \
             ORDER BY id LIMIT {RESTORE_PAGE}"
        );
        let mut after = i64::MIN;
        let mut n = 0;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(page.as_str()))
                .bind(now_ms)
                .bind(after)
                .fetch_all(self.pool())
                .await?;
            let full = rows.len() == RESTORE_PAGE;
            let mut last = None;
            for row in &rows {
                let b = binding_from_row(row)?;
                last = Some(b.id);
                f(b);
                n += 1;
            }
            drop(rows);
            match last {
                Some(id) if full => after = id,
                _ => return Ok(n),
            }
        }
    }

    /// All stored bindings of one tenant, expired ones included until
    /// [`Store::purge_expired`] removes them, ordered by AOR.
    pub async fn list_bindings(&self, tenant: TenantId) -> Result<Vec<Binding>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM bindings WHERE tenant_id = $1 ORDER BY aor, binding_key, id"
        )))
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(binding_from_row).collect()
    }

    /// Deletes bindings that expired at or before `now_ms`, and bans that ended by then;
    /// returns (bindings removed, bans removed). Removing ended bans does not bump the bans
    /// generation: they were no longer in force.
    pub async fn purge_expired(&self, now_ms: i64) -> Result<(u64, u64), StoreError> {
        let mut tx = self.begin_write().await?;
        let bindings = sqlx::query("DELETE FROM bindings WHERE expires_at_ms <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let bans = sqlx::query("DELETE FROM bans WHERE until_ms <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok((bindings, bans))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(contact: &str, instance: Option<&str>, reg_id: Option<u32>) -> Binding {
        Binding {
            id: contact.len() as i64,
            tenant_id: TenantId(1),
            aor: "100".into(),
            contact_uri: contact.into(),
            instance_id: instance.map(str::to_owned),
            reg_id,
            call_id: "c".into(),
            cseq: 1,
            expires_at_ms: 10,
            received: "udp:192.0.2.1:5060".into(),
            path: None,
            user_agent: None,
            qualify_status: None,
            qualify_rtt_ms: None,
            updated_at_ms: 1,
        }
    }

    #[test]
    fn the_key_is_instance_and_reg_id_under_outbound_else_the_contact() {
        let outbound = binding("sip:100@192.0.2.1", Some("<urn:uuid:1>"), Some(2));
        assert_eq!(outbound.binding_key(), "<urn:uuid:1>;reg-id=2");
        let plain = binding("sip:100@192.0.2.1", Some("<urn:uuid:1>"), None);
        assert_eq!(plain.binding_key(), "sip:100@192.0.2.1");
    }

    #[test]
    fn placeholders_are_numbered_across_rows_on_postgres_and_anonymous_on_sqlite() {
        assert_eq!(
            delete_sql(Backend::Postgres, 2),
            "DELETE FROM bindings WHERE id IN (VALUES ($1), ($2))"
        );
        assert_eq!(
            delete_sql(Backend::Sqlite, 2),
            "DELETE FROM bindings WHERE id IN (VALUES (?), (?))"
        );
        let pg = upsert_sql(Backend::Postgres, 2);
        assert!(pg.contains("$16), ($17, $18,"));
        assert!(pg.ends_with("WHERE bindings.updated_at_ms <= excluded.updated_at_ms"));
        let lite = upsert_sql(Backend::Sqlite, 2);
        assert_eq!(lite.matches('?').count(), 32);
        assert!(!lite.contains('$'));
    }

    #[test]
    fn duplicate_ids_in_a_batch_keep_the_last_at_the_first_position() {
        let mut second = binding("sip:a", None, None);
        // Same id (see `binding`), another row than "sip:bb".
        second.cseq = 2;
        let batch = [
            binding("sip:a", None, None),
            binding("sip:bb", None, None),
            second,
        ];
        let kept = last_per_id(&batch);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].contact_uri, "sip:a");
        assert_eq!(kept[0].cseq, 2);
        assert_eq!(kept[1].contact_uri, "sip:bb");
    }
}
