//! Mails that cannot be delivered: past the max age they are set aside (the voicemail is
//! kept), a bad recipient is given up at once, and a message deleted before it was mailed
//! is dropped from the spool. No SMTP server listens on the port used here.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::time::{Duration, SystemTime};

use pbx_vault::{
    AudioFormat, DeliveryConfig, NewMessage, Outbox, OutboxEvent, PendingMail, SmtpMailer, Vault,
};
use tokio::sync::mpsc;

fn closed_port_mailer() -> SmtpMailer {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    SmtpMailer::new(
        &format!("smtp://127.0.0.1:{port}"),
        "pbx@office.example",
        Duration::from_secs(2),
    )
    .unwrap()
}

fn store(vault: &Vault) -> u32 {
    vault
        .mailbox("office.example", "2001")
        .unwrap()
        .store(NewMessage {
            caller_number: "1101".into(),
            caller_name: None,
            received: SystemTime::now(),
            duration_ms: 1000,
            format: AudioFormat::Wav49,
            audio: b"RIFF-not-really",
        })
        .unwrap()
        .id
}

fn mail(msg_id: u32, to: &str) -> PendingMail {
    PendingMail {
        domain: "office.example".into(),
        ext: "2001".into(),
        msg_id,
        to: to.into(),
        delete_after_email: true,
    }
}

async fn next_event(rx: &mut mpsc::Receiver<OutboxEvent>) -> OutboxEvent {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("an outbox event within 20 s")
        .expect("the outbox task is running")
}

#[tokio::test]
async fn a_mail_still_undelivered_at_max_age_is_set_aside_and_the_message_kept() {
    let data = tempfile::tempdir().unwrap();
    let vault = Vault::open(data.path()).unwrap();
    let id = store(&vault);
    let outbox = Outbox::new(&vault);
    outbox
        .enqueue(mail(id, "dir@office.example"), SystemTime::now())
        .unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let cfg = DeliveryConfig {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(100),
        max_age: Duration::from_millis(400),
    };
    let task = outbox.spawn(closed_port_mailer(), cfg, tx);
    let mut deferrals = 0;
    let gave_up = loop {
        match next_event(&mut rx).await {
            OutboxEvent::Deferred { .. } => deferrals += 1,
            e => break e,
        }
    };
    task.abort();
    assert!(deferrals >= 2, "retried before giving up ({deferrals})");
    assert!(
        matches!(gave_up, OutboxEvent::GaveUp { msg_id, .. } if msg_id == id),
        "{gave_up:?}"
    );
    assert!(outbox.pending().unwrap().is_empty());
    let failed = outbox.failed().unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].last_error.is_some());
    let mbox = vault.mailbox("office.example", "2001").unwrap();
    assert_eq!(mbox.read_audio(id).unwrap(), b"RIFF-not-really");

    // An operator puts it back in the queue.
    assert_eq!(outbox.retry_failed(SystemTime::now()).unwrap(), 1);
    assert!(outbox.failed().unwrap().is_empty());
    let pending = outbox.pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 0);
}

#[tokio::test]
async fn a_recipient_that_is_not_an_address_is_given_up_at_once() {
    let data = tempfile::tempdir().unwrap();
    let vault = Vault::open(data.path()).unwrap();
    let id = store(&vault);
    let outbox = Outbox::new(&vault);
    outbox
        .enqueue(mail(id, "not an address"), SystemTime::now())
        .unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let task = outbox.spawn(closed_port_mailer(), DeliveryConfig::default(), tx);
    let e = next_event(&mut rx).await;
    task.abort();
    assert!(
        matches!(&e, OutboxEvent::GaveUp { error, .. } if error.contains("not an e-mail address")),
        "{e:?}"
    );
    assert_eq!(outbox.failed().unwrap().len(), 1);
    assert!(
        vault
            .mailbox("office.example", "2001")
            .unwrap()
            .find(id)
            .is_ok()
    );
}

#[tokio::test]
async fn a_message_deleted_before_it_was_mailed_leaves_the_spool() {
    let data = tempfile::tempdir().unwrap();
    let vault = Vault::open(data.path()).unwrap();
    let id = store(&vault);
    let outbox = Outbox::new(&vault);
    outbox
        .enqueue(mail(id, "dir@office.example"), SystemTime::now())
        .unwrap();
    vault
        .mailbox("office.example", "2001")
        .unwrap()
        .delete(id)
        .unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let task = outbox.spawn(closed_port_mailer(), DeliveryConfig::default(), tx);
    let e = next_event(&mut rx).await;
    task.abort();
    assert!(
        matches!(e, OutboxEvent::MessageGone { msg_id, .. } if msg_id == id),
        "{e:?}"
    );
    assert!(outbox.pending().unwrap().is_empty());
    assert!(outbox.failed().unwrap().is_empty());
}
