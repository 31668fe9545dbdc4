//! A real full disk: the vault on a 1 MiB tmpfs. Writes that do not fit fail with
//! `DiskFull`, and everything stored before is intact. Needs `mount` (root, as on the
//! project's machines and CI); where mounting is not allowed the test says so and passes
//! without running (the quota tests cover the same paths with `QuotaFull`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use pbx_vault::{AudioFormat, NewMessage, RecordingOptions, TenantFile, Vault, VaultError};

struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "vpbx-vault-test"])
            .arg(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(Tmpfs {
            dir,
            _parent: parent,
        })
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

fn message(audio: &[u8]) -> NewMessage<'_> {
    NewMessage {
        caller_number: "1101".into(),
        caller_name: None,
        received: SystemTime::now(),
        duration_ms: 1000,
        format: AudioFormat::Wav,
        audio,
    }
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_name().to_string_lossy().starts_with('.') {
                found.push(e.path());
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    found
}

#[test]
fn a_full_disk_refuses_new_writes_and_keeps_what_is_stored() {
    let Some(fs) = Tmpfs::mount() else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); quota tests cover QuotaFull");
        return;
    };
    let vault = Vault::open(fs.path()).unwrap();
    let mbox = vault.mailbox("office.example", "2001").unwrap();
    let kept_audio = vec![0x11; 100_000];
    let kept = mbox.store(message(&kept_audio)).unwrap().id;
    let prompt = TenantFile::Prompt {
        name: "greet.wav".into(),
    };
    vault
        .put_file("office.example", &prompt, &[0x22; 100_000])
        .unwrap();

    // A recording fills the disk: the write that does not fit is DiskFull.
    let mut rec = vault
        .create_recording(
            "office.example",
            "call-1",
            SystemTime::now(),
            RecordingOptions::default(),
        )
        .unwrap();
    let err = loop {
        if let Err(e) = rec.append(&[0x33; 64 * 1024]) {
            break e;
        }
        assert!(rec.len() < 2 * 1024 * 1024, "a 1 MiB tmpfs never filled up");
    };
    assert!(matches!(err, VaultError::DiskFull { .. }), "{err}");
    assert!(err.is_storage_full());

    // New writes are refused whole: no half message, no half prompt, no leftovers.
    let before = mbox.counts().unwrap();
    let e = mbox.store(message(&[0x44; 200_000])).unwrap_err();
    assert!(matches!(e, VaultError::DiskFull { .. }), "{e}");
    assert_eq!(mbox.counts().unwrap(), before);
    let e = vault
        .put_file("office.example", &prompt, &[0x55; 200_000])
        .unwrap_err();
    assert!(matches!(e, VaultError::DiskFull { .. }), "{e}");
    assert!(
        leftovers(fs.path()).is_empty(),
        "{:?}",
        leftovers(fs.path())
    );

    // What was stored before is intact.
    assert_eq!(mbox.read_audio(kept).unwrap(), kept_audio);
    let prompt_path = vault.file_path("office.example", &prompt).unwrap();
    assert_eq!(std::fs::read(prompt_path).unwrap(), vec![0x22; 100_000]);

    // The cut recording is still published (what was recorded is kept), and once space
    // is freed, writes work again.
    let recorded = rec.len();
    let path = rec.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), recorded);
    std::fs::remove_file(&path).unwrap();
    vault.recompute_usage("office.example").unwrap();
    mbox.store(message(&[0x66; 200_000])).unwrap();
    assert_eq!(mbox.counts().unwrap().new, 2);
}
