//! Retention: the daily purge of old recordings and voicemail.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use crate::error::VaultError;
use crate::fsio;
use crate::mailbox::MessageCounts;
use crate::time::{days_from_civil, unix_ms};
use crate::vault::Vault;

const DAY_MS: u64 = 86_400_000;

/// What a purge deleted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeReport {
    /// Recording files deleted (finished and `.part`).
    pub recordings_deleted: u32,
    /// Voicemail messages deleted.
    pub voicemail_deleted: u32,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Mailboxes whose counts changed, with the new counts (send MWI NOTIFY to them).
    pub mailboxes_changed: Vec<(String, MessageCounts)>,
}

impl Vault {
    /// Deletes the tenant's recordings of days that ended more than `recording_days` days
    /// before `now` (by the `YYYY/MM/DD` directory, i.e. the UTC start date of the call)
    /// and its voicemail received more than `voicemail_days` days before `now`. 0 keeps
    /// forever. Empty day/month/year directories are removed.
    pub fn purge(
        &self,
        domain: &str,
        now: SystemTime,
        recording_days: u32,
        voicemail_days: u32,
    ) -> Result<PurgeReport, VaultError> {
        let now_ms = unix_ms(now);
        let mut report = PurgeReport::default();
        if recording_days > 0 {
            let cutoff = now_ms.saturating_sub(u64::from(recording_days) * DAY_MS);
            let root = self.layout().recordings_root(domain)?;
            self.purge_recordings(domain, &root, cutoff, &mut report)?;
        }
        if voicemail_days > 0 {
            let cutoff = now_ms.saturating_sub(u64::from(voicemail_days) * DAY_MS);
            let root = self.layout().voicemail_root(domain)?;
            let exts: Vec<String> = match fs::read_dir(&root) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.starts_with('.'))
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(VaultError::io("read directory", &root, e)),
            };
            for ext in exts {
                let Ok(mbox) = self.mailbox(domain, &ext) else {
                    continue;
                };
                let (deleted, freed) = mbox.delete_older_than(cutoff)?;
                if deleted > 0 {
                    report.voicemail_deleted += deleted;
                    report.bytes_freed += freed;
                    report.mailboxes_changed.push((ext, mbox.counts()?));
                }
            }
            report.mailboxes_changed.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(report)
    }

    fn purge_recordings(
        &self,
        domain: &str,
        root: &Path,
        cutoff_ms: u64,
        report: &mut PurgeReport,
    ) -> Result<(), VaultError> {
        for (year, ydir) in numbered_dirs(root) {
            for (month, mdir) in numbered_dirs(&ydir) {
                for (day, ddir) in numbered_dirs(&mdir) {
                    let (Ok(m), Ok(d)) = (u32::try_from(month), u32::try_from(day)) else {
                        continue;
                    };
                    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
                        continue;
                    }
                    let day_end = days_from_civil(year, m, d) + 1;
                    let day_end_ms = u64::try_from(day_end).unwrap_or(0) * DAY_MS;
                    if day_end_ms > cutoff_ms {
                        continue;
                    }
                    let Ok(entries) = fs::read_dir(&ddir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|t| t.is_file()) {
                            let freed = fsio::remove_file(&entry.path())?;
                            self.sub_usage(domain, freed);
                            report.bytes_freed += freed;
                            report.recordings_deleted += 1;
                        }
                    }
                    let _ = fs::remove_dir(&ddir);
                }
                let _ = fs::remove_dir(&mdir);
            }
            let _ = fs::remove_dir(&ydir);
        }
        Ok(())
    }
}

/// Subdirectories whose names are all digits, with their number.
fn numbered_dirs(dir: &Path) -> Vec<(i64, std::path::PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((name.parse().ok()?, e.path()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mailbox::{AudioFormat, NewMessage};
    use crate::recording::RecordingOptions;
    use std::time::{Duration, UNIX_EPOCH};

    const DAY: u64 = 86_400;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn record(v: &Vault, call: &str, when: u64) -> std::path::PathBuf {
        let mut r = v
            .create_recording("a.example", call, at(when), RecordingOptions::default())
            .unwrap();
        r.append(&[0; 100]).unwrap();
        r.finish().unwrap()
    }

    fn leave(v: &Vault, ext: &str, when: u64) -> u32 {
        v.mailbox("a.example", ext)
            .unwrap()
            .store(NewMessage {
                caller_number: "1".into(),
                caller_name: None,
                received: at(when),
                duration_ms: 1000,
                format: AudioFormat::Wav,
                audio: &[0; 50],
            })
            .unwrap()
            .id
    }

    #[test]
    fn purge_deletes_what_is_older_than_the_limits_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let now = 100 * DAY + 3600; // day 100, 01:00 UTC
        let old_rec = record(&v, "old", 69 * DAY + 80_000); // day 69 ended > 30 days ago
        let edge_rec = record(&v, "edge", 70 * DAY + 10); // day 70 ends 30 days + 23 h ago
        let new_rec = record(&v, "new", 99 * DAY);
        let old_vm = leave(&v, "2001", now - 31 * DAY);
        let new_vm = leave(&v, "2001", now - 29 * DAY);
        leave(&v, "2002", now - DAY);
        let before = v.usage("a.example");

        let report = v.purge("a.example", at(now), 30, 30).unwrap();
        assert_eq!(report.recordings_deleted, 1);
        assert_eq!(report.voicemail_deleted, 1);
        assert!(!old_rec.exists());
        assert!(!old_rec.parent().unwrap().exists(), "empty day dir removed");
        assert!(edge_rec.exists() && new_rec.exists());
        let b = v.mailbox("a.example", "2001").unwrap();
        assert!(b.find(old_vm).is_err());
        assert!(b.find(new_vm).is_ok());
        assert_eq!(
            report.mailboxes_changed,
            [("2001".to_owned(), MessageCounts { new: 1, old: 0 })]
        );
        assert_eq!(v.usage("a.example"), before - report.bytes_freed);
        assert!(report.bytes_freed > 100);
    }

    #[test]
    fn zero_days_keeps_everything_forever() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let r = record(&v, "ancient", 0);
        leave(&v, "2001", 0);
        let report = v.purge("a.example", at(10_000 * DAY), 0, 0).unwrap();
        assert_eq!(report, PurgeReport::default());
        assert!(r.exists());
    }
}
