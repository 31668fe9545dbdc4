//! `vpbx trunks [--json]`: every trunk of the platform file with its registration at the
//! provider and its qualify status, asked of the running server (`GET /api/v1/trunks`).

use anyhow::{Result, anyhow, bail};
use pbx_core::ServerConfig;
use pbx_server::trunks::TrunkInfo;

use crate::commands::now_ms;
use crate::http;
use crate::records::rfc3339_utc;

pub(crate) fn trunks(cfg: &ServerConfig, json: bool) -> Result<()> {
    let target = http::server_target(cfg);
    let stream = http::connect(target).map_err(|e| http::unreachable(target, &e))?;
    let path = "/api/v1/trunks";
    let (status, body) = http::get(stream, target, path)?;
    if status != 200 {
        bail!("server answered HTTP {status} for {path}");
    }
    let not_trunks = |e: serde_json::Error| {
        anyhow!("the server's answer for {path} is not a list of trunks: {e}")
    };
    let raw: serde_json::Value = serde_json::from_str(&body).map_err(not_trunks)?;
    if json {
        // The server's array as it came.
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(());
    }
    let list: Vec<TrunkInfo> = serde_json::from_value(raw).map_err(not_trunks)?;
    print!("{}", table(&list, now_ms()));
    Ok(())
}

/// The qualify column: `up 2 ms`, `down since 2026-11-26T07:40:01Z (12 s)`, `unknown`, `-`.
fn qualify(t: &TrunkInfo, now_ms: i64) -> String {
    match t.qualify.as_deref() {
        Some("up") => match t.qualify_rtt_ms {
            Some(ms) => format!("up {ms} ms"),
            None => "up".to_owned(),
        },
        Some("down") => match t.qualify_down_since_ms {
            Some(since) => {
                let since = i64::try_from(since).unwrap_or(i64::MAX);
                format!(
                    "down since {} ({} s)",
                    rfc3339_utc(since),
                    (now_ms - since).max(0) / 1000
                )
            }
            None => "down".to_owned(),
        },
        Some(other) => other.to_owned(),
        None => match &t.qualify_note {
            Some(note) => format!("- ({note})"),
            None => "-".to_owned(),
        },
    }
}

fn table(list: &[TrunkInfo], now_ms: i64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<20} {:<26} {:<44} {:<24} {:>5}",
        "TRUNK", "TENANT", "ADDRESS", "REGISTRATION", "QUALIFY", "CALLS"
    );
    for t in list {
        let _ = writeln!(
            out,
            "{:<16} {:<20} {:<26} {:<44} {:<24} {:>5}",
            t.name,
            t.tenant.as_deref().unwrap_or("shared"),
            format!("{}:{}/{}", t.host, t.port, t.transport),
            t.registration,
            qualify(t, now_ms),
            t.calls
        );
    }
    let _ = writeln!(out, "{} trunk(s)", list.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trunk() -> TrunkInfo {
        TrunkInfo {
            name: "newoperator".into(),
            tenant: Some("office.example".into()),
            host: "127.0.0.1".into(),
            port: 5060,
            transport: "udp".into(),
            registration_state: "registered".into(),
            registration: "registered, expires in 3591 s".into(),
            contact_user: Some("tr-0123456789".into()),
            registration_failures: 0,
            qualify: Some("up".into()),
            qualify_note: None,
            qualify_rtt_ms: Some(2),
            qualify_down_since_ms: None,
            calls: 0,
        }
    }

    #[test]
    fn one_line_per_trunk_with_address_registration_qualify_and_calls() {
        let mut shared = trunk();
        shared.name = "carrier".into();
        shared.tenant = None;
        shared.registration = "not registering".into();
        shared.qualify = Some("down".into());
        shared.qualify_rtt_ms = None;
        shared.qualify_down_since_ms = Some(1_764_142_801_000);
        let text = table(&[trunk(), shared], 1_764_142_813_000);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[1].contains("newoperator") && lines[1].contains("office.example"));
        assert!(lines[1].contains("127.0.0.1:5060/udp"));
        assert!(lines[1].contains("registered, expires in 3591 s") && lines[1].contains("up 2 ms"));
        assert!(lines[2].contains("shared") && lines[2].contains("not registering"));
        assert!(
            lines[2].contains("down since 2025-11-26T07:40:01Z (12 s)"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "2 trunk(s)");
    }
}
