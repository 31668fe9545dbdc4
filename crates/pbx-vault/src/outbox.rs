//! Voicemail to e-mail: a durable spool of pending mails and the task that delivers them.
//!
//! A pending mail is a JSON file in `data_dir/spool/mail/`, written atomically before
//! [`Outbox::enqueue`] returns, so it survives a restart. The delivery task
//! ([`Outbox::spawn`]) sends each due mail through SMTP with the message's audio attached;
//! on failure it records the attempt and retries with exponential backoff
//! ([`DeliveryConfig`]: 10 s, 20 s, 40 s … capped at 10 min). The message file is never
//! touched until the mail was accepted by the server; a mail that still fails after
//! `max_age` (default 7 days) moves to `spool/mail/failed/` with an error log line, and
//! its voicemail message is kept ([`Outbox::retry_failed`] puts it back).
//!
//! Delivery is at least once: a crash between the server's acceptance and the removal of
//! the spool file sends the mail again at the next start.
//!
//! ## `[smtp] url`
//! Parsed by lettre's `AsyncSmtpTransport::from_url`:
//! - `smtp://host[:port]` — plain SMTP, **no TLS at all** (not even STARTTLS); default
//!   port 25. For a relay on localhost or a trusted LAN.
//! - `smtp://host[:port]?tls=required` — STARTTLS, which must succeed; default port 587.
//! - `smtp://host[:port]?tls=opportunistic` — STARTTLS when offered; default port 587.
//! - `smtps://host[:port]` — TLS from the first byte (implicit TLS); default port 465.
//! - `user:pass@` before the host adds AUTH (PLAIN/LOGIN; percent-encode `@`, `:` and `/`
//!   in them). With plain `smtp://` the password crosses the network unencrypted.
//! - A path, `smtp://host/pbx.example.com`, sets the EHLO name (default `[127.0.0.1]`).
//!
//! TLS uses rustls with ring and the system's root certificates (Debian `ca-certificates`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use crate::error::{NameKind, VaultError};
use crate::fsio;
use crate::mailbox::{MessageCounts, MessageMeta};
use crate::name::check;
use crate::time::{unix_ms, utc};
use crate::vault::Vault;

/// A voicemail message to mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMail {
    /// Tenant.
    pub domain: String,
    /// Mailbox extension.
    pub ext: String,
    /// The message ([`MessageMeta::id`]).
    pub msg_id: u32,
    /// Recipient address (the user's `email`).
    pub to: String,
    /// Delete the message once the mail was accepted.
    pub delete_after_email: bool,
}

/// A spooled mail as stored (`spool/mail/<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailJob {
    /// The spool file's stem (not stored in the file).
    #[serde(skip)]
    pub spool_id: String,
    /// Tenant.
    pub domain: String,
    /// Mailbox extension.
    pub ext: String,
    /// Message id.
    pub msg_id: u32,
    /// Recipient.
    pub to: String,
    /// Delete the message after sending.
    pub delete_after_email: bool,
    /// When it was queued, Unix ms.
    pub queued_ms: u64,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time, Unix ms.
    pub next_attempt_ms: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Retry timing of the delivery task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Wait after the first failure; doubled after each further one. Default 10 s.
    pub initial_backoff: Duration,
    /// The longest wait between attempts. Default 10 min.
    pub max_backoff: Duration,
    /// Give up (keep the message, move the mail to `failed/`, log) when a mail is still
    /// undelivered this long after it was queued. Default 7 days.
    pub max_age: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
            max_age: Duration::from_secs(7 * 86_400),
        }
    }
}

impl DeliveryConfig {
    /// The wait after `attempts` failed attempts (1 → `initial_backoff`).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let shift = attempts.saturating_sub(1).min(30);
        self.initial_backoff
            .saturating_mul(1u32 << shift)
            .min(self.max_backoff)
    }
}

/// What the delivery task reports (the server sends MWI NOTIFY on `mwi`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboxEvent {
    /// The SMTP server accepted the mail.
    Delivered {
        /// Tenant.
        domain: String,
        /// Mailbox.
        ext: String,
        /// Message id.
        msg_id: u32,
        /// The mailbox's new counts when the message was deleted (`delete_after_email`):
        /// the MWI state changed.
        mwi: Option<MessageCounts>,
    },
    /// An attempt failed; it is retried after `retry_in`.
    Deferred {
        /// Tenant.
        domain: String,
        /// Mailbox.
        ext: String,
        /// Message id.
        msg_id: u32,
        /// Failed attempts so far.
        attempts: u32,
        /// Wait before the next attempt.
        retry_in: Duration,
        /// Why it failed.
        error: String,
    },
    /// Given up (max age, or an address that can never work); the message is kept.
    GaveUp {
        /// Tenant.
        domain: String,
        /// Mailbox.
        ext: String,
        /// Message id.
        msg_id: u32,
        /// Why.
        error: String,
    },
    /// The message no longer exists (deleted by phone or by retention); nothing to send.
    MessageGone {
        /// Tenant.
        domain: String,
        /// Mailbox.
        ext: String,
        /// Message id.
        msg_id: u32,
    },
}

