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
//! Writes that must be atomic (a tenant's configuration and the generation counter the server
//! polls; a batch of bindings) run in one transaction. On SQLite write transactions start with
//! `BEGIN IMMEDIATE` so that concurrent writers wait on `busy_timeout` instead of failing with
//! `SQLITE_BUSY` when a read lock would have to be upgraded.

mod bans;
mod bindings;
mod error;
mod store;
mod tenants;
mod write_behind;

pub use bans::Ban;
pub use bindings::{Binding, BindingKey};
pub use error::StoreError;
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
