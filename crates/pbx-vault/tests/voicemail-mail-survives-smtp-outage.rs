//! Voicemail to e-mail against a real SMTP server (aiosmtpd, started on a free loopback
//! port): the mail carries the WAV; with the server stopped the mail waits and retries,
//! survives a restart of the outbox, and is delivered (and the message deleted with
//! `delete_after_email`) once the server is back.
#![allow(clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use pbx_vault::{
    AudioFormat, DeliveryConfig, Folder, MessageCounts, NewMessage, Outbox, OutboxEvent,
    PendingMail, SmtpMailer, Vault, VaultError,
};
use tokio::sync::mpsc;

/// aiosmtpd writing every received mail into a Maildir.
struct SmtpServer {
    child: Child,
}

impl SmtpServer {
    fn start(port: u16, maildir: &Path) -> SmtpServer {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status();
        match probe {
            Ok(s) if s.success() => {}
            _ => panic!(
                "this test needs python3 with aiosmtpd (a real SMTP server): \
                 `pip install aiosmtpd` or `apt-get install python3-aiosmtpd` (.ci/run installs it)"
            ),
        }
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3 -m aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on 127.0.0.1:{port} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { child }
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real 8 kHz 16-bit mono WAV of `samples` samples of a 440 Hz tone.
fn wav(samples: u32) -> Vec<u8> {
    let data_len = samples * 2;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..samples {
        let v = (f64::from(n) * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin() * 8000.0;
        #[allow(clippy::cast_possible_truncation)]
        w.extend_from_slice(&(v as i16).to_le_bytes());
    }
    w
}

/// A received mail, parsed by Python's `email` package (an independent MIME parser).
#[derive(Debug, serde::Deserialize)]
struct Received {
    subject: String,
    to: String,
    from: String,
    body: String,
    attachments: Vec<Part>,
}

#[derive(Debug, serde::Deserialize)]
struct Part {
    filename: String,
    content_type: String,
    b64: String,
}

const PARSE_MAIL: &str = r#"
import base64, email, email.policy, json, sys
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
print(json.dumps({
    "subject": str(msg["subject"]), "to": str(msg["to"]), "from": str(msg["from"]),
    "body": msg.get_body(("plain",)).get_content(),
    "attachments": [{"filename": p.get_filename(), "content_type": p.get_content_type(),
                     "b64": base64.b64encode(p.get_payload(decode=True)).decode()}
                    for p in msg.iter_attachments()],
}))
"#;

fn received_mails(maildir: &Path) -> Vec<Received> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap());
    files
        .iter()
        .map(|f| {
            let out = Command::new("python3")
                .args(["-c", PARSE_MAIL])
                .arg(f)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect()
}

fn attachment_bytes(part: &Part) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(&part.b64)
        .unwrap()
}

async fn next_event(rx: &mut mpsc::Receiver<OutboxEvent>) -> OutboxEvent {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("an outbox event within 30 s")
        .expect("the outbox task is running")
}

fn fast_retries() -> DeliveryConfig {
    DeliveryConfig {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        max_age: Duration::from_secs(7 * 86_400),
    }
}

fn leave_message(vault: &Vault, audio: &[u8], number: &str, name: &str) -> u32 {
    vault
        .mailbox("office.example", "2001")
        .unwrap()
        .store(NewMessage {
            caller_number: number.into(),
            caller_name: Some(name.into()),
            received: SystemTime::now(),
            duration_ms: u64::try_from((audio.len() - 44) / 16).unwrap(),
            format: AudioFormat::Wav,
            audio,
        })
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voicemail_is_mailed_and_a_mail_server_outage_only_delays_it() {
    let data = tempfile::tempdir().unwrap();
    let mail = tempfile::tempdir().unwrap();
    let maildir = mail.path().join("maildir");
    let port = free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let mailer = || SmtpMailer::new(&url, "pbx@office.example", Duration::from_secs(5)).unwrap();

    let vault = Vault::open(data.path()).unwrap();
    let first_audio = wav(8000 * 23); // 0:23
    let first = leave_message(&vault, &first_audio, "1101", "Sales 1");

    // 1. Server up: the mail arrives with the WAV attached; the message stays.
    let server = SmtpServer::start(port, &maildir);
    let outbox = Outbox::new(&vault);
    let (tx, mut rx) = mpsc::channel(64);
    let task = outbox.spawn(mailer(), fast_retries(), tx);
    outbox
        .enqueue(
            PendingMail {
                domain: "office.example".into(),
                ext: "2001".into(),
                msg_id: first,
                to: "dir@office.example".into(),
                delete_after_email: false,
            },
            SystemTime::now(),
        )
        .unwrap();
    assert_eq!(
        next_event(&mut rx).await,
        OutboxEvent::Delivered {
            domain: "office.example".into(),
            ext: "2001".into(),
            msg_id: first,
            mwi: None,
        }
    );
    let mails = received_mails(&maildir);
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert_eq!(
        m.subject,
        "New voicemail from Sales 1 (1101) for 2001 (0:23)"
    );
    assert_eq!(m.to, "dir@office.example");
    assert_eq!(m.from, "pbx@office.example");
    assert!(m.body.contains("mailbox 2001@office.example"), "{}", m.body);
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename, "msg0001.wav");
    assert_eq!(m.attachments[0].content_type, "audio/wav");
    assert_eq!(attachment_bytes(&m.attachments[0]), first_audio);
    let mbox = vault.mailbox("office.example", "2001").unwrap();
    assert_eq!(mbox.counts().unwrap(), MessageCounts { new: 1, old: 0 });
    assert!(outbox.pending().unwrap().is_empty());

    // 2. Server down: the mail waits, retried with backoff, the message untouched.
    server.stop();
    let second_audio = wav(8000 * 5);
    let second = leave_message(&vault, &second_audio, "+74951234567", "");
    outbox
        .enqueue(
            PendingMail {
                domain: "office.example".into(),
                ext: "2001".into(),
                msg_id: second,
                to: "dir@office.example".into(),
                delete_after_email: true,
            },
            SystemTime::now(),
        )
        .unwrap();
    for expected_attempt in 1..=3 {
        match next_event(&mut rx).await {
            OutboxEvent::Deferred {
                msg_id,
                attempts,
                retry_in,
                ..
            } => {
                assert_eq!(msg_id, second);
                assert_eq!(attempts, expected_attempt);
                assert_eq!(retry_in, fast_retries().backoff(attempts));
            }
            other => panic!("expected a deferral, got {other:?}"),
        }
    }
    let pending = outbox.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].attempts >= 3);
    assert!(pending[0].last_error.is_some());
    assert_eq!(mbox.read_audio(second).unwrap(), second_audio);

