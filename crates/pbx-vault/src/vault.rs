//! The vault: the data directory, per-tenant usage and quotas, tenant files.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{NameKind, QuotaFull, VaultError};
use crate::fsio;
use crate::layout::Layout;
use crate::mailbox::Mailbox;
use crate::name::check;

/// A file of a tenant that is not voicemail or a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantFile {
    /// `prompts/<name>`.
    Prompt {
        /// File name, e.g. `ru-greet.wav`.
        name: String,
    },
    /// `moh/<class>/<name>`.
    Moh {
        /// Music-on-hold class, e.g. `default`.
        class: String,
        /// File name.
        name: String,
    },
    /// `greetings/<ext>/<name>`.
    Greeting {
        /// The user's extension.
        ext: String,
        /// File name, e.g. `busy.wav`.
        name: String,
    },
}

/// The data directory of one server. Cheap to clone (shared state behind an `Arc`); all
/// methods do blocking file I/O, so async callers use `tokio::task::spawn_blocking`.
///
/// Every domain, extension, class and file name is checked before it becomes a path: not
/// empty, at most 200 bytes, no `/`, `\`, NUL or control characters, no leading dot (so
/// no `.` or `..`), and domains lower case.
#[derive(Debug, Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    layout: Layout,
    /// Bytes per tenant, maintained on every write and delete made through the vault.
    usage: Mutex<HashMap<String, u64>>,
    /// Serialises voicemail mutations (id allocation, moves, deletes) in this process.
    voicemail: Mutex<()>,
}

impl Vault {
    /// Opens (creating) `data_dir`: creates `tenants/` and the mail spool, removes the
    /// vault's leftover temporary files (under `tenants/` and `spool/` only) from an
    /// interrupted write, and computes each tenant's usage by walking its directory.
    pub fn open(data_dir: impl Into<PathBuf>) -> Result<Vault, VaultError> {
        let layout = Layout::new(data_dir);
        fsio::create_dir_all(&layout.tenants_dir())?;
        fsio::create_dir_all(&layout.mail_spool_dir())?;
        let swept = fsio::sweep_temporaries(&layout.tenants_dir())
            .into_iter()
            .chain(fsio::sweep_temporaries(&layout.data_dir().join("spool")));
        for path in swept {
            tracing::info!(path = %path.display(), "removed a temporary file left by an interrupted write");
        }
        let vault = Vault {
            inner: Arc::new(Inner {
                layout,
                usage: Mutex::new(HashMap::new()),
                voicemail: Mutex::new(()),
            }),
        };
        for domain in vault.tenants()? {
            vault.recompute_usage(&domain)?;
        }
        Ok(vault)
    }

