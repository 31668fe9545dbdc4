//! Voicemail boxes: one directory per message, published and moved by single renames.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::VaultError;
use crate::fsio;
use crate::layout::{Folder, message_name, parse_message_name};
use crate::time::{unix_ms, utc};
use crate::vault::{Vault, len64};

/// The audio encoding of a stored message (the caller encodes; the vault stores bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    /// 16-bit PCM WAV.
    Wav,
    /// GSM 06.10 in WAV (WAV49).
    Wav49,
}

/// A message to store: the caller recorded and encoded it.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// Caller's number (From user part), empty when unknown.
    pub caller_number: String,
    /// Caller's display name, if any.
    pub caller_name: Option<String>,
    /// When the message was received.
    pub received: SystemTime,
    /// Length of the audio.
    pub duration_ms: u64,
    /// Encoding of `audio`.
    pub format: AudioFormat,
    /// The complete file (WAV header included).
    pub audio: &'a [u8],
}

/// A stored message's metadata (`msgNNNN.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageMeta {
    /// Per-mailbox id, increasing, never reused.
    pub id: u32,
    /// Caller's number.
    pub caller_number: String,
    /// Caller's display name.
    pub caller_name: Option<String>,
    /// The mailbox's extension.
    pub called_ext: String,
    /// Receive time, Unix milliseconds.
    pub received_ms: u64,
    /// Receive time, RFC 3339 UTC (for people reading the file).
    pub received: String,
    /// Audio length.
    pub duration_ms: u64,
    /// Audio encoding.
    pub format: AudioFormat,
    /// Size of the audio file.
    pub audio_bytes: u64,
}

impl MessageMeta {
    /// `msg0001.wav`: the audio file name, also used for the e-mail attachment.
    pub fn audio_file_name(&self) -> String {
        format!("{}.wav", message_name(self.id))
    }
}

/// A message found in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its metadata.
    pub meta: MessageMeta,
    /// The folder it is in.
    pub folder: Folder,
    /// The audio file.
    pub audio_path: PathBuf,
}

/// Message counts for MWI (RFC 3842 `Voice-Message: new/old`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageCounts {
    /// Messages in INBOX.
    pub new: u32,
    /// Messages in Old.
    pub old: u32,
}

/// One user's voicemail box. Get it with [`Vault::mailbox`]. Blocking I/O.
#[derive(Debug, Clone)]
pub struct Mailbox {
    vault: Vault,
    domain: String,
    ext: String,
    dir: PathBuf,
}

const NEXT_ID: &str = "next_id";

impl Mailbox {
    pub(crate) fn open(vault: Vault, domain: &str, ext: &str) -> Result<Mailbox, VaultError> {
        let dir = vault.layout().mailbox_dir(domain, ext)?;
        for folder in Folder::ALL {
            fsio::create_dir_all(&dir.join(folder.dir_name()))?;
        }
        Ok(Mailbox {
            vault,
            domain: domain.to_owned(),
            ext: ext.to_owned(),
            dir,
        })
    }

    /// The tenant.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The extension.
    pub fn ext(&self) -> &str {
        &self.ext
    }

