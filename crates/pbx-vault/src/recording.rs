//! Call recordings: written as `….wav.part`, published by one rename in [`RecordingFile::finish`].

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::VaultError;
use crate::fsio;
use crate::name::sanitize_call_id;
use crate::time::{unix_ms, utc};
use crate::vault::{Vault, len64};

/// How a recording is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordingOptions {
    /// The tenant's `limits.storage_mb`; a write that would go over it fails with
    /// [`VaultError::QuotaFull`] and writes nothing. 0 = no limit.
    pub quota_mb: u32,
    /// fsync after this many bytes were written since the last fsync (bounds what a power
    /// cut can lose from a long call); `None` = only in [`RecordingFile::finish`].
    pub sync_every_bytes: Option<u64>,
}

/// A call recording being written. The server feeds it the bytes of a WAV file (from the
/// media crate's writer: it implements [`Write`] and [`Seek`], so a WAV writer can patch
/// its header at the end), then calls [`RecordingFile::finish`].
///
/// Until `finish` the file is `recordings/YYYY/MM/DD/HHMMSS-<call-id>.wav.part`; `finish`
/// fsyncs it and renames it to `….wav`. Dropped without `finish` (a crash, a bug), the
/// `.part` file stays: it is data, counted in the usage and removed by retention.
///
/// Through [`Write`], a full disk gives an `io::Error` of kind `StorageFull` and a full
/// quota one of kind `QuotaExceeded`; both carry the [`VaultError`] as their inner error.
#[derive(Debug)]
pub struct RecordingFile {
    vault: Vault,
    domain: String,
    file: Option<File>,
    part: PathBuf,
    path: PathBuf,
    /// Bytes in the file (the highest offset written).
    len: u64,
    /// The position [`Write`] writes at.
    pos: u64,
    opts: RecordingOptions,
    unsynced: u64,
}

impl Vault {
    /// Starts a recording of `call_id` (a SIP Call-ID: network input, made safe for a file
    /// name) that started at `started`. Fails with [`VaultError::QuotaFull`] when the
    /// tenant is already at its quota, and [`VaultError::DiskFull`] when the disk is.
    pub fn create_recording(
        &self,
        domain: &str,
        call_id: &str,
        started: SystemTime,
        opts: RecordingOptions,
    ) -> Result<RecordingFile, VaultError> {
        self.check_quota(domain, opts.quota_mb)?;
        let t = utc(unix_ms(started));
        let dir = self
            .layout()
            .recordings_day_dir(domain, t.year, t.month, t.day)?;
        fsio::create_dir_all(&dir)?;
        let base = format!(
            "{:02}{:02}{:02}-{}",
            t.hour,
            t.minute,
            t.second,
            sanitize_call_id(call_id)
        );
        for n in 0u32..1000 {
            let stem = if n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let path = dir.join(format!("{stem}.wav"));
            let part = dir.join(format!("{stem}.wav.part"));
            if path.exists() {
                continue;
            }
            match OpenOptions::new().write(true).create_new(true).open(&part) {
                Ok(file) => {
                    fsio::sync_dir(&dir)?;
                    return Ok(RecordingFile {
                        vault: self.clone(),
                        domain: domain.to_owned(),
                        file: Some(file),
                        part,
                        path,
                        len: 0,
                        pos: 0,
                        opts,
                        unsynced: 0,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(VaultError::io("create", &part, e)),
            }
        }
        Err(VaultError::io(
            "create",
            &dir.join(&base),
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "1000 recordings with this name",
            ),
        ))
    }
}

impl RecordingFile {
    /// Where the recording will be once finished (for the call record).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before anything was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends at the end of the file.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), VaultError> {
        self.write_at(self.len, bytes)
    }

    /// Writes at `offset` (a WAV header patch). Growth of the file is checked against the
    /// quota first; nothing is written when it would go over.
    pub fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), VaultError> {
        let end = offset.saturating_add(len64(bytes.len()));
        let growth = end.saturating_sub(self.len);
        if growth > 0 {
            self.vault
                .check_quota_with(&self.domain, self.opts.quota_mb, growth)?;
        }
        let file = self
            .file
            .as_ref()
            .expect("the file is only taken by finish(self)");
        let written = file.write_all_at(bytes, offset);
        if let Err(e) = written {
            // Count whatever part of the write reached the file.
            self.resync_len();
            return Err(VaultError::io("write", &self.part, e));
        }
        if growth > 0 {
            self.vault.add_usage(&self.domain, growth);
            self.len = end;
        }
        self.unsynced += len64(bytes.len());
        if let Some(every) = self.opts.sync_every_bytes
            && self.unsynced >= every
        {
            file.sync_data()
                .map_err(|e| VaultError::io("sync", &self.part, e))?;
            self.unsynced = 0;
        }
        Ok(())
    }

