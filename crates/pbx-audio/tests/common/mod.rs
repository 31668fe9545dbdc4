//! Helpers shared by the integration tests: running sox, temp files, tone levels.
#![allow(dead_code, clippy::unwrap_used, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Runs sox (or `soxi`-style `sox --i`) and returns stdout; fails the test with a clear message
/// when sox is not installed or the command fails.
pub fn sox(args: &[&str]) -> String {
    let output = match Command::new("sox").args(args).output() {
        Ok(o) => o,
        Err(e) => {
            panic!("cannot run `sox` ({e}): these tests need sox installed (apt-get install sox)")
        }
    };
    assert!(
        output.status.success(),
        "sox {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A unique path in the temp dir (removed by the caller with `std::fs::remove_file`).
pub fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("pbx-audio-test-{}-{n}-{name}", std::process::id()))
}

/// Deletes the file when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str) -> Self {
        Self(temp_path(name))
    }
    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The directory of an installed Asterisk sound package; fails with a clear message if missing.
pub fn sounds_dir(path: &str) -> &Path {
    let p = Path::new(path);
    assert!(
        p.is_dir(),
        "{path} is missing: install the Debian packages asterisk-core-sounds-en-wav and asterisk-moh-opsound-wav"
    );
    p
}
