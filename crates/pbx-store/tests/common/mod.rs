//! Runs one test body against SQLite (a fresh file in a temp dir) or PostgreSQL (a fresh
//! database on the server named by `VPBX_TEST_PG_URL`, dropped afterwards).
//!
//! Without `VPBX_TEST_PG_URL` the PostgreSQL variants print `SKIPPED …` and return, unless
//! `VPBX_REQUIRE_PG=1`, which turns the missing URL into a failure (CI sets both).
#![allow(clippy::unwrap_used, dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use pbx_store::Store;
use sqlx::Connection;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unique to this process and call: `<prefix>_<pid>_<n>_<nanos>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A fresh directory under the system temp dir, removed by `Drop`.
#[derive(Debug)]
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        let dir = std::env::temp_dir().join(unique_name("pbx_store_test"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Panic = Box<dyn std::any::Any + Send + 'static>;

/// Runs `body` on a store opened on `url`, then closes it. Returns the body's panic (or the
/// open failure as one) so that the caller can clean up before re-raising it.
async fn run_on<F, Fut>(url: String, body: F) -> Option<Panic>
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let store = match Store::open(&url).await {
        Ok(store) => store,
        Err(e) => return Some(Box::new(format!("Store::open failed: {e}"))),
    };
    let handle = store.clone();
    let outcome = tokio::spawn(body(store)).await;
    handle.close().await;
    outcome.err().map(|e| e.into_panic())
}

pub(crate) async fn sqlite<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = TempDir::new();
    let url = format!("sqlite://{}/data/vpbx.db", dir.0.display());
    if let Some(panic) = run_on(url, body).await {
        std::panic::resume_unwind(panic);
    }
}

/// The admin URL, or `None` when PostgreSQL tests are to be skipped.
pub(crate) fn pg_admin_url() -> Option<String> {
    match std::env::var("VPBX_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("VPBX_REQUIRE_PG").as_deref() == Ok("1") {
                panic!("VPBX_REQUIRE_PG=1 but VPBX_TEST_PG_URL is not set");
            }
            eprintln!("SKIPPED (PostgreSQL): set VPBX_TEST_PG_URL to run this test on PostgreSQL");
            None
        }
    }
}

/// `admin` with its database name replaced by `db`.
pub(crate) fn with_database(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let prefix = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

pub(crate) async fn postgres<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin) = pg_admin_url() else {
        return;
    };
    sqlx::any::install_default_drivers();
    let db = unique_name("vpbx_test");
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = with_database(&admin, &db);
    let outcome = run_on(url, body).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    if let Some(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Declares, for each listed `async fn name(store: Store)` of the enclosing module, a test
/// `sqlite::name` and a test `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::common::sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::common::postgres(super::$name).await;
                }
            )*
        }
    };
}

#[test]
fn the_database_name_is_replaced_keeping_the_query() {
    assert_eq!(
        with_database(
            "postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable",
            "x"
        ),
        "postgres://u:p@127.0.0.1:5432/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
