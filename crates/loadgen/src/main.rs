//! `loadgen`: SIP load for the vpbx benchmarks, over UDP on loopback.
//!
//! - default mode: REGISTER with full digest authentication (REGISTER → 401
//!   → REGISTER with Authorization → 200), bench/register.sh. Plain threads,
//!   one UDP socket each.
//! - `loadgen calls`: registered callers call registered callees through a
//!   server (or directly), with G.711 RTP both ways (bench/calls.sh).
//! - `loadgen rtpengine`: the same RTP load through rtpengine, set up over
//!   its ng protocol.
//!
//! Each prints one JSON summary line.

mod callmsg;
mod calls;
mod msg;
mod procstat;
mod rtp;
mod rtpengine;
mod sdp;
mod worker;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::worker::{Plan, Tally};

/// SIP load generator: registrations (default), calls, rtpengine RTP load.
///
/// Without a subcommand: registers users with digest auth at a target rate
/// and reports latency. Registration k goes to tenant `k % tenants` as
/// extension `ext_base + (k / tenants) % users`.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    register: Args,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Calls between registered users, with optional RTP both ways.
    Calls(calls::CallsArgs),
    /// RTP through rtpengine (calls set up over its ng protocol).
    Rtpengine(rtpengine::RtpengineArgs),
}

/// REGISTER mode options.
#[derive(Debug, clap::Args)]
struct Args {
    /// The registrar, IP:PORT (UDP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: SocketAddr,
    /// Tenant domain pattern; `{t}` is the tenant index 0..tenants.
    #[arg(long, default_value = "t{t}.bench.test")]
    domain_pattern: String,
    /// Explicit comma-separated domain list (overrides --domain-pattern/--tenants).
    #[arg(long, value_delimiter = ',')]
    domains: Vec<String>,
    /// Number of tenants.
    #[arg(long, default_value_t = 1)]
    tenants: u64,
    /// Users per tenant.
    #[arg(long, default_value_t = 10)]
    users: u64,
    /// First extension number.
    #[arg(long, default_value_t = 1000)]
    ext_base: u64,
    /// Password pattern: `{t}` tenant index, `{ext}` extension, `{domain}`.
    #[arg(long, default_value = "secret-{t}-{ext}")]
    password_pattern: String,
    /// Registrations to perform.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Registration number to start at (so several runs cover other users).
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Registrations started per second in total; 0 = as fast as the
    /// concurrency allows.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Outstanding registrations in total.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Local IPs to bind, comma-separated (sockets round-robin over them).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    bind: Vec<IpAddr>,
    /// First local port (socket i binds PORT_BASE + i, so contacts stay the
    /// same across runs and re-registrations refresh instead of adding);
    /// 0 = ephemeral ports.
    #[arg(long, default_value_t = 0)]
    port_base: u16,
    /// Sockets, one thread each.
    #[arg(long, default_value_t = 2)]
    sockets: u64,
    /// Expires asked for in each REGISTER.
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    /// RFC 3261 T1 in ms: first retransmission interval, doubling up to T2.
    #[arg(long, default_value_t = 500)]
    t1_ms: u64,
    /// RFC 3261 T2 in ms.
    #[arg(long, default_value_t = 4000)]
    t2_ms: u64,
    /// Transmissions of one request before giving up (1 = no retransmission).
    #[arg(long, default_value_t = 5)]
    max_attempts: u32,
    /// Stop after this many seconds whatever is left.
    #[arg(long, default_value_t = 120)]
    time_limit_s: u64,
    /// A label copied into the JSON output.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Debug, Serialize)]
struct Summary {
    label: String,
    target_rate: f64,
    concurrency: usize,
    sent: u64,
    ok: u64,
    failed: u64,
    timeouts: u64,
    unfinished: u64,
    failed_by_status: BTreeMap<u16, u64>,
    failure_pct: f64,
    retransmissions: u64,
    stale: u64,
    late_replies: u64,
    packets_out: u64,
    packets_in: u64,
    elapsed_s: f64,
    rate: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Some(Cmd::Calls(a)) => calls::run(&a),
        Some(Cmd::Rtpengine(a)) => rtpengine::run(&a),
        None => register(cli.register),
    }
}

