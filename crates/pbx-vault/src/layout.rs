//! Where everything lives under `data_dir`.
//!
//! ```text
//! data_dir/
//! ├─ tenants/<domain>/
//! │  ├─ prompts/<name>                       tenant prompts (converted by the caller)
//! │  ├─ moh/<class>/<name>                   music on hold
//! │  ├─ greetings/<ext>/<name>               users' recorded greetings
//! │  ├─ voicemail/<ext>/next_id              next message id (decimal; never reused)
//! │  ├─ voicemail/<ext>/INBOX/msgNNNN/       one directory per message, published by
//! │  │                      msgNNNN.wav      one rename so it appears whole or not at all
//! │  │                      msgNNNN.json
//! │  ├─ voicemail/<ext>/Old/msgNNNN/         listened-to messages (moved by one rename)
//! │  └─ recordings/YYYY/MM/DD/HHMMSS-<call-id>.wav        (UTC date of the call start)
//! │                           HHMMSS-<call-id>.wav.part   while the call is recorded
//! └─ spool/mail/<queued-ms>-<pid>-<n>-msgNNNN.json   voicemail e-mails to send (JSON:
//!    │                                               domain, ext, msg id, recipient, …)
//!    └─ failed/…                                     given up after max age (kept)
//! ```
//! Hidden `.tmp-*` / `.trash-*` entries are the vault's own half-done writes and deletes;
//! [`crate::Vault::open`] removes them.

use std::path::{Path, PathBuf};

use crate::error::{NameKind, VaultError};
use crate::name::check;

/// A voicemail folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Folder {
    /// New (unheard) messages: `INBOX`.
    Inbox,
    /// Saved (heard) messages: `Old`.
    Old,
}

impl Folder {
    /// Both folders, INBOX first.
    pub const ALL: [Folder; 2] = [Folder::Inbox, Folder::Old];

    /// The directory name (`INBOX`, `Old`, as Asterisk names them).
    pub fn dir_name(self) -> &'static str {
        match self {
            Folder::Inbox => "INBOX",
            Folder::Old => "Old",
        }
    }
}

/// Path builder for the data directory. Every method that takes a name validates it
/// (see [`crate::Vault`] for the rules), so a returned path is always inside `data_dir`.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of `data_dir` (nothing is created).
    pub fn new(data_dir: impl Into<PathBuf>) -> Layout {
        Layout {
            root: data_dir.into(),
        }
    }

    /// `data_dir`.
    pub fn data_dir(&self) -> &Path {
        &self.root
    }

    /// `data_dir/tenants`.
    pub fn tenants_dir(&self) -> PathBuf {
        self.root.join("tenants")
    }

    /// `data_dir/tenants/<domain>`.
    pub fn tenant_dir(&self, domain: &str) -> Result<PathBuf, VaultError> {
        check(NameKind::Domain, domain)?;
        Ok(self.tenants_dir().join(domain))
    }

    /// `…/<domain>/prompts`.
    pub fn prompts_dir(&self, domain: &str) -> Result<PathBuf, VaultError> {
        Ok(self.tenant_dir(domain)?.join("prompts"))
    }

    /// `…/<domain>/moh/<class>`.
    pub fn moh_dir(&self, domain: &str, class: &str) -> Result<PathBuf, VaultError> {
        check(NameKind::MohClass, class)?;
        Ok(self.tenant_dir(domain)?.join("moh").join(class))
    }

    /// `…/<domain>/greetings/<ext>`.
    pub fn greetings_dir(&self, domain: &str, ext: &str) -> Result<PathBuf, VaultError> {
        check(NameKind::Ext, ext)?;
        Ok(self.tenant_dir(domain)?.join("greetings").join(ext))
    }

    /// `…/<domain>/voicemail`.
    pub fn voicemail_root(&self, domain: &str) -> Result<PathBuf, VaultError> {
        Ok(self.tenant_dir(domain)?.join("voicemail"))
    }

    /// `…/<domain>/voicemail/<ext>`.
    pub fn mailbox_dir(&self, domain: &str, ext: &str) -> Result<PathBuf, VaultError> {
        check(NameKind::Ext, ext)?;
        Ok(self.voicemail_root(domain)?.join(ext))
    }

    /// `…/<domain>/voicemail/<ext>/<INBOX|Old>`.
    pub fn folder_dir(
        &self,
        domain: &str,
        ext: &str,
        folder: Folder,
    ) -> Result<PathBuf, VaultError> {
        Ok(self.mailbox_dir(domain, ext)?.join(folder.dir_name()))
    }

    /// `…/<domain>/recordings`.
    pub fn recordings_root(&self, domain: &str) -> Result<PathBuf, VaultError> {
        Ok(self.tenant_dir(domain)?.join("recordings"))
    }

    /// `…/<domain>/recordings/YYYY/MM/DD`.
    pub fn recordings_day_dir(
        &self,
        domain: &str,
        year: i64,
        month: u32,
        day: u32,
    ) -> Result<PathBuf, VaultError> {
        Ok(self
            .recordings_root(domain)?
            .join(format!("{year:04}"))
            .join(format!("{month:02}"))
            .join(format!("{day:02}")))
    }

    /// `data_dir/spool/mail`.
    pub fn mail_spool_dir(&self) -> PathBuf {
        self.root.join("spool").join("mail")
    }
}

/// `msg0001` (at least four digits, like Asterisk).
pub(crate) fn message_name(id: u32) -> String {
    format!("msg{id:04}")
}

/// The id of a `msgNNNN` name.
pub(crate) fn parse_message_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("msg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_follow_the_documented_layout() {
        let l = Layout::new("/d");
        assert_eq!(
            l.folder_dir("office.example", "2001", Folder::Old).unwrap(),
            Path::new("/d/tenants/office.example/voicemail/2001/Old")
        );
        assert_eq!(
            l.recordings_day_dir("office.example", 2026, 1, 5).unwrap(),
            Path::new("/d/tenants/office.example/recordings/2026/01/05")
        );
        assert_eq!(
            l.moh_dir("office.example", "default").unwrap(),
            Path::new("/d/tenants/office.example/moh/default")
        );
    }

    #[test]
    fn traversal_through_any_name_is_refused() {
        let l = Layout::new("/d");
        assert!(l.tenant_dir("..").is_err());
        assert!(l.tenant_dir("../../etc").is_err());
        assert!(l.mailbox_dir("office.example", "../other").is_err());
        assert!(l.greetings_dir("office.example", "..").is_err());
        assert!(l.moh_dir("office.example", ".hidden").is_err());
        assert!(l.prompts_dir("a\0b").is_err());
    }

    #[test]
    fn message_names_round_trip_and_reject_other_entries() {
        assert_eq!(message_name(1), "msg0001");
        assert_eq!(message_name(12345), "msg12345");
        assert_eq!(parse_message_name("msg0042"), Some(42));
        assert_eq!(parse_message_name("msg12345"), Some(12345));
        assert_eq!(parse_message_name("msg"), None);
        assert_eq!(parse_message_name("msg00x1"), None);
        assert_eq!(parse_message_name("next_id"), None);
    }
}
