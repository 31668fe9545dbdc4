//! `vpbx cdr` (call records from the store) and `vpbx calls` (calls in progress, from the
//! running server).

use anyhow::{Result, anyhow, bail};
use pbx_core::ServerConfig;
use pbx_store::Cdr;

use crate::commands::{now_ms, open};
use crate::http;

/// `vpbx cdr DOMAIN [--limit N] [--before ID] [--json]`: reads the store directly.
pub(crate) async fn cdr(
    cfg: &ServerConfig,
    domain: &str,
    limit: u32,
    before: Option<i64>,
    json: bool,
) -> Result<()> {
    let store = open(cfg).await?;
    let domain = domain.to_ascii_lowercase();
    let Some(t) = store.get_tenant(&domain).await? else {
        bail!("no tenant {domain}")
    };
    let list = store.list_cdr(t.row.id, limit, before).await?;
    store.close().await;
    if json {
        let v = list
            .iter()
            .map(|c| cdr_json(c, &domain))
            .collect::<Result<Vec<_>>>()?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<20} {:<16} {:<16} {:<20} {:<11} {:>8} {:>8}  {:<9} {:>5}  REASON",
        "ID",
        "START (UTC)",
        "CALLER",
        "DIALED",
        "DESTINATION",
        "DISPOSITION",
        "DURATION",
        "BILLSEC",
        "HANGUP BY",
        "CAUSE"
    );
    for c in &list {
        println!(
            "{:<8} {:<20} {:<16} {:<16} {:<20} {:<11} {:>7}s {:>7}s  {:<9} {:>5}  {}{}{}",
            c.id,
            rfc3339_utc(c.start_ms),
            c.caller,
            c.dialed,
            c.destination.as_deref().unwrap_or("-"),
            c.disposition.as_str(),
            c.duration_s,
            c.billsec_s,
            c.hangup_by.as_str(),
            c.sip_cause
                .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            c.hangup_reason,
            c.recording
                .as_deref()
                .map_or_else(String::new, |r| format!("  recording={r}")),
            c.trunk
                .as_deref()
                .map_or_else(String::new, |t| format!("  trunk={t}"))
        );
    }
    println!("{} call(s)", list.len());
    Ok(())
}

/// One record as JSON: the stored fields, the domain instead of the tenant id, and the
/// times also as RFC 3339 text.
fn cdr_json(c: &Cdr, domain: &str) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(c)?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| anyhow!("internal error: a call record is not a JSON object"))?;
    obj.remove("tenant_id");
    obj.insert("domain".into(), domain.into());
    obj.insert("start".into(), rfc3339_utc(c.start_ms).into());
    obj.insert(
        "answer".into(),
        c.answer_ms
            .map(rfc3339_utc)
            .map_or(serde_json::Value::Null, Into::into),
    );
    obj.insert("end".into(), rfc3339_utc(c.end_ms).into());
    Ok(v)
}

/// A call in progress as `GET /api/v1/calls/{domain}` returns it.
#[derive(Debug, serde::Deserialize)]
struct CallInfo {
    call_id: String,
    caller: String,
    dialed: String,
    #[serde(default)]
    destination: Option<String>,
    state: String,
    start_ms: i64,
    #[serde(default)]
    answer_ms: Option<i64>,
    #[serde(default)]
    legs: Vec<LegInfo>,
    #[serde(default)]
    trunk: Option<String>,
}

/// One outbound leg of a call in progress.
#[derive(Debug, serde::Deserialize)]
struct LegInfo {
    call_id: String,
    #[serde(default)]
    contact: Option<String>,
    state: String,
}

/// `vpbx calls DOMAIN [--json]`: asks the running server.
pub(crate) fn calls(cfg: &ServerConfig, domain: &str, json: bool) -> Result<()> {
    let domain = domain.to_ascii_lowercase();
    let target = http::server_target(cfg);
    let stream = http::connect(target).map_err(|e| http::unreachable(target, &e))?;
    let path = format!("/api/v1/calls/{}", http::path_segment(&domain));
    let (status, body) = http::get(stream, target, &path)?;
    match status {
        200 => {}
        404 => bail!("no tenant {domain}"),
        other => bail!("server answered HTTP {other} for {path}"),
    }
    let not_calls = |e: serde_json::Error| {
        anyhow!("the server's answer for {path} is not a list of calls: {e}")
    };
    let raw: serde_json::Value = serde_json::from_str(&body).map_err(not_calls)?;
    let calls: Vec<CallInfo> = serde_json::from_value(raw.clone()).map_err(not_calls)?;
    if json {
        // The server's array as it came (fields this CLI does not know pass through).
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(());
    }
    print!("{}", calls_table(&calls, now_ms()));
    Ok(())
}

