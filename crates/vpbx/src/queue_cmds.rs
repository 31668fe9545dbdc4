//! `vpbx queue show|log|stats DOMAIN`: a tenant's queues live (agents and waiting
//! callers, asked of the running server: `GET /api/v1/queues/{domain}`), their log and
//! their statistics (read from the store, so they work without a server).

use anyhow::{Result, anyhow, bail};
use pbx_core::ServerConfig;
use pbx_server::queues::QueueInfo;

use crate::commands::{now_ms, open};
use crate::http;
use crate::records::rfc3339_utc;
use crate::{QueueCmd, QueueRange};

pub(crate) async fn queue(cfg: &ServerConfig, cmd: QueueCmd) -> Result<()> {
    match cmd {
        QueueCmd::Show { domain, json } => show(cfg, &domain, json),
        QueueCmd::Log(r) => log(cfg, &r).await,
        QueueCmd::Stats(r) => stats(cfg, &r).await,
    }
}

/// `30m`, `24h`, `7d`, `90s` before now, or an RFC 3339 time, as Unix milliseconds.
pub(crate) fn since_ms(text: &str, now_ms: i64) -> Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let (num, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| {
        anyhow!("--since \"{text}\" is neither like 30m, 24h, 7d nor an RFC 3339 time")
    })?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("--since \"{text}\": the unit is one of s, m, h, d"),
    };
    Ok(now_ms - n.saturating_mul(ms))
}

fn show(cfg: &ServerConfig, domain: &str, json: bool) -> Result<()> {
    let target = http::server_target(cfg);
    let stream = http::connect(target).map_err(|e| http::unreachable(target, &e))?;
    let path = format!("/api/v1/queues/{}", domain.to_ascii_lowercase());
    let (status, body) = http::get(stream, target, &path)?;
    if status == 404 {
        bail!("no tenant {domain}");
    }
    if status != 200 {
        bail!("server answered HTTP {status} for {path}");
    }
    let bad = |e: serde_json::Error| {
        anyhow!("the server's answer for {path} is not a list of queues: {e}")
    };
    let raw: serde_json::Value = serde_json::from_str(&body).map_err(bad)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&raw)?);
        return Ok(());
    }
    let list: Vec<QueueInfo> = serde_json::from_value(raw).map_err(bad)?;
    if list.is_empty() {
        println!("{domain} has no queues");
    }
    for q in &list {
        println!(
            "queue {} ({}) strategy={} waiting={}",
            q.ext,
            q.name,
            q.strategy,
            q.waiting.len()
        );
        for a in &q.agents {
            println!(
                "  agent {:<8} {:<10} {:<8} answered={}",
                a.ext,
                a.state,
                if a.is_static { "static" } else { "dynamic" },
                a.answered
            );
        }
        for w in &q.waiting {
            let ringing = if w.ringing.is_empty() {
                String::new()
            } else {
                format!(" ringing={}", w.ringing.join(","))
            };
            println!(
                "  waiting #{} {:<16} {} s{ringing}",
                w.position, w.caller, w.wait_s
            );
        }
    }
    Ok(())
}

async fn entries(
    cfg: &ServerConfig,
    r: &QueueRange,
) -> Result<(Vec<pbx_store::QueueLogEntry>, pbx_core::TenantConfig)> {
    let (domain, queue) = (r.domain.as_str(), r.queue.as_deref());
    let from = since_ms(&r.since, now_ms())?;
    let store = open(cfg).await?;
    let domain = domain.to_ascii_lowercase();
    let Some(t) = store.get_tenant(&domain).await? else {
        bail!("no tenant {domain}")
    };
    // Secrets stay sealed: only the queues are read.
    let text = t.config.as_deref().unwrap_or("");
    let tenant_cfg = if text.trim().is_empty() {
        pbx_core::TenantConfig::new(&domain)
    } else {
        pbx_core::TenantConfig::from_yaml_str(text)
            .map_err(|e| anyhow!("the stored document of {domain} does not parse: {e}"))?
    };
    if let Some(q) = queue
        && tenant_cfg.queue(q).is_none()
    {
        bail!("{domain} has no queue {q}");
    }
    let list = store
        .list_queue_log(t.row.id, queue, from, 1_000_000)
        .await?;
    store.close().await;
    Ok((list, tenant_cfg))
}