/// A bad `[smtp]` setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailConfigError {
    /// The URL does not parse or names an unknown scheme/tls mode.
    #[error("[smtp] url \"{url}\": {reason}")]
    BadUrl {
        /// The URL with its password hidden.
        url: String,
        /// lettre's reason.
        reason: String,
    },
    /// `from` is not an address.
    #[error("[smtp] from \"{from}\" is not an e-mail address: {reason}")]
    BadFrom {
        /// As given.
        from: String,
        /// Why.
        reason: String,
    },
}

/// The SMTP connection settings: where and as whom voicemail mails are sent.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    url: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("url", &self.url)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// From `[smtp] url` and `from` (see the module doc for the URL forms); `timeout`
    /// bounds each SMTP command (lettre's default is 60 s).
    pub fn new(url: &str, from: &str, timeout: Duration) -> Result<SmtpMailer, MailConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailConfigError::BadUrl {
                url: redact_url(url),
                reason: e.to_string(),
            })?
            .timeout(Some(timeout))
            .build();
        let from =
            from.parse().map_err(
                |e: lettre::address::AddressError| MailConfigError::BadFrom {
                    from: from.to_owned(),
                    reason: e.to_string(),
                },
            )?;
        Ok(SmtpMailer {
            transport,
            from,
            url: redact_url(url),
        })
    }
}

/// The voicemail e-mail spool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    vault: Vault,
    dir: PathBuf,
    wake: Arc<Notify>,
}

