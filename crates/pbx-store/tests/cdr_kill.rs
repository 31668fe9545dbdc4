//! A call record committed by `insert_cdr` survives the process being killed with SIGKILL
//! right after (SQLite in WAL mode with `synchronous = NORMAL`, the store's settings).
//!
//! The test runs a copy of this test binary as a child (`child_writes_one_record_and_waits`,
//! ignored on its own), which writes one record, says so on stdout and then idles with the
//! pool open; the parent kills it with SIGKILL and reopens the database.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use pbx_store::{Cdr, Disposition, HangupBy, Store, TenantId};

const CHILD_ENV: &str = "VPBX_CDR_KILL_CHILD_URL";

fn record(tenant: TenantId) -> Cdr {
    Cdr {
        id: 0,
        tenant_id: tenant,
        call_id: "killed@host".into(),
        leg_call_ids: vec!["leg@host".into()],
        caller: "1001".into(),
        caller_name: None,
        dialed: "1002".into(),
        destination: Some("user:1002".into()),
        start_ms: 1_000,
        answer_ms: Some(2_000),
        end_ms: 9_000,
        duration_s: 8,
        billsec_s: 7,
        disposition: Disposition::Answered,
        hangup_by: HangupBy::Callee,
        sip_cause: None,
        hangup_reason: "normal".into(),
        transfers: Vec::new(),
        node: "n1".into(),
        recording: None,
        trunk: None,
    }
}

#[tokio::test]
#[ignore = "a helper process for a_committed_call_record_survives_kill_9"]
async fn child_writes_one_record_and_waits() {
    let url = std::env::var(CHILD_ENV).expect("run by a_committed_call_record_survives_kill_9");
    let store = Store::open(&url).await.unwrap();
    let t = store.create_tenant("a.example").await.unwrap();
    let id = store.insert_cdr(&record(t)).await.unwrap();
    println!("committed {id}");
    tokio::time::sleep(std::time::Duration::from_secs(120)).await;
    panic!("the parent should have killed this process");
}

#[tokio::test]
async fn a_committed_call_record_survives_kill_9() {
    let dir = common::TempDir::new();
    let url = format!("sqlite://{}/vpbx.db", dir.0.display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writes_one_record_and_waits",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // libtest may print "test NAME ... " on the same line before the child's own output.
    let line = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.split_once("committed ").map(|(_, id)| id.to_owned()));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let id: i64 = line
        .expect("the child wrote a record")
        .trim()
        .parse()
        .unwrap();

    let store = Store::open(&url).await.unwrap();
    let tenant = store.get_tenant("a.example").await.unwrap().unwrap().row.id;
    let mut want = record(tenant);
    want.id = id;
    assert_eq!(store.list_cdr(tenant, 10, None).await.unwrap(), [want]);
    store.close().await;
}