async fn log(cfg: &ServerConfig, r: &QueueRange) -> Result<()> {
    let (list, _) = entries(cfg, r).await?;
    if r.json {
        let v: Vec<serde_json::Value> = list
            .iter()
            .map(|e| {
                serde_json::json!({
                    "time": rfc3339_utc(e.ts_ms),
                    "queue": e.queue,
                    "call_id": e.call_id,
                    "event": e.event,
                    "agent": e.agent,
                    "caller": e.caller,
                    "position": e.position,
                    "entry_position": e.entry_position,
                    "wait_s": e.wait_s,
                    "talk_s": e.talk_s,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<20} {:<6} {:<13} {:<8} {:<16} {:>4} {:>6} {:>6}  CALL-ID",
        "TIME (UTC)", "QUEUE", "EVENT", "AGENT", "CALLER", "POS", "WAIT", "TALK"
    );
    let opt = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for e in &list {
        println!(
            "{:<20} {:<6} {:<13} {:<8} {:<16} {:>4} {:>6} {:>6}  {}",
            rfc3339_utc(e.ts_ms),
            e.queue,
            e.event,
            e.agent.as_deref().unwrap_or("-"),
            e.caller.as_deref().unwrap_or("-"),
            opt(e.position),
            opt(e.wait_s),
            opt(e.talk_s),
            e.call_id
        );
    }
    Ok(())
}

async fn stats(cfg: &ServerConfig, r: &QueueRange) -> Result<()> {
    let (list, tenant_cfg) = entries(cfg, r).await?;
    let queue = r.queue.as_deref();
    let mut out = Vec::new();
    for q in &tenant_cfg.queues {
        if queue.is_some_and(|x| x != q.ext.as_str()) {
            continue;
        }
        let mine: Vec<_> = list
            .iter()
            .filter(|e| e.queue == q.ext.as_str())
            .cloned()
            .collect();
        let s = pbx_store::queue_stats(&mine, q.service_level);
        out.push((q.ext.to_string(), q.name.clone(), q.service_level, s));
    }
    if r.json {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(ext, name, sl, s)| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("queue".into(), ext.clone().into());
                    o.insert("name".into(), name.clone().into());
                    o.insert("service_level_s".into(), (*sl).into());
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<6} {:>7} {:>8} {:>9} {:>8} {:>7} {:>9} {:>9} {:>9} {:>8}",
        "QUEUE",
        "OFFERED",
        "ANSWERED",
        "ABANDONED",
        "TIMEOUT",
        "REFUSED",
        "SL%",
        "AVG WAIT",
        "AVG TALK",
        "MAX WAIT"
    );
    for (ext, _, sl, s) in &out {
        println!(
            "{:<6} {:>7} {:>8} {:>9} {:>8} {:>7} {:>9} {:>9} {:>9} {:>8}",
            ext,
            s.offered,
            s.answered,
            s.abandoned,
            s.timed_out,
            s.refused,
            format!("{:.1}@{sl}s", s.service_level_pct),
            format!("{:.1} s", s.avg_wait_s),
            format!("{:.1} s", s.avg_talk_s),
            format!("{} s", s.max_wait_s),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn since_takes_a_duration_back_from_now_or_a_time() {
        assert_eq!(since_ms("90s", 100_000).unwrap(), 10_000);
        assert_eq!(since_ms("2h", 10_000_000).unwrap(), 10_000_000 - 7_200_000);
        assert_eq!(
            since_ms("2026-11-26T00:00:00Z", 0).unwrap(),
            1_795_651_200_000
        );
        assert!(since_ms("yesterday", 0).is_err());
        assert!(since_ms("5w", 0).is_err());
    }
}