    /// Stores a new message in INBOX and returns its metadata. The message appears whole
    /// (audio and metadata) or, after a crash, not at all; its id is recorded as used
    /// before it is published, so ids stay increasing across restarts and deletes.
    pub fn store(&self, msg: NewMessage<'_>) -> Result<MessageMeta, VaultError> {
        let _guard = self.vault.voicemail_lock();
        let id = self.allocate_id()?;
        let received_ms = unix_ms(msg.received);
        let meta = MessageMeta {
            id,
            caller_number: msg.caller_number,
            caller_name: msg.caller_name,
            called_ext: self.ext.clone(),
            received_ms,
            received: utc(received_ms).rfc3339(),
            duration_ms: msg.duration_ms,
            format: msg.format,
            audio_bytes: len64(msg.audio.len()),
        };
        let json = serde_json::to_vec_pretty(&meta).expect("MessageMeta serialises");
        let name = message_name(id);
        let tmp = self.dir.join(fsio::tmp_name(fsio::TMP_PREFIX, &name));
        let result = (|| {
            fs::create_dir(&tmp).map_err(|e| VaultError::io("create directory", &tmp, e))?;
            fsio::write_synced(&tmp.join(format!("{name}.wav")), msg.audio)?;
            fsio::write_synced(&tmp.join(format!("{name}.json")), &json)?;
            fsio::sync_dir(&tmp)?;
            let dest = self.dir.join(Folder::Inbox.dir_name()).join(&name);
            fsio::rename_synced(&tmp, &dest)
        })();
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        self.vault
            .add_usage(&self.domain, len64(msg.audio.len() + json.len()));
        Ok(meta)
    }

    /// The messages of a folder, oldest id first. Entries that are not complete messages
    /// are skipped with a warning.
    pub fn list(&self, folder: Folder) -> Result<Vec<StoredMessage>, VaultError> {
        let mut out: Vec<StoredMessage> = self
            .message_dirs(folder)?
            .into_iter()
            .filter_map(|(id, dir)| match read_meta(&dir, id) {
                Ok(meta) => Some(StoredMessage {
                    audio_path: dir.join(meta.audio_file_name()),
                    meta,
                    folder,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an unreadable voicemail message");
                    None
                }
            })
            .collect();
        out.sort_by_key(|m| m.meta.id);
        Ok(out)
    }

    /// New and old message counts (for MWI).
    pub fn counts(&self) -> Result<MessageCounts, VaultError> {
        let count = |f| {
            self.message_dirs(f)
                .map(|v| u32::try_from(v.len()).unwrap_or(u32::MAX))
        };
        Ok(MessageCounts {
            new: count(Folder::Inbox)?,
            old: count(Folder::Old)?,
        })
    }

    /// Finds a message in either folder.
    pub fn find(&self, id: u32) -> Result<StoredMessage, VaultError> {
        let name = message_name(id);
        for folder in Folder::ALL {
            let dir = self.dir.join(folder.dir_name()).join(&name);
            if dir.is_dir() {
                let meta = read_meta(&dir, id)?;
                return Ok(StoredMessage {
                    audio_path: dir.join(meta.audio_file_name()),
                    meta,
                    folder,
                });
            }
        }
        Err(self.no_such(id))
    }

    /// The message's audio file.
    pub fn read_audio(&self, id: u32) -> Result<Vec<u8>, VaultError> {
        let m = self.find(id)?;
        fs::read(&m.audio_path).map_err(|e| VaultError::io("read", &m.audio_path, e))
    }

    /// Moves a message from INBOX to Old (one rename); a message already in Old stays.
    pub fn move_to_old(&self, id: u32) -> Result<(), VaultError> {
        let _guard = self.vault.voicemail_lock();
        let name = message_name(id);
        let from = self.dir.join(Folder::Inbox.dir_name()).join(&name);
        let to = self.dir.join(Folder::Old.dir_name()).join(&name);
        if to.is_dir() {
            return Ok(());
        }
        if !from.is_dir() {
            return Err(self.no_such(id));
        }
        fsio::rename_synced(&from, &to)
    }

    /// Deletes a message (audio and metadata) from whichever folder holds it.
    pub fn delete(&self, id: u32) -> Result<(), VaultError> {
        let _guard = self.vault.voicemail_lock();
        let name = message_name(id);
        for folder in Folder::ALL {
            let dir = self.dir.join(folder.dir_name()).join(&name);
            if dir.is_dir() {
                let freed = fsio::remove_tree(&dir)?;
                self.vault.sub_usage(&self.domain, freed);
                return Ok(());
            }
        }
        Err(self.no_such(id))
    }

    /// Deletes the messages received at or before `cutoff_ms`; returns how many.
    pub(crate) fn delete_older_than(&self, cutoff_ms: u64) -> Result<(u32, u64), VaultError> {
        let mut deleted = 0;
        let mut freed = 0;
        for folder in Folder::ALL {
            for m in self.list(folder)? {
                if m.meta.received_ms <= cutoff_ms {
                    let _guard = self.vault.voicemail_lock();
                    let dir = self
                        .dir
                        .join(folder.dir_name())
                        .join(message_name(m.meta.id));
                    if !dir.is_dir() {
                        continue; // moved or deleted since it was listed
                    }
                    let bytes = fsio::remove_tree(&dir)?;
                    self.vault.sub_usage(&self.domain, bytes);
                    freed += bytes;
                    deleted += 1;
                }
            }
        }
        Ok((deleted, freed))
    }

    fn no_such(&self, id: u32) -> VaultError {
        VaultError::NoSuchMessage {
            domain: self.domain.clone(),
            ext: self.ext.clone(),
            id,
        }
    }

    /// `(id, directory)` of every `msgNNNN` directory in a folder.
    fn message_dirs(&self, folder: Folder) -> Result<Vec<(u32, PathBuf)>, VaultError> {
        let dir = self.dir.join(folder.dir_name());
        let entries = fs::read_dir(&dir).map_err(|e| VaultError::io("read directory", &dir, e))?;
        Ok(entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let id = parse_message_name(e.file_name().to_str()?)?;
                Some((id, e.path()))
            })
            .collect())
    }

    /// The next id: the larger of the counter file and one past the highest id on disk
    /// (so a lost or stale counter can never hand out a used id). The counter is
    /// advanced durably before the id is used.
    fn allocate_id(&self) -> Result<u32, VaultError> {
        let counter_path = self.dir.join(NEXT_ID);
        let counter = match fs::read_to_string(&counter_path) {
            Ok(s) => match s.trim().parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    tracing::warn!(path = %counter_path.display(), "voicemail id counter is corrupt; continuing from the highest stored id");
                    1
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 1,
            Err(e) => return Err(VaultError::io("read", &counter_path, e)),
        };
        let mut highest = 0;
        for folder in Folder::ALL {
            for (id, _) in self.message_dirs(folder)? {
                highest = highest.max(id);
            }
        }
        let id = counter.max(highest.saturating_add(1)).max(1);
        let next = id.checked_add(1).ok_or_else(|| VaultError::Corrupt {
            path: counter_path.clone(),
            reason: "message ids are exhausted".into(),
        })?;
        fsio::atomic_write(&counter_path, format!("{next}\n").as_bytes())?;
        Ok(id)
    }
}