impl Outbox {
    /// The spool of `vault` (`data_dir/spool/mail`, created by [`Vault::open`]).
    pub fn new(vault: &Vault) -> Outbox {
        Outbox {
            vault: vault.clone(),
            dir: vault.layout().mail_spool_dir(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Queues a mail durably (blocking I/O: the spool file is fsynced before this returns)
    /// and wakes the delivery task. Returns the spool id.
    pub fn enqueue(&self, mail: PendingMail, now: SystemTime) -> Result<String, VaultError> {
        check(NameKind::Domain, &mail.domain)?;
        check(NameKind::Ext, &mail.ext)?;
        let now_ms = unix_ms(now);
        let stem = fsio::tmp_name(&format!("{now_ms:013}-"), &format!("msg{:04}", mail.msg_id));
        let job = MailJob {
            spool_id: stem.clone(),
            domain: mail.domain,
            ext: mail.ext,
            msg_id: mail.msg_id,
            to: mail.to,
            delete_after_email: mail.delete_after_email,
            queued_ms: now_ms,
            attempts: 0,
            next_attempt_ms: now_ms,
            last_error: None,
        };
        write_job(&self.dir, &job)?;
        self.wake.notify_one();
        Ok(stem)
    }

    /// The mails waiting to be sent, oldest first.
    pub fn pending(&self) -> Result<Vec<MailJob>, VaultError> {
        read_jobs(&self.dir)
    }

    /// The mails given up on, oldest first.
    pub fn failed(&self) -> Result<Vec<MailJob>, VaultError> {
        read_jobs(&self.failed_dir())
    }

    /// Puts every failed mail back in the queue with a fresh age; returns how many.
    pub fn retry_failed(&self, now: SystemTime) -> Result<usize, VaultError> {
        let failed = self.failed()?;
        let now_ms = unix_ms(now);
        for job in &failed {
            let fresh = MailJob {
                queued_ms: now_ms,
                attempts: 0,
                next_attempt_ms: now_ms,
                ..job.clone()
            };
            write_job(&self.dir, &fresh)?;
            fsio::remove_file(&job_path(&self.failed_dir(), &job.spool_id))?;
        }
        if !failed.is_empty() {
            self.wake.notify_one();
        }
        Ok(failed.len())
    }

    /// Starts the delivery task on the current tokio runtime. It runs until aborted
    /// (aborting mid-send may send that mail again at the next start). Events go to
    /// `events`; the task waits when the channel is full, so drain it.
    pub fn spawn(
        &self,
        mailer: SmtpMailer,
        cfg: DeliveryConfig,
        events: mpsc::Sender<OutboxEvent>,
    ) -> JoinHandle<()> {
        let outbox = self.clone();
        tokio::spawn(async move { outbox.run(mailer, cfg, events).await })
    }

    fn failed_dir(&self) -> PathBuf {
        self.dir.join("failed")
    }

    async fn run(self, mailer: SmtpMailer, cfg: DeliveryConfig, events: mpsc::Sender<OutboxEvent>) {
        tracing::info!(smtp = %mailer.url, "voicemail mail delivery started");
        loop {
            let this = self.clone();
            let jobs = match tokio::task::spawn_blocking(move || this.pending()).await {
                Ok(Ok(jobs)) => jobs,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read the mail spool");
                    Vec::new()
                }
                Err(e) => {
                    tracing::error!(error = %e, "mail spool reader failed");
                    Vec::new()
                }
            };
            let now_ms = unix_ms(SystemTime::now());
            let (due, later): (Vec<MailJob>, Vec<MailJob>) =
                jobs.into_iter().partition(|j| j.next_attempt_ms <= now_ms);
            let mut wait = Duration::from_secs(60);
            for job in due {
                if let Some(retry) = self.attempt(&mailer, &cfg, &events, job).await {
                    wait = wait.min(retry);
                }
            }
            let now_ms = unix_ms(SystemTime::now());
            for job in &later {
                wait = wait.min(Duration::from_millis(
                    job.next_attempt_ms.saturating_sub(now_ms),
                ));
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// One delivery attempt; returns the wait before the next when it was deferred.
    async fn attempt(
        &self,
        mailer: &SmtpMailer,
        cfg: &DeliveryConfig,
        events: &mpsc::Sender<OutboxEvent>,
        mut job: MailJob,
    ) -> Option<Duration> {
        let vault = self.vault.clone();
        let (domain, ext, id) = (job.domain.clone(), job.ext.clone(), job.msg_id);
        let loaded = tokio::task::spawn_blocking(move || {
            let mbox = vault.mailbox(&domain, &ext)?;
            let found = mbox.find(id)?;
            let audio = mbox.read_audio(id)?;
            Ok::<_, VaultError>((found.meta, audio))
        })
        .await;
        let (meta, audio) = match loaded {
            Ok(Ok(x)) => x,
            Ok(Err(VaultError::NoSuchMessage { .. })) => {
                tracing::warn!(domain = %job.domain, ext = %job.ext, msg = job.msg_id, "voicemail was deleted before it was mailed; dropping the mail");
                self.blocking_remove(&job).await;
                send_event(
                    events,
                    OutboxEvent::MessageGone {
                        domain: job.domain,
                        ext: job.ext,
                        msg_id: job.msg_id,
                    },
                )
                .await;
                return None;
            }
            Ok(Err(e)) => return self.defer(cfg, events, job, e.to_string()).await,
            Err(e) => return self.defer(cfg, events, job, e.to_string()).await,
        };
        let email = match compose(&mailer.from, &job, &meta, audio) {
            Ok(m) => m,
            Err(reason) => {
                job.last_error = Some(reason.clone());
                self.give_up(events, job, reason).await;
                return None;
            }
        };
        match mailer.transport.send(email).await {
            Ok(_) => {
                tracing::info!(domain = %job.domain, ext = %job.ext, msg = job.msg_id, attempts = job.attempts + 1, "voicemail mailed");
                let mwi = if job.delete_after_email {
                    let vault = self.vault.clone();
                    let (domain, ext, id) = (job.domain.clone(), job.ext.clone(), job.msg_id);
                    let deleted = tokio::task::spawn_blocking(move || {
                        let mbox = vault.mailbox(&domain, &ext)?;
                        mbox.delete(id)?;
                        mbox.counts()
                    })
                    .await;
                    match deleted {
                        Ok(Ok(counts)) => Some(counts),
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "cannot delete the mailed voicemail");
                            None
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "voicemail delete task failed");
                            None
                        }
                    }
                } else {
                    None
                };
                self.blocking_remove(&job).await;
                send_event(
                    events,
                    OutboxEvent::Delivered {
                        domain: job.domain,
                        ext: job.ext,
                        msg_id: job.msg_id,
                        mwi,
                    },
                )
                .await;
                None
            }
            Err(e) => self.defer(cfg, events, job, e.to_string()).await,
        }
    }

    async fn defer(
        &self,
        cfg: &DeliveryConfig,
        events: &mpsc::Sender<OutboxEvent>,
        mut job: MailJob,
        error: String,
    ) -> Option<Duration> {
        let now_ms = unix_ms(SystemTime::now());
        job.attempts = job.attempts.saturating_add(1);
        job.last_error = Some(error.clone());
        let age = Duration::from_millis(now_ms.saturating_sub(job.queued_ms));
        if age >= cfg.max_age {
            self.give_up(events, job, error).await;
            return None;
        }
        let retry_in = cfg.backoff(job.attempts);
        job.next_attempt_ms =
            now_ms.saturating_add(u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX));
        tracing::warn!(domain = %job.domain, ext = %job.ext, msg = job.msg_id, attempts = job.attempts, retry_in_s = retry_in.as_secs_f64(), error = %error, "voicemail mail deferred");
        let dir = self.dir.clone();
        let saved = job.clone();
        match tokio::task::spawn_blocking(move || write_job(&dir, &saved)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot record the failed attempt in the spool")
            }
            Err(e) => tracing::error!(error = %e, "spool writer failed"),
        }
        send_event(
            events,
            OutboxEvent::Deferred {
                domain: job.domain,
                ext: job.ext,
                msg_id: job.msg_id,
                attempts: job.attempts,
                retry_in,
                error,
            },
        )
        .await;
        Some(retry_in)
    }

