//! pbx-store: vpbx's persistence, one code path for SQLite (the embedded default) and
//! PostgreSQL, through sqlx's `AnyPool`.
//!
//! Rules the SQL here follows so that one text runs on both backends:
//! - only bool/integer/float/text/blob cross the driver: times are epoch milliseconds (`i64`),
//!   ids are `i64`, tenant configuration is opaque text;
//! - placeholders are `$1, $2, …` (both backends accept them);
//! - upserts use `INSERT … ON CONFLICT (…) DO UPDATE`, inserted ids come back with `RETURNING`;
//! - each backend has its own migration directory (`migrations/sqlite`, `migrations/postgres`),
//!   embedded at compile time and run by [`Store::open`].
//!
//! No compile-time checked `query!` macros are used, so the crate builds offline; the tests in
//! `tests/` run every repository function on SQLite and, when `VPBX_TEST_PG_URL` is set, on
//! PostgreSQL (see the crate README).
//!
//! ```no_run
//! # async fn demo() -> Result<(), pbx_store::StoreError> {
//! use pbx_store::{Store, WriteBehind, WriteBehindConfig};
//! let store = Store::open("sqlite://vpbx-data/vpbx.db").await?;
//! let id = store.create_tenant("example.com").await?;
//! let v = store.put_tenant_config("example.com", "domain: example.com\n", Some(0)).await?;
//! assert_eq!(v, 1);
//! // The server polls this about every 500 ms and reloads only what changed:
//! let changes = store.tenant_changes_since(0).await?;
//! # let _ = (id, changes);
//! let write_behind = WriteBehind::spawn(store.clone(), WriteBehindConfig::default());
//! // registrar: write_behind.submit(BindingChange::Upsert(binding)) on every REGISTER
//! write_behind.shutdown().await.ok(); // on a clean stop: nothing lost
//! store.close().await;
//! # Ok(()) }
//! ```
//!
//! Writes that must be atomic (a tenant's configuration and the generation counter the server
//! polls; a batch of bindings) run in one transaction. On SQLite write transactions start with
//! `BEGIN IMMEDIATE` so that concurrent writers wait on `busy_timeout` instead of failing with
//! `SQLITE_BUSY` when a read lock would have to be upgraded.

mod bans;
mod bindings;
mod cdr;
mod error;
mod platform;
mod queues;
mod store;
mod tenants;
mod write_behind;

pub use bans::Ban;
pub use bindings::{BINDING_ID_BLOCK_BITS, Binding, RESTORE_PAGE};
pub use cdr::{Cdr, CdrTransfer, Disposition, HangupBy, TransferKind};
pub use error::StoreError;
pub use platform::PlatformDoc;
pub use queues::{QueueAgentRow, QueueLogEntry, QueueStats, queue_stats};
pub use store::{Backend, Store};
pub use tenants::{AuditEntry, TenantChanges, TenantConfig, TenantId, TenantRow};
pub use write_behind::{
    BindingChange, FlushReport, WriteBehind, WriteBehindConfig, WriteBehindError, WriteBehindStats,
};

/// Milliseconds since the Unix epoch, for `created_at`/`updated_at` stamps the store writes
/// itself. Expiry decisions never use it: those take `now_ms` from the caller.
pub(crate) fn wall_clock_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}
