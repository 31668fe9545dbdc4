//! `vpbx cdr`, `vpbx calls` and the qualify column of `vpbx registrations`, run as the real
//! binary against a temporary SQLite store (records inserted through pbx-store) and, for
//! `calls`, a stand-in HTTP server that answers like the running vpbx.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use pbx_store::{Binding, Cdr, Disposition, HangupBy, Store, TenantId};

const T0: i64 = 1_764_107_103_000; // 2025-11-25T21:45:03Z

struct Env {
    dir: PathBuf,
    config: PathBuf,
    db: String,
}

impl Env {
    fn new(name: &str, http_port: u16) -> Env {
        let dir = std::env::temp_dir().join(format!("vpbx_cli_{name}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = format!("sqlite://{}/vpbx.db", dir.display());
        let config = dir.join("vpbx.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\ndatabase = \"{db}\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n",
                dir.display()
            ),
        )
        .unwrap();
        Env { dir, config, db }
    }

    fn vpbx(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_vpbx"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }

    async fn store(&self) -> Store {
        Store::open(&self.db).await.unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The failure's stderr, asserted to be exactly one line with exit status 1.
fn one_line_error(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim_end().to_owned()
}

fn record(tenant: TenantId, n: i64, disposition: Disposition) -> Cdr {
    let start_ms = T0 + n * 60_000;
    let answer_ms = (disposition == Disposition::Answered).then_some(start_ms + 4_000);
    let end_ms = start_ms + 34_000;
    let (duration_s, billsec_s) = Cdr::seconds(start_ms, answer_ms, end_ms);
    Cdr {
        id: 0,
        tenant_id: tenant,
        call_id: format!("call-{n}@phone"),
        leg_call_ids: vec![format!("leg-{n}@vpbx")],
        caller: "1001".into(),
        caller_name: Some("Alice".into()),
        dialed: format!("100{n}"),
        destination: Some(format!("user:100{n}")),
        start_ms,
        answer_ms,
        end_ms,
        duration_s,
        billsec_s,
        disposition,
        hangup_by: HangupBy::Callee,
        sip_cause: (disposition != Disposition::Answered).then_some(486),
        hangup_reason: if disposition == Disposition::Answered {
            "normal".into()
        } else {
            "busy".into()
        },
        transfers: Vec::new(),
        node: "node-1".into(),
        recording: None,
        trunk: None,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn cdr_prints_the_newest_records_first_as_a_table_and_as_json() {
    let env = Env::new("cdr", free_port());
    let store = env.store().await;
    let t = store.create_tenant("a.example").await.unwrap();
    let other = store.create_tenant("b.example").await.unwrap();
    store
        .insert_cdrs(&[
            record(t, 1, Disposition::Answered),
            record(other, 9, Disposition::Failed),
            record(t, 2, Disposition::Busy),
            record(t, 3, Disposition::NoAnswer),
        ])
        .await
        .unwrap();
    store.close().await;

    let table = stdout(&env.vpbx(&["cdr", "a.example"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    for column in [
        "START (UTC)",
        "CALLER",
        "DIALED",
        "DESTINATION",
        "DISPOSITION",
        "DURATION",
        "BILLSEC",
        "HANGUP BY",
        "CAUSE",
    ] {
        assert!(lines[0].contains(column), "{column} missing: {}", lines[0]);
    }
    assert!(lines[1].contains("2025-11-25T21:48:03Z"), "{table}");
    assert!(lines[1].contains("NO ANSWER"), "{table}");
    assert!(lines[1].contains("user:1003"), "{table}");
    assert!(lines[1].contains("486  busy"), "{table}");
    assert!(lines[3].contains("ANSWERED"), "{table}");
    assert!(lines[3].contains("34s      30s  callee"), "{table}");
    assert!(
        !table.contains("user:1009"),
        "another tenant's record: {table}"
    );
    assert_eq!(lines[4], "3 call(s)");

    let json: serde_json::Value = serde_json::from_str(&stdout(&env.vpbx(&[
        "cdr",
        "a.example",
        "--json",
        "--limit",
        "2",
    ])))
    .unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["call_id"], "call-3@phone");
    assert_eq!(list[0]["disposition"], "NO ANSWER");
    assert_eq!(list[0]["answer"], serde_json::Value::Null);
    assert_eq!(list[0]["sip_cause"], 486);
    assert_eq!(list[1]["disposition"], "BUSY");
    assert_eq!(list[1]["domain"], "a.example");
    assert_eq!(list[1]["start"], "2025-11-25T21:47:03Z");
    assert_eq!(list[1]["leg_call_ids"], serde_json::json!(["leg-2@vpbx"]));
    assert!(list[1].get("tenant_id").is_none());

    let older = list[1]["id"].as_i64().unwrap().to_string();
    let json: serde_json::Value = serde_json::from_str(&stdout(&env.vpbx(&[
        "cdr",
        "a.example",
        "--json",
        "--before",
        &older,
    ])))
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["billsec_s"], 30);
    assert_eq!(json[0]["hangup_by"], "callee");
}

#[tokio::test]
async fn cdr_of_a_tenant_without_calls_is_empty_and_of_an_unknown_domain_an_error() {
    let env = Env::new("cdr_empty", free_port());
    let store = env.store().await;
    store.create_tenant("a.example").await.unwrap();
    store.close().await;

    let table = stdout(&env.vpbx(&["cdr", "A.example"]));
    assert_eq!(table.lines().last(), Some("0 call(s)"), "{table}");
    assert_eq!(
        stdout(&env.vpbx(&["cdr", "a.example", "--json"])).trim(),
        "[]"
    );
    assert_eq!(
        one_line_error(&env.vpbx(&["cdr", "nobody.example"])),
        "vpbx: no tenant nobody.example"
    );
}

#[tokio::test]
async fn registrations_show_the_qualify_status() {
    let env = Env::new("reg", free_port());
    let store = env.store().await;
    let t = store.create_tenant("a.example").await.unwrap();
    let binding = |aor: &str, status: Option<&str>, rtt: Option<u32>| Binding {
        id: aor.parse().unwrap(),
        tenant_id: t,
        aor: aor.into(),
        contact_uri: format!("sip:{aor}@192.0.2.7:5060"),
        instance_id: None,
        reg_id: None,
        call_id: format!("reg-{aor}"),
        cseq: 1,
        expires_at_ms: i64::MAX / 2,
        received: "udp:203.0.113.9:40000".into(),
        path: None,
        user_agent: Some("baresip".into()),
        qualify_status: status.map(str::to_owned),
        qualify_rtt_ms: rtt,
        updated_at_ms: T0,
    };
    store
        .upsert_bindings(&[
            binding("1001", Some("reachable"), Some(12)),
            binding("1002", Some("unreachable"), None),
            binding("1003", None, None),
        ])
        .await
        .unwrap();
    store.close().await;

    let table = stdout(&env.vpbx(&["registrations", "a.example"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("QUALIFY"), "{table}");
    assert!(lines[1].contains("reachable 12ms"), "{table}");
    assert!(lines[2].contains("unreachable"), "{table}");
    assert!(lines[3].contains("unknown"), "{table}");

    let json: serde_json::Value = serde_json::from_str(&stdout(&env.vpbx(&[
        "registrations",
        "a.example",
        "--json",
    ])))
    .unwrap();
    assert_eq!(json[0]["qualify"], "reachable");
    assert_eq!(json[0]["qualify_rtt_ms"], 12);
    assert_eq!(json[1]["qualify"], "unreachable");
    assert_eq!(json[2]["qualify"], "unknown");
    assert_eq!(json[2]["qualify_rtt_ms"], serde_json::Value::Null);
}

/// Answers one HTTP request with `status` and `body`; returns the request line it got.
fn serve_once(
    listener: TcpListener,
    status: &'static str,
    body: &'static str,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        write!(
            s,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        request_line.trim_end().to_owned()
    })
}

const CALLS: &str = r#"[{"call_id":"in-1@phone","media_ports":[10000,10002],"caller":"1001","dialed":"1002","destination":"user:1002","state":"answered","start_ms":1764107103000,"answer_ms":1764107105000,"legs":[{"call_id":"out-1@vpbx","contact":"sip:1002@192.0.2.7:5060","state":"answered"}]},{"call_id":"in-2@phone","caller":"1003","dialed":"1100","destination":null,"state":"ringing","start_ms":1764107110000,"answer_ms":null,"legs":[]}]"#;

#[test]
fn calls_asks_the_running_server_and_prints_each_call_with_its_legs() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let env = Env::new("calls", listener.local_addr().unwrap().port());
    let server = serve_once(listener, "200 OK", CALLS);
    let table = stdout(&env.vpbx(&["calls", "A.example"]));
    assert_eq!(
        server.join().unwrap(),
        "GET /api/v1/calls/a.example HTTP/1.1"
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(
        lines[1].starts_with("answered  2025-11-25T21:45:03Z"),
        "{table}"
    );
    assert!(lines[1].ends_with("in-1@phone"), "{table}");
    assert!(lines[2].contains("sip:1002@192.0.2.7:5060"), "{table}");
    assert!(lines[3].starts_with("ringing"), "{table}");
    assert_eq!(lines[4], "2 call(s) in progress");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let env = Env::new("calls_json", listener.local_addr().unwrap().port());
    let server = serve_once(listener, "200 OK", CALLS);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&env.vpbx(&["calls", "a.example", "--json"]))).unwrap();
    server.join().unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["legs"][0]["call_id"], "out-1@vpbx");
    assert_eq!(json[1]["answer_ms"], serde_json::Value::Null);
    assert_eq!(
        json[0]["media_ports"],
        serde_json::json!([10000, 10002]),
        "fields the CLI does not know pass through"
    );
}

#[test]
fn calls_reports_an_unknown_domain_a_bad_answer_and_a_missing_server_in_one_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let env = Env::new("calls_404", listener.local_addr().unwrap().port());
    let server = serve_once(listener, "404 Not Found", "{\"error\":\"no tenant\"}");
    assert_eq!(
        one_line_error(&env.vpbx(&["calls", "nobody.example"])),
        "vpbx: no tenant nobody.example"
    );
    server.join().unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let env = Env::new("calls_bad", listener.local_addr().unwrap().port());
    let server = serve_once(listener, "200 OK", "{\"calls\": 3}");
    let err = one_line_error(&env.vpbx(&["calls", "a.example"]));
    assert!(
        err.starts_with(
            "vpbx: the server's answer for /api/v1/calls/a.example is not a list of calls"
        ),
        "{err}"
    );
    server.join().unwrap();

    let port = free_port();
    let env = Env::new("calls_down", port);
    let err = one_line_error(&env.vpbx(&["calls", "a.example"]));
    assert!(
        err.starts_with(&format!(
            "vpbx: cannot reach the server at http://127.0.0.1:{port} ("
        )),
        "{err}"
    );
    assert!(err.ends_with("is `vpbx serve` running?"), "{err}");
}