    /// fsyncs the file and publishes it under its final name (one rename + directory
    /// fsync). Returns the final path.
    pub fn finish(mut self) -> Result<PathBuf, VaultError> {
        let file = self
            .file
            .take()
            .expect("finish consumes self, so the file is here");
        file.sync_all()
            .map_err(|e| VaultError::io("sync", &self.part, e))?;
        drop(file);
        fsio::rename_synced(&self.part, &self.path)?;
        Ok(self.path.clone())
    }

    fn resync_len(&mut self) {
        if let Some(len) = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
            && len > self.len
        {
            self.vault.add_usage(&self.domain, len - self.len);
            self.len = len;
        }
    }
}

impl Drop for RecordingFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            tracing::warn!(path = %self.part.display(), bytes = self.len, "recording dropped without finish; the .part file is kept");
        }
    }
}

fn to_io(e: VaultError) -> io::Error {
    let kind = match &e {
        VaultError::DiskFull { .. } => io::ErrorKind::StorageFull,
        VaultError::QuotaFull(_) => io::ErrorKind::QuotaExceeded,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

impl Write for RecordingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_at(self.pos, buf).map_err(to_io)?;
        self.pos += len64(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for RecordingFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let new = new.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        self.pos = new;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn a_recording_is_published_under_its_date_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let mut r = v
            .create_recording(
                "office.example",
                "a84b4c76e66710@pc33/../x",
                at(1_795_652_630),
                RecordingOptions::default(),
            )
            .unwrap();
        let path = r.path().to_owned();
        assert!(path.ends_with("recordings/2026/11/26/002350-a84b4c76e66710@pc33_.._x.wav"));
        r.append(b"RIFF....WAVE").unwrap();
        r.append(&[1; 100]).unwrap();
        r.write_at(4, b"SIZE").unwrap();
        assert!(!path.exists());
        assert_eq!(v.usage("office.example"), 112);
        assert_eq!(r.finish().unwrap(), path);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..12], b"RIFFSIZEWAVE");
        assert_eq!(bytes.len(), 112);
        assert_eq!(v.usage("office.example"), 112);
    }

    #[test]
    fn the_same_call_id_in_the_same_second_gets_a_second_name() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let o = RecordingOptions::default();
        let a = v.create_recording("a.example", "c1", at(0), o).unwrap();
        let b = v.create_recording("a.example", "c1", at(0), o).unwrap();
        assert_ne!(a.path(), b.path());
        assert!(b.path().ends_with("000000-c1-1.wav"));
        a.finish().unwrap();
        b.finish().unwrap();
    }

    #[test]
    fn write_and_seek_work_like_a_file_for_a_wav_writer() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let mut r = v
            .create_recording(
                "a.example",
                "c",
                at(0),
                RecordingOptions {
                    quota_mb: 0,
                    sync_every_bytes: Some(10),
                },
            )
            .unwrap();
        r.write_all(b"0123456789abcdef").unwrap();
        assert_eq!(r.seek(SeekFrom::Start(2)).unwrap(), 2);
        r.write_all(b"XY").unwrap();
        assert_eq!(r.seek(SeekFrom::End(0)).unwrap(), 16);
        assert!(r.seek(SeekFrom::Current(-20)).is_err());
        let p = r.finish().unwrap();
        assert_eq!(std::fs::read(p).unwrap(), b"01XY456789abcdef");
    }

    #[test]
    fn a_full_quota_stops_the_recording_and_keeps_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let opts = RecordingOptions {
            quota_mb: 1,
            sync_every_bytes: None,
        };
        let mut r = v.create_recording("a.example", "c", at(0), opts).unwrap();
        r.append(&vec![7; 1024 * 1024 - 10]).unwrap();
        let e = r.append(&[7; 11]).unwrap_err();
        assert!(e.is_storage_full(), "{e}");
        assert!(matches!(e, VaultError::QuotaFull(_)));
        r.seek(SeekFrom::End(0)).unwrap();
        let io_err = r.write(&[7; 11]).unwrap_err();
        assert_eq!(io_err.kind(), io::ErrorKind::QuotaExceeded);
        r.append(&[7; 10]).unwrap();
        let p = r.finish().unwrap();
        assert_eq!(std::fs::metadata(p).unwrap().len(), 1024 * 1024);
        assert!(matches!(
            v.create_recording("a.example", "d", at(0), opts),
            Err(VaultError::QuotaFull(_))
        ));
    }

    #[test]
    fn an_unfinished_recording_stays_as_a_part_file() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let mut r = v
            .create_recording("a.example", "c", at(0), RecordingOptions::default())
            .unwrap();
        r.append(b"data").unwrap();
        let part = r.part.clone();
        drop(r);
        assert_eq!(std::fs::read(&part).unwrap(), b"data");
        let v = Vault::open(dir.path()).unwrap();
        assert!(part.exists());
        assert_eq!(v.usage("a.example"), 4);
    }
}
