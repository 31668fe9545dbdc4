use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::StoreError;

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up (`PRAGMA busy_timeout`).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL mode), the embedded default.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The persistent store: tenants and their configuration, registrar bindings, bans and the
/// audit log. Cheap to clone (it is a connection pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// The database location a URL names, after the SQLite special cases are taken apart.
enum Target {
    SqliteFile(PathBuf),
    SqliteMemory,
    Postgres,
}

fn classify(url: &str) -> Result<Target, StoreError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or_default();
        if path == ":memory:" || path.is_empty() {
            return Ok(Target::SqliteMemory);
        }
        return Ok(Target::SqliteFile(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres);
    }
    let scheme = url.split(':').next().unwrap_or_default().to_owned();
    Err(StoreError::UnsupportedUrl { scheme })
}

/// Creates the parent directory (0700 when new) and the database file (0600 when new), and
/// takes group/other permissions off an existing file: it holds tenant secrets.
fn prepare_sqlite_file(path: &Path) -> Result<PathBuf, StoreError> {
    let file_error = |path: &Path, source| StoreError::SqliteFile {
        path: path.to_path_buf(),
        source,
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&parent)
        .map_err(|e| file_error(&parent, e))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    let metadata = file.metadata().map_err(|e| file_error(path, e))?;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
            .map_err(|e| file_error(path, e))?;
        tracing::warn!(path = %path.display(), "database file was readable by others; now 0600");
    }
    let parent = std::fs::canonicalize(&parent).map_err(|e| file_error(&parent, e))?;
    let name = path.file_name().ok_or_else(|| {
        file_error(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
        )
    })?;
    Ok(parent.join(name))
}

/// `sqlite://` + the absolute path, percent-encoding what the URL parser would misread.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' | ' ' => url.push_str(&format!("%{:02X}", c as u32)),
            _ => url.push(c),
        }
    }
    url.push_str("?mode=rwc");
    url
}

impl Store {
    /// Opens (and for SQLite creates) the database and runs the migrations.
    ///
    /// `url` is `sqlite://PATH` (relative paths are relative to the working directory;
    /// `sqlite:///abs/path` for absolute ones; missing directories are created 0700 and a new
    /// file 0600), `sqlite::memory:` (a private in-memory database on one connection, for
    /// tests), or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        match classify(url)? {
            Target::SqliteFile(path) => {
                let absolute = prepare_sqlite_file(&path)?;
                let options = AnyConnectOptions::from_str(&sqlite_url(&absolute))?;
                let pool = AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"
                            )))
                            .execute(&mut *conn)
                            .await?;
                            sqlx::query("PRAGMA journal_mode = WAL")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA foreign_keys = ON")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA temp_store = MEMORY")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?;
                Self::migrate(pool, Backend::Sqlite).await
            }
            Target::SqliteMemory => {
                // Every new connection to `:memory:` is a new, empty database: keep exactly one
                // and never let the pool retire it.
                let options = AnyConnectOptions::from_str("sqlite::memory:")?;
                let pool = AnyPoolOptions::new()
                    .min_connections(1)
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA foreign_keys = ON")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?;
                Self::migrate(pool, Backend::Sqlite).await
            }
            Target::Postgres => {
                let options = AnyConnectOptions::from_str(url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Self::migrate(pool, Backend::Postgres).await
            }
        }
    }

    async fn migrate(pool: AnyPool, backend: Backend) -> Result<Store, StoreError> {
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator.run(&pool).await?;
        Ok(Store { pool, backend })
    }

    /// Closes every connection, waiting for queries in flight. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The backend behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write: `BEGIN IMMEDIATE` on SQLite (takes the write lock
    /// up front, waiting on busy_timeout), plain `BEGIN` on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Reads one counter of the `meta` table.
    pub(crate) async fn meta_value(&self, name: &'static str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("value")?)
    }
}

/// Increments one counter of the `meta` table inside `tx` and returns its new value. On
/// PostgreSQL the row lock this takes orders concurrent writers, so generations become visible
/// in the order they were handed out.
pub(crate) async fn bump_meta(
    tx: &mut Transaction<'static, Any>,
    name: &'static str,
) -> Result<i64, StoreError> {
    let row = sqlx::query("UPDATE meta SET value = value + 1 WHERE name = $1 RETURNING value")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get::<i64, _>("value")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_with_two_slashes_are_relative_and_with_three_absolute() {
        assert!(
            matches!(classify("sqlite://vpbx-data/vpbx.db"), Ok(Target::SqliteFile(p)) if p == Path::new("vpbx-data/vpbx.db"))
        );
        assert!(
            matches!(classify("sqlite:///var/lib/vpbx.db"), Ok(Target::SqliteFile(p)) if p == Path::new("/var/lib/vpbx.db"))
        );
        assert!(
            matches!(classify("sqlite:x.db?mode=rwc"), Ok(Target::SqliteFile(p)) if p == Path::new("x.db"))
        );
        assert!(matches!(
            classify("sqlite::memory:"),
            Ok(Target::SqliteMemory)
        ));
    }

    #[test]
    fn an_unknown_scheme_is_refused_without_echoing_the_password() {
        let err = classify("mysql://root:hunter2@db/x")
            .err()
            .expect("mysql is not supported");
        let text = err.to_string();
        assert!(text.contains("\"mysql\""), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn sqlite_url_escapes_characters_the_url_parser_would_misread() {
        assert_eq!(
            sqlite_url(Path::new("/tmp/a b?c#d%e.db")),
            "sqlite:///tmp/a%20b%3Fc%23d%25e.db?mode=rwc"
        );
    }
}
