//! Crash-safe file primitives: temp file + fsync + rename + fsync of the directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::VaultError;

/// Prefix of the vault's temporary files and directories. User names can never start
/// with a dot (see [`crate::name`]), so these never collide with stored data, and the
/// startup sweep removes them.
pub(crate) const TMP_PREFIX: &str = ".tmp-";
/// Prefix of directories being deleted (renamed away first, so a half-deleted message
/// never shows up in a listing).
pub(crate) const TRASH_PREFIX: &str = ".trash-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary sibling of `final_name`, unique within this process.
pub(crate) fn tmp_name(prefix: &str, final_name: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}-{n}-{final_name}", std::process::id())
}

/// `dir`, created with its parents, and the parents' entries made durable.
pub(crate) fn create_dir_all(dir: &Path) -> Result<(), VaultError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| VaultError::io("create directory", dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsync of a directory, so renames and creations in it survive a power cut.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| VaultError::io("sync directory", dir, e))
}

/// Writes `bytes` to `path` so that after a crash `path` holds either its old content (or
/// does not exist) or all of `bytes`: write a hidden temp file in the same directory,
/// fsync it, rename it over `path`, fsync the directory. On error the temp file is
/// removed and `path` is untouched.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let (dir, name) = split(path);
    let tmp = dir.join(tmp_name(TMP_PREFIX, name));
    let result = write_synced(&tmp, bytes).and_then(|()| {
        fs::rename(&tmp, path).map_err(|e| VaultError::io("rename", path, e))?;
        sync_dir(dir)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `path` (which must not exist), writes `bytes`, fsyncs it.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| VaultError::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| VaultError::io("write", path, e))?;
    f.sync_all().map_err(|e| VaultError::io("sync", path, e))
}

/// Renames `from` to `to` and fsyncs both parent directories.
pub(crate) fn rename_synced(from: &Path, to: &Path) -> Result<(), VaultError> {
    fs::rename(from, to).map_err(|e| VaultError::io("rename", from, e))?;
    let (to_dir, _) = split(to);
    sync_dir(to_dir)?;
    let (from_dir, _) = split(from);
    if from_dir != to_dir {
        sync_dir(from_dir)?;
    }
    Ok(())
}

/// Removes a directory tree by renaming it to a hidden trash name first (atomic
/// disappearance), then deleting it. Returns the bytes it held.
pub(crate) fn remove_tree(dir: &Path) -> Result<u64, VaultError> {
    let (parent, name) = split(dir);
    let trash = parent.join(tmp_name(TRASH_PREFIX, name));
    rename_synced(dir, &trash)?;
    let bytes = tree_size(&trash);
    fs::remove_dir_all(&trash).map_err(|e| VaultError::io("remove", &trash, e))?;
    Ok(bytes)
}

/// Removes one file and fsyncs its directory. Returns the bytes it held.
pub(crate) fn remove_file(path: &Path) -> Result<u64, VaultError> {
    let bytes = fs::symlink_metadata(path).map(|m| m.len()).unwrap_or(0);
    fs::remove_file(path).map_err(|e| VaultError::io("remove", path, e))?;
    let (dir, _) = split(path);
    sync_dir(dir)?;
    Ok(bytes)
}

/// Total size of the regular files under `dir` (symlinks are not followed). Unreadable
/// entries count as 0.
pub(crate) fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

/// Removes the vault's leftover temporary and trash entries under `root` (from a crash
/// mid-write or mid-delete). Returns what was removed.
pub(crate) fn sweep_temporaries(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(ft) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if name.starts_with(TMP_PREFIX) || name.starts_with(TRASH_PREFIX) {
                let gone = if ft.is_dir() {
                    fs::remove_dir_all(&path)
                } else {
                    fs::remove_file(&path)
                };
                if gone.is_ok() {
                    removed.push(path);
                }
            } else if ft.is_dir() {
                stack.push(path);
            }
        }
    }
    removed
}

/// The parent directory and the file name of a vault path (always both present: the
/// vault builds every path as `dir.join(name)`).
pub(crate) fn split(path: &Path) -> (&Path, &str) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    (dir, name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn atomic_write_replaces_the_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("counter");
        atomic_write(&p, b"old content").unwrap();
        atomic_write(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["counter"]);
    }

    #[test]
    fn a_failed_atomic_write_leaves_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        atomic_write(&p, b"old").unwrap();
        // A directory where the new file should be renamed cannot be replaced by a file.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"x").unwrap();
        assert!(atomic_write(&blocked, b"new").is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert!(sweep_temporaries(dir.path()).is_empty());
    }

    #[test]
    fn the_sweep_removes_only_the_vaults_hidden_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(".tmp-1-2-msg"), b"x").unwrap();
        fs::create_dir(sub.join(".trash-1-3-msg0001")).unwrap();
        fs::write(sub.join("keep.wav"), b"x").unwrap();
        let removed = sweep_temporaries(dir.path());
        assert_eq!(removed.len(), 2);
        assert!(sub.join("keep.wav").exists());
        assert_eq!(tree_size(dir.path()), 1);
    }
}