    /// The path builder.
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The domains that have a directory under `tenants/` (sorted; entries that are not
    /// valid names are skipped).
    pub fn tenants(&self) -> Result<Vec<String>, VaultError> {
        let dir = self.layout().tenants_dir();
        let entries = fs::read_dir(&dir).map_err(|e| VaultError::io("read directory", &dir, e))?;
        let mut out: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| check(NameKind::Domain, n).is_ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Creates a tenant's directories (`prompts`, `moh`, `greetings`, `voicemail`,
    /// `recordings`). Idempotent.
    pub fn ensure_tenant(&self, domain: &str) -> Result<PathBuf, VaultError> {
        let dir = self.layout().tenant_dir(domain)?;
        for sub in ["prompts", "moh", "greetings", "voicemail", "recordings"] {
            fsio::create_dir_all(&dir.join(sub))?;
        }
        Ok(dir)
    }

    /// The mailbox of `ext` in `domain`, creating its folders.
    pub fn mailbox(&self, domain: &str, ext: &str) -> Result<Mailbox, VaultError> {
        Mailbox::open(self.clone(), domain, ext)
    }

    /// Where a tenant file lives (validated; nothing is created).
    pub fn file_path(&self, domain: &str, file: &TenantFile) -> Result<PathBuf, VaultError> {
        let l = self.layout();
        Ok(match file {
            TenantFile::Prompt { name } => {
                check(NameKind::File, name)?;
                l.prompts_dir(domain)?.join(name)
            }
            TenantFile::Moh { class, name } => {
                check(NameKind::File, name)?;
                l.moh_dir(domain, class)?.join(name)
            }
            TenantFile::Greeting { ext, name } => {
                check(NameKind::File, name)?;
                l.greetings_dir(domain, ext)?.join(name)
            }
        })
    }

    /// Stores (or atomically replaces) a tenant file and counts it in the tenant's usage.
    /// No quota check: the caller decides with [`Vault::check_quota`] first.
    pub fn put_file(
        &self,
        domain: &str,
        file: &TenantFile,
        bytes: &[u8],
    ) -> Result<PathBuf, VaultError> {
        let path = self.file_path(domain, file)?;
        let (dir, _) = fsio::split(&path);
        fsio::create_dir_all(dir)?;
        let old = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        fsio::atomic_write(&path, bytes)?;
        self.add_usage(domain, len64(bytes.len()));
        self.sub_usage(domain, old);
        Ok(path)
    }

    /// Removes a tenant file; false when it did not exist.
    pub fn remove_file(&self, domain: &str, file: &TenantFile) -> Result<bool, VaultError> {
        let path = self.file_path(domain, file)?;
        if !path.exists() {
            return Ok(false);
        }
        let freed = fsio::remove_file(&path)?;
        self.sub_usage(domain, freed);
        Ok(true)
    }

    /// Bytes the tenant uses (everything under `tenants/<domain>`), as maintained since
    /// the last [`Vault::recompute_usage`]. 0 for an unknown tenant.
    pub fn usage(&self, domain: &str) -> u64 {
        self.usage_map().get(domain).copied().unwrap_or(0)
    }

    /// Walks the tenant's directory and resets its usage to what is on disk (done for
    /// every tenant by [`Vault::open`]; call it after another process, such as the CLI's
    /// `vpbx prompt add`, changed files).
    pub fn recompute_usage(&self, domain: &str) -> Result<u64, VaultError> {
        let dir = self.layout().tenant_dir(domain)?;
        let bytes = fsio::tree_size(&dir);
        self.usage_map().insert(domain.to_owned(), bytes);
        Ok(bytes)
    }

    /// `Err(QuotaFull)` when the tenant uses `limit_mb` MiB or more. `limit_mb == 0` means
    /// no limit (like `recording_days: 0`).
    pub fn check_quota(&self, domain: &str, limit_mb: u32) -> Result<(), QuotaFull> {
        self.check_quota_with(domain, limit_mb, 0)
    }

    /// `Err(QuotaFull)` when `extra` more bytes would take the tenant over `limit_mb` MiB
    /// (or it is already at the limit).
    pub(crate) fn check_quota_with(
        &self,
        domain: &str,
        limit_mb: u32,
        extra: u64,
    ) -> Result<(), QuotaFull> {
        if limit_mb == 0 {
            return Ok(());
        }
        let limit = u64::from(limit_mb) * 1024 * 1024;
        let used = self.usage(domain).saturating_add(extra);
        // Without a pending write the tenant is full at the limit; a write may fill it
        // exactly up to the limit.
        let full = if extra == 0 {
            used >= limit
        } else {
            used > limit
        };
        if full {
            return Err(QuotaFull {
                domain: domain.to_owned(),
                used,
                limit,
            });
        }
        Ok(())
    }

    pub(crate) fn add_usage(&self, domain: &str, bytes: u64) {
        let mut map = self.usage_map();
        let v = map.entry(domain.to_owned()).or_insert(0);
        *v = v.saturating_add(bytes);
    }

    pub(crate) fn sub_usage(&self, domain: &str, bytes: u64) {
        let mut map = self.usage_map();
        let v = map.entry(domain.to_owned()).or_insert(0);
        *v = v.saturating_sub(bytes);
    }

    fn usage_map(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        // The map holds plain counters: a panic elsewhere cannot leave it inconsistent.
        self.inner
            .usage
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn voicemail_lock(&self) -> MutexGuard<'_, ()> {
        self.inner
            .voicemail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usage_follows_writes_and_deletes_and_matches_a_fresh_walk() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        v.ensure_tenant("a.example").unwrap();
        let p = TenantFile::Prompt {
            name: "hello.wav".into(),
        };
        v.put_file("a.example", &p, &[0; 1000]).unwrap();
        v.put_file(
            "a.example",
            &TenantFile::Moh {
                class: "default".into(),
                name: "m.wav".into(),
            },
            &[0; 500],
        )
        .unwrap();
        assert_eq!(v.usage("a.example"), 1500);
        v.put_file("a.example", &p, &[0; 200]).unwrap();
        assert_eq!(v.usage("a.example"), 700);
        assert!(v.remove_file("a.example", &p).unwrap());
        assert!(!v.remove_file("a.example", &p).unwrap());
        assert_eq!(v.usage("a.example"), 500);
        assert_eq!(v.usage("other.example"), 0);
        let reopened = Vault::open(dir.path()).unwrap();
        assert_eq!(reopened.usage("a.example"), 500);
        assert_eq!(reopened.tenants().unwrap(), ["a.example"]);
    }

    #[test]
    fn the_quota_is_full_at_the_limit_and_zero_means_unlimited() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let p = TenantFile::Prompt { name: "p".into() };
        v.put_file("a.example", &p, &vec![0; 1024 * 1024 - 1])
            .unwrap();
        assert!(v.check_quota("a.example", 1).is_ok());
        assert!(v.check_quota_with("a.example", 1, 1).is_ok());
        let e = v.check_quota_with("a.example", 1, 2).unwrap_err();
        assert_eq!(e.limit, 1024 * 1024);
        v.put_file("a.example", &p, &vec![0; 1024 * 1024]).unwrap();
        let e = v.check_quota("a.example", 1).unwrap_err();
        assert_eq!(e.used, 1024 * 1024);
        assert!(v.check_quota("a.example", 0).is_ok());
        assert!(v.check_quota("a.example", 2).is_ok());
    }

    #[test]
    fn tenant_files_cannot_escape_the_tenant_directory() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        for f in [
            TenantFile::Prompt {
                name: "../x".into(),
            },
            TenantFile::Prompt { name: "..".into() },
            TenantFile::Moh {
                class: "..".into(),
                name: "x".into(),
            },
            TenantFile::Greeting {
                ext: "1/../..".into(),
                name: "x".into(),
            },
        ] {
            assert!(matches!(
                v.put_file("a.example", &f, b"x"),
                Err(VaultError::InvalidName { .. })
            ));
        }
        assert!(
            v.put_file("../evil", &TenantFile::Prompt { name: "x".into() }, b"x")
                .is_err()
        );
        assert_eq!(fsio::tree_size(dir.path()), 0);
    }
}