fn read_meta(dir: &Path, id: u32) -> Result<MessageMeta, VaultError> {
    let path = dir.join(format!("{}.json", message_name(id)));
    let bytes = fs::read(&path).map_err(|e| VaultError::io("read", &path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| VaultError::Corrupt {
        path,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn msg(audio: &[u8], at_s: u64) -> NewMessage<'_> {
        NewMessage {
            caller_number: "1101".into(),
            caller_name: Some("Sales 1".into()),
            received: UNIX_EPOCH + Duration::from_secs(at_s),
            duration_ms: 23_000,
            format: AudioFormat::Wav,
            audio,
        }
    }

    #[test]
    fn a_stored_message_is_listed_counted_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let b = v.mailbox("office.example", "2001").unwrap();
        let m = b.store(msg(b"RIFF-audio", 1_795_652_630)).unwrap();
        assert_eq!(m.id, 1);
        assert_eq!(m.received, "2026-11-26T00:23:50Z");
        assert_eq!(m.called_ext, "2001");
        assert_eq!(b.counts().unwrap(), MessageCounts { new: 1, old: 0 });
        let listed = b.list(Folder::Inbox).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].meta, m);
        assert!(listed[0].audio_path.ends_with("INBOX/msg0001/msg0001.wav"));
        assert_eq!(b.read_audio(1).unwrap(), b"RIFF-audio");
        assert_eq!(
            v.usage("office.example"),
            fsio::tree_size(&v.layout().tenant_dir("office.example").unwrap()) - len64("2\n".len())
        );
    }

    #[test]
    fn moving_and_deleting_change_the_counts() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let b = v.mailbox("office.example", "2001").unwrap();
        let a = b.store(msg(b"a", 10)).unwrap().id;
        let c = b.store(msg(b"c", 20)).unwrap().id;
        b.move_to_old(a).unwrap();
        b.move_to_old(a).unwrap();
        assert_eq!(b.counts().unwrap(), MessageCounts { new: 1, old: 1 });
        assert_eq!(b.find(a).unwrap().folder, Folder::Old);
        assert_eq!(b.read_audio(a).unwrap(), b"a");
        b.delete(a).unwrap();
        assert!(matches!(
            b.delete(a),
            Err(VaultError::NoSuchMessage { id, .. }) if id == a
        ));
        assert!(matches!(
            b.move_to_old(99),
            Err(VaultError::NoSuchMessage { .. })
        ));
        assert_eq!(b.counts().unwrap(), MessageCounts { new: 1, old: 0 });
        b.delete(c).unwrap();
        assert_eq!(b.counts().unwrap(), MessageCounts::default());
    }

    #[test]
    fn ids_keep_increasing_after_deletes_and_restarts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let v = Vault::open(dir.path()).unwrap();
            let b = v.mailbox("office.example", "2001").unwrap();
            assert_eq!(b.store(msg(b"1", 1)).unwrap().id, 1);
            assert_eq!(b.store(msg(b"2", 2)).unwrap().id, 2);
            b.delete(2).unwrap();
        }
        let v = Vault::open(dir.path()).unwrap();
        let b = v.mailbox("office.example", "2001").unwrap();
        assert_eq!(b.store(msg(b"3", 3)).unwrap().id, 3);
        // A lost counter file falls back to the highest stored id.
        fs::remove_file(b.dir.join(NEXT_ID)).unwrap();
        assert_eq!(b.store(msg(b"4", 4)).unwrap().id, 4);
        // A corrupt one too.
        fs::write(b.dir.join(NEXT_ID), b"garbage").unwrap();
        assert_eq!(b.store(msg(b"5", 5)).unwrap().id, 5);
        let ids: Vec<u32> = b
            .list(Folder::Inbox)
            .unwrap()
            .iter()
            .map(|m| m.meta.id)
            .collect();
        assert_eq!(ids, [1, 3, 4, 5]);
    }

    #[test]
    fn a_half_written_message_left_by_a_crash_never_shows_and_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let b = v.mailbox("office.example", "2001").unwrap();
        b.store(msg(b"ok", 1)).unwrap();
        // What a crash between writing the audio and publishing leaves behind.
        let tmp = b.dir.join(".tmp-1-1-msg0002");
        fs::create_dir(&tmp).unwrap();
        fs::write(tmp.join("msg0002.wav"), b"partial").unwrap();
        assert_eq!(b.counts().unwrap().new, 1);
        let v = Vault::open(dir.path()).unwrap();
        assert!(!tmp.exists());
        let b = v.mailbox("office.example", "2001").unwrap();
        assert_eq!(b.list(Folder::Inbox).unwrap().len(), 1);
    }

    #[test]
    fn mailbox_names_cannot_traverse() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        assert!(v.mailbox("office.example", "..").is_err());
        assert!(v.mailbox("office.example", "../../x").is_err());
        assert!(v.mailbox("..", "2001").is_err());
        assert!(v.mailbox("office.example", "20\x0001").is_err());
        assert!(!dir.path().join("x").exists());
    }
}
