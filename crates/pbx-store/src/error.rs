use std::path::PathBuf;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names neither SQLite nor PostgreSQL.
    #[error(
        "unsupported database URL (scheme {scheme:?}): expected sqlite://PATH or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl {
        /// The part before `:` (never the whole URL, which may hold a password).
        scheme: String,
    },
    /// The SQLite file or its directory could not be created or protected.
    #[error("cannot prepare the SQLite database file {path}: {source}")]
    SqliteFile {
        /// The file or directory concerned.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The database refused or failed a statement, or the connection broke.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Running the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// `create_tenant` for a domain that already has a tenant.
    #[error("tenant {0} already exists")]
    TenantExists(String),
    /// The named tenant does not exist.
    #[error("tenant {0} does not exist")]
    TenantNotFound(String),
    /// Optimistic concurrency: somebody else changed the tenant since the caller read it.
    #[error(
        "tenant {domain} was changed meanwhile: expected version {expected}, it is at version {actual}"
    )]
    VersionConflict {
        /// The tenant.
        domain: String,
        /// The version the caller based its change on.
        expected: i64,
        /// The version in the database.
        actual: i64,
    },
    /// A stored value is outside what the schema promises (for example a negative CSeq).
    #[error("corrupt value in table {table}: {detail}")]
    Corrupt {
        /// The table the value came from.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
}