fn calls_table(calls: &[CallInfo], now_ms: i64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<9} {:<20} {:<16} {:<16} {:<20} {:>8} {:>8}  CALL-ID",
        "STATE", "START (UTC)", "CALLER", "DIALED", "DESTINATION", "DURATION", "TALK"
    );
    for c in calls {
        let talk = c
            .answer_ms
            .map_or_else(|| "-".to_owned(), |a| format!("{}s", secs(a, now_ms)));
        let _ = writeln!(
            out,
            "{:<9} {:<20} {:<16} {:<16} {:<20} {:>7}s {:>8}  {}",
            c.state,
            rfc3339_utc(c.start_ms),
            c.caller,
            c.dialed,
            c.destination.as_deref().unwrap_or("-"),
            secs(c.start_ms, now_ms),
            talk,
            c.call_id
        );
        if let Some(t) = &c.trunk {
            let _ = writeln!(out, "  trunk {t}");
        }
        for l in &c.legs {
            let _ = writeln!(
                out,
                "  leg {:<9} {:<40} {}",
                l.state,
                l.contact.as_deref().unwrap_or("-"),
                l.call_id
            );
        }
    }
    // Seed 003's `inuse`: calls in progress of the tenant, and per trunk.
    let mut per_trunk: std::collections::BTreeMap<&str, usize> = Default::default();
    for t in calls.iter().filter_map(|c| c.trunk.as_deref()) {
        *per_trunk.entry(t).or_default() += 1;
    }
    let trunks: Vec<String> = per_trunk.iter().map(|(t, n)| format!("{t} {n}")).collect();
    if trunks.is_empty() {
        let _ = writeln!(out, "{} call(s) in progress", calls.len());
    } else {
        let _ = writeln!(
            out,
            "{} call(s) in progress; through trunks: {}",
            calls.len(),
            trunks.join(", ")
        );
    }
    out
}

fn secs(from_ms: i64, to_ms: i64) -> i64 {
    (to_ms - from_ms).max(0) / 1000
}

/// Epoch milliseconds as RFC 3339 UTC with whole seconds: `2026-11-25T21:45:03Z`.
pub(crate) fn rfc3339_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).expect("month is 1..=12"),
        u32::try_from(d).expect("day is 1..=31"),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_764_107_103_999), "2025-11-25T21:45:03Z");
        assert_eq!(rfc3339_utc(4_102_444_799_000), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(-1_000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn the_calls_table_shows_each_call_and_its_legs() {
        let calls: Vec<CallInfo> = serde_json::from_str(
            r#"[{"call_id":"in-1","caller":"1001","dialed":"1002","destination":"user:1002",
                 "state":"answered","start_ms":1000,"answer_ms":3000,
                 "legs":[{"call_id":"out-1","contact":"sip:1002@192.0.2.7:5060","state":"answered"}]},
                {"call_id":"in-2","caller":"1003","dialed":"1100","destination":null,
                 "state":"ringing","start_ms":9000,"answer_ms":null,"legs":[]}]"#,
        )
        .unwrap();
        let table = calls_table(&calls, 13_500);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(
            lines[1].starts_with("answered  1970-01-01T00:00:01Z"),
            "{table}"
        );
        assert!(lines[1].contains("user:1002"), "{table}");
        assert!(lines[1].contains("     12s      10s  in-1"), "{table}");
        assert!(lines[2].contains("sip:1002@192.0.2.7:5060"), "{table}");
        assert!(lines[2].ends_with("out-1"), "{table}");
        assert!(lines[3].starts_with("ringing"), "{table}");
        assert!(lines[3].contains("      4s        -  in-2"), "{table}");
        assert_eq!(lines[4], "2 call(s) in progress");
    }
}
