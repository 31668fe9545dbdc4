//! The crate's errors.

use std::io;
use std::path::{Path, PathBuf};

/// A write would take the tenant over its storage quota (`limits.storage_mb`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant {domain} is over its storage quota: {used} bytes used of {limit} allowed")]
pub struct QuotaFull {
    /// The tenant.
    pub domain: String,
    /// Bytes in use (including the write that was refused, where there was one).
    pub used: u64,
    /// The limit in bytes.
    pub limit: u64,
}

/// What kind of name failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameKind {
    /// A tenant domain.
    Domain,
    /// An extension (mailbox, greetings).
    Ext,
    /// A prompt, music-on-hold file or greeting name.
    File,
    /// A music-on-hold class.
    MohClass,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Domain => "domain",
            NameKind::Ext => "extension",
            NameKind::File => "file name",
            NameKind::MohClass => "music-on-hold class",
        })
    }
}

/// Everything that can go wrong in the vault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// A domain, extension or file name that could escape its directory or is otherwise
    /// unusable as one path component.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// What the name was for.
        kind: NameKind,
        /// The name as given (lossy for NUL bytes, which the Debug form shows).
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The file system is full (ENOSPC) or the user's disk quota is exhausted (EDQUOT).
    /// Nothing already stored was changed: the write went to a temporary file.
    #[error("disk full writing {path}")]
    DiskFull {
        /// The file being written.
        path: PathBuf,
    },
    /// The tenant's storage quota is full.
    #[error(transparent)]
    QuotaFull(#[from] QuotaFull),
    /// A voicemail message that does not exist.
    #[error("no message {id} in mailbox {ext}@{domain}")]
    NoSuchMessage {
        /// Tenant.
        domain: String,
        /// Mailbox.
        ext: String,
        /// Message id.
        id: u32,
    },
    /// A stored file whose content does not parse (metadata JSON, id counter).
    #[error("corrupt file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other I/O error, with the path it happened on.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"create"`, `"rename"`, …).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl VaultError {
    /// Wraps an I/O error; ENOSPC and EDQUOT become [`VaultError::DiskFull`].
    pub(crate) fn io(op: &'static str, path: &Path, source: io::Error) -> VaultError {
        if is_disk_full(&source) {
            VaultError::DiskFull {
                path: path.to_owned(),
            }
        } else {
            VaultError::Io {
                op,
                path: path.to_owned(),
                source,
            }
        }
    }

    /// True for [`VaultError::DiskFull`] and [`VaultError::QuotaFull`]: the server stops new
    /// recordings (log line + metric) and calls go on.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, VaultError::DiskFull { .. } | VaultError::QuotaFull(_))
    }
}

/// ENOSPC or EDQUOT.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
        )
}