    async fn give_up(&self, events: &mpsc::Sender<OutboxEvent>, job: MailJob, error: String) {
        tracing::error!(domain = %job.domain, ext = %job.ext, msg = job.msg_id, attempts = job.attempts, error = %error, "giving up mailing a voicemail; the message is kept and the mail moved to spool/mail/failed");
        let (dir, failed) = (self.dir.clone(), self.failed_dir());
        let saved = job.clone();
        let moved = tokio::task::spawn_blocking(move || {
            fsio::create_dir_all(&failed)?;
            write_job(&failed, &saved)?;
            fsio::remove_file(&job_path(&dir, &saved.spool_id)).map(|_| ())
        })
        .await;
        match moved {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot move the mail to spool/mail/failed"),
            Err(e) => tracing::error!(error = %e, "spool writer failed"),
        }
        send_event(
            events,
            OutboxEvent::GaveUp {
                domain: job.domain,
                ext: job.ext,
                msg_id: job.msg_id,
                error,
            },
        )
        .await;
    }

    async fn blocking_remove(&self, job: &MailJob) {
        let path = job_path(&self.dir, &job.spool_id);
        match tokio::task::spawn_blocking(move || fsio::remove_file(&path)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot remove a sent mail from the spool"),
            Err(e) => tracing::error!(error = %e, "spool writer failed"),
        }
    }
}

async fn send_event(events: &mpsc::Sender<OutboxEvent>, event: OutboxEvent) {
    // A closed channel means nobody listens (e.g. the server is shutting down).
    let _ = events.send(event).await;
}

fn job_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.json"))
}

fn write_job(dir: &Path, job: &MailJob) -> Result<(), VaultError> {
    let json = serde_json::to_vec_pretty(job).expect("MailJob serialises");
    fsio::atomic_write(&job_path(dir, &job.spool_id), &json)
}

fn read_jobs(dir: &Path) -> Result<Vec<MailJob>, VaultError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(VaultError::io("read directory", dir, e)),
    };
    let mut jobs = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if stem.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let parsed = fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<MailJob>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(mut job) => {
                job.spool_id = stem.to_owned();
                jobs.push(job);
            }
            // Kept on disk for an operator; never deleted.
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "unreadable mail spool file")
            }
        }
    }
    jobs.sort_by(|a, b| (a.queued_ms, &a.spool_id).cmp(&(b.queued_ms, &b.spool_id)));
    Ok(jobs)
}

/// The subject, like other PBXs: `New voicemail from Sales 1 (1101) for 2001 (0:23)`.
pub fn subject(meta: &MessageMeta) -> String {
    format!(
        "New voicemail from {} for {} ({})",
        caller_label(meta),
        meta.called_ext,
        duration_label(meta.duration_ms)
    )
}

fn caller_label(meta: &MessageMeta) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let number = clean(&meta.caller_number);
    let name = meta.caller_name.as_deref().map(clean).unwrap_or_default();
    match (name.is_empty(), number.is_empty()) {
        (false, false) if name != number => format!("{name} ({number})"),
        (_, false) => number,
        (false, true) => name,
        (true, true) => "an unknown caller".to_owned(),
    }
}

