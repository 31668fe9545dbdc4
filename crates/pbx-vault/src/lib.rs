//! `pbx-vault`: the media features' files under `data_dir`.
//!
//! - [`Vault`]: the data directory, per-tenant usage ([`Vault::usage`], maintained on every
//!   write and recomputed by a walk at [`Vault::open`]), quotas ([`Vault::check_quota`]),
//!   retention ([`Vault::purge`]), tenant files (prompts, music on hold, greetings).
//! - [`Mailbox`]: voicemail boxes with INBOX/Old, stable increasing message ids, counts for MWI.
//! - [`RecordingFile`]: call recordings written as `.part` and published by one rename.
//! - [`Outbox`]: the durable voicemail-to-e-mail spool and its SMTP delivery task.
//!
//! **Nothing stored is lost or half-written.** Every file is written to a hidden temporary
//! in the same directory, fsynced, renamed into place, and the directory fsynced; a
//! voicemail message is a directory published by one rename; deletes rename away first. A
//! crash leaves the old state or the new one, and [`Vault::open`] sweeps the leftovers. A
//! full disk (ENOSPC/EDQUOT) is [`VaultError::DiskFull`] and a full tenant quota
//! [`VaultError::QuotaFull`] ([`VaultError::is_storage_full`] for both): the write is
//! refused and nothing already stored changes.
//!
//! The on-disk layout is documented in [`layout`]. The vault is the only writer of its
//! tree in one process; two processes (server and CLI) writing the same mailbox at once
//! are not coordinated.
//!
//! Everything but the outbox task is blocking file I/O: async callers wrap calls in
//! `tokio::task::spawn_blocking`. Times are passed in (`SystemTime`), never read, except
//! by the outbox task, which is the tokio shell of the spool.

mod error;
mod fsio;
pub mod layout;
mod mailbox;
mod name;
mod outbox;
mod recording;
mod retention;
mod time;
mod vault;

pub use error::{NameKind, QuotaFull, VaultError};
pub use layout::{Folder, Layout};
pub use mailbox::{AudioFormat, Mailbox, MessageCounts, MessageMeta, NewMessage, StoredMessage};
pub use outbox::{
    DeliveryConfig, MailConfigError, MailJob, Outbox, OutboxEvent, PendingMail, SmtpMailer, subject,
};
pub use recording::{RecordingFile, RecordingOptions};
pub use retention::PurgeReport;
pub use vault::{TenantFile, Vault};