fn register(a: Args) -> Result<()> {
    if a.sockets == 0 || a.concurrency == 0 || a.users == 0 || a.bind.is_empty() {
        bail!("--sockets, --concurrency, --users and --bind must be non-zero");
    }
    if !a.rate.is_finite() || a.rate < 0.0 {
        bail!("--rate must be 0 (max) or positive");
    }
    let domains: Vec<String> = if a.domains.is_empty() {
        if a.tenants == 0 {
            bail!("--tenants must be non-zero");
        }
        (0..a.tenants)
            .map(|t| msg::expand(&a.domain_pattern, t, 0, ""))
            .collect()
    } else {
        a.domains.clone()
    };
    let workers = a.sockets.min(a.count.max(1));
    let run_id = format!(
        "{:x}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            & 0xffff_ffff_ffff
    );
    let plan = Plan {
        server: a.server,
        domains,
        users: a.users,
        ext_base: a.ext_base,
        password_pattern: a.password_pattern.clone(),
        offset: a.offset,
        count: a.count,
        workers,
        rate_per_worker: a.rate / workers as f64,
        concurrency_per_worker: a.concurrency.div_ceil(workers as usize).max(1),
        expires: a.expires,
        t1: Duration::from_millis(a.t1_ms.max(1)),
        t2: Duration::from_millis(a.t2_ms.max(a.t1_ms).max(1)),
        max_attempts: a.max_attempts.max(1),
        run_id,
        time_limit: Duration::from_secs(a.time_limit_s),
    };
    let mut socks = Vec::new();
    for i in 0..workers {
        let ip = a.bind[i as usize % a.bind.len()];
        let port = if a.port_base == 0 {
            0
        } else {
            a.port_base.saturating_add(i as u16)
        };
        socks.push(worker::open_socket(SocketAddr::new(ip, port))?);
    }
    let start = Instant::now();
    let tallies: Vec<Result<Tally>> = std::thread::scope(|s| {
        let handles: Vec<_> = socks
            .into_iter()
            .enumerate()
            .map(|(i, sock)| {
                let plan = &plan;
                s.spawn(move || worker::run(plan, i as u64, sock))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("worker panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut total = Tally::default();
    for t in tallies {
        let t = t?;
        total.started += t.started;
        total.ok += t.ok;
        total.timeouts += t.timeouts;
        total.retransmissions += t.retransmissions;
        total.stale += t.stale;
        total.late += t.late;
        total.unfinished += t.unfinished;
        total.packets_out += t.packets_out;
        total.packets_in += t.packets_in;
        for (k, v) in t.failed_by_status {
            *total.failed_by_status.entry(k).or_default() += v;
        }
        total.latencies_us.extend(t.latencies_us);
    }
    total.latencies_us.sort_unstable();
    let failed = total.timeouts + total.unfinished + total.failed_by_status.values().sum::<u64>();
    let lat = &total.latencies_us;
    let summary = Summary {
        label: a.label,
        target_rate: a.rate,
        concurrency: a.concurrency,
        sent: total.started,
        ok: total.ok,
        failed,
        timeouts: total.timeouts,
        unfinished: total.unfinished,
        failed_by_status: total.failed_by_status,
        failure_pct: if a.count == 0 {
            0.0
        } else {
            100.0 * failed as f64 / a.count as f64
        },
        retransmissions: total.retransmissions,
        stale: total.stale,
        late_replies: total.late,
        packets_out: total.packets_out,
        packets_in: total.packets_in,
        elapsed_s: elapsed,
        rate: if elapsed > 0.0 {
            total.ok as f64 / elapsed
        } else {
            0.0
        },
        p50_ms: percentile(lat, 0.50),
        p90_ms: percentile(lat, 0.90),
        p99_ms: percentile(lat, 0.99),
        max_ms: lat.last().map_or(0.0, |&m| f64::from(m) / 1000.0),
    };
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