    // 3. vpbx restarts while the server is still down: the spool is still there.
    task.abort();
    let _ = task.await;
    drop((outbox, vault, mbox));
    let vault = Vault::open(data.path()).unwrap();
    let outbox = Outbox::new(&vault);
    assert_eq!(outbox.pending().unwrap().len(), 1);

    // 4. The server comes back: delivered, and deleted after e-mail (MWI changes).
    let _server = SmtpServer::start(port, &maildir);
    let (tx, mut rx) = mpsc::channel(64);
    let task = outbox.spawn(mailer(), fast_retries(), tx);
    let delivered = loop {
        match next_event(&mut rx).await {
            OutboxEvent::Deferred { .. } => continue, // a retry racing the server's start
            e => break e,
        }
    };
    assert_eq!(
        delivered,
        OutboxEvent::Delivered {
            domain: "office.example".into(),
            ext: "2001".into(),
            msg_id: second,
            mwi: Some(MessageCounts { new: 1, old: 0 }),
        }
    );
    let mbox = vault.mailbox("office.example", "2001").unwrap();
    assert!(matches!(
        mbox.find(second),
        Err(VaultError::NoSuchMessage { .. })
    ));
    assert!(
        !vault
            .layout()
            .folder_dir("office.example", "2001", Folder::Inbox)
            .unwrap()
            .join("msg0002")
            .exists()
    );
    assert!(outbox.pending().unwrap().is_empty());
    let mails = received_mails(&maildir);
    assert_eq!(mails.len(), 2);
    let m = &mails[1];
    assert_eq!(m.subject, "New voicemail from +74951234567 for 2001 (0:05)");
    assert_eq!(m.attachments[0].filename, "msg0002.wav");
    assert_eq!(attachment_bytes(&m.attachments[0]), second_audio);
    // The first message is untouched by all this.
    assert_eq!(mbox.read_audio(first).unwrap(), first_audio);
    task.abort();
}