/// `0:23`, `12:05`, `1:02:03` (rounded to the second).
fn duration_label(ms: u64) -> String {
    let s = (ms + 500) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn body(job: &MailJob, meta: &MessageMeta) -> String {
    let mut b = format!(
        "You have a new voicemail message in mailbox {ext}@{domain}.\n\n\
         From:     {from}\n\
         Received: {when}\n\
         Length:   {len}\n\n\
         The recording is attached as {file}.\n",
        ext = meta.called_ext,
        domain = job.domain,
        from = caller_label(meta),
        when = utc(meta.received_ms).human(),
        len = duration_label(meta.duration_ms),
        file = meta.audio_file_name(),
    );
    if job.delete_after_email {
        b.push_str("It has been removed from the mailbox now that it was e-mailed.\n");
    } else {
        b.push_str("You can also listen to it by phone.\n");
    }
    b
}

/// The e-mail: a text part and the audio as `audio/wav` named `msgNNNN.wav`. Err for an
/// address that can never work (permanent).
fn compose(
    from: &lettre::message::Mailbox,
    job: &MailJob,
    meta: &MessageMeta,
    audio: Vec<u8>,
) -> Result<Message, String> {
    let to: lettre::message::Mailbox = job
        .to
        .parse()
        .map_err(|e| format!("recipient \"{}\" is not an e-mail address: {e}", job.to))?;
    let wav = ContentType::parse("audio/wav").expect("a valid MIME type literal");
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject(meta))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(body(job, meta)))
                .singlepart(Attachment::new(meta.audio_file_name()).body(audio, wav)),
        )
        .map_err(|e| format!("cannot build the e-mail: {e}"))
}

/// `scheme://user:pass@host` → `scheme://user:***@host`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mailbox::AudioFormat;

    fn meta(name: Option<&str>, number: &str, ms: u64) -> MessageMeta {
        MessageMeta {
            id: 7,
            caller_number: number.into(),
            caller_name: name.map(Into::into),
            called_ext: "2001".into(),
            received_ms: 0,
            received: String::new(),
            duration_ms: ms,
            format: AudioFormat::Wav,
            audio_bytes: 0,
        }
    }

    #[test]
    fn subjects_name_the_caller_the_box_and_the_length() {
        assert_eq!(
            subject(&meta(Some("Sales 1"), "1101", 23_400)),
            "New voicemail from Sales 1 (1101) for 2001 (0:23)"
        );
        assert_eq!(
            subject(&meta(None, "+74951234567", 61_500)),
            "New voicemail from +74951234567 for 2001 (1:02)"
        );
        assert_eq!(
            subject(&meta(Some("Evil\r\nBcc: x@y"), "", 3_723_000)),
            "New voicemail from EvilBcc: x@y for 2001 (1:02:03)"
        );
        assert_eq!(
            subject(&meta(None, "", 0)),
            "New voicemail from an unknown caller for 2001 (0:00)"
        );
    }

    #[test]
    fn backoff_doubles_from_the_initial_wait_up_to_the_cap() {
        let c = DeliveryConfig::default();
        let secs: Vec<u64> = (1..=9).map(|n| c.backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 320, 600, 600, 600]);
        assert_eq!(c.backoff(u32::MAX), Duration::from_secs(600));
    }

    #[test]
    fn smtp_urls_follow_lettre_and_bad_ones_hide_the_password() {
        let t = Duration::from_secs(5);
        assert!(SmtpMailer::new("smtp://127.0.0.1:2525", "pbx@example.com", t).is_ok());
        assert!(SmtpMailer::new("smtps://u:p@mail.example.com", "pbx@example.com", t).is_ok());
        assert!(
            SmtpMailer::new("smtp://mail.example.com?tls=required", "pbx@example.com", t).is_ok()
        );
        let e = SmtpMailer::new(
            "smtp://bob:hunter2@mail?tls=sometimes",
            "pbx@example.com",
            t,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bob:***@"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        assert!(SmtpMailer::new("smtp://mail", "not an address", t).is_err());
    }

    #[test]
    fn the_spool_survives_a_reopen_and_keeps_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::open(dir.path()).unwrap();
        let o = Outbox::new(&v);
        let mail = |id| PendingMail {
            domain: "a.example".into(),
            ext: "2001".into(),
            msg_id: id,
            to: "dir@a.example".into(),
            delete_after_email: true,
        };
        o.enqueue(mail(2), std::time::UNIX_EPOCH + Duration::from_millis(2000))
            .unwrap();
        o.enqueue(mail(1), std::time::UNIX_EPOCH + Duration::from_millis(1000))
            .unwrap();
        assert!(
            o.enqueue(
                PendingMail {
                    ext: "../x".into(),
                    ..mail(3)
                },
                SystemTime::now()
            )
            .is_err()
        );
        let o = Outbox::new(&Vault::open(dir.path()).unwrap());
        let ids: Vec<u32> = o.pending().unwrap().iter().map(|j| j.msg_id).collect();
        assert_eq!(ids, [1, 2]);
        assert!(o.failed().unwrap().is_empty());
    }
}
