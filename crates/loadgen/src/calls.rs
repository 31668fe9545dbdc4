//! `loadgen calls`: authenticated calls between registered users, with
//! optional G.711 RTP both ways.
//!
//! One SIP thread (mio, two UDP sockets: callers and callees) plays every
//! caller (UAC: INVITE with an SDP offer → 401/407 → INVITE with
//! credentials → 180/200 → ACK → hold → BYE → 200) and every callee (UAS:
//! INVITE → 180 → 200 with an SDP answer, retransmitted until the ACK; BYE →
//! 200). Calls start at a target rate with a cap on calls in progress; the run
//! is bounded by a call count and a time limit. The RTP streams run on the
//! [`crate::rtp`] threads.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;
use sip_auth::{ClientRequest, authorization_value, pick_challenge};

use crate::callmsg::{self, Msg, Request, Response, Start};
use crate::rtp::{self, Engine, GapStats, Gaps, Hist, Side, Stream};
use crate::sdp::{self, PCMA, PCMU, TELEPHONE_EVENT};
use crate::{msg, procstat, worker};

/// Places calls between registered users (callers → callees) through a SIP
/// server, or directly to the built-in callee UAS with --direct.
///
/// Call k is in tenant `k % tenants`, from caller `caller_base + (k / tenants) % callers`
/// to callee `callee_base + (k / tenants) % callees`, or to the number given with `--to`.
#[derive(Debug, Args)]
pub(crate) struct CallsArgs {
    /// The SIP server (registrar and proxy/B2BUA), IP:PORT (UDP).
    #[arg(long, default_value = "127.0.0.1:5060")]
    server: SocketAddr,
    /// Call the built-in callee UAS directly (sip:callee@<uas addr>), no
    /// server and no registration.
    #[arg(long)]
    direct: bool,
    /// Do not register (the server knows the contacts already).
    #[arg(long)]
    no_register: bool,
    /// Tenant domain pattern; `{t}` is the tenant index 0..tenants.
    #[arg(long, default_value = "t{t}.bench.test")]
    domain_pattern: String,
    /// Explicit comma-separated domain list (overrides --domain-pattern/--tenants).
    #[arg(long, value_delimiter = ',')]
    domains: Vec<String>,
    #[arg(long, default_value_t = 1)]
    tenants: u64,
    /// Password pattern: `{t}` tenant index, `{ext}` extension, `{domain}`.
    #[arg(long, default_value = "secret-{t}-{ext}")]
    password_pattern: String,
    /// Callee users per tenant (registered from the UAS socket).
    #[arg(long, default_value_t = 10)]
    callees: u64,
    #[arg(long, default_value_t = 1000)]
    callee_base: u64,
    /// Dial this number on every call (e.g. a queue's extension) instead of
    /// the callees; the callees still register and answer whatever the
    /// server sends them (e.g. the queue's agents).
    #[arg(long)]
    to: Option<String>,
    /// Caller users per tenant (registered from the UAC socket).
    #[arg(long, default_value_t = 10)]
    callers: u64,
    #[arg(long, default_value_t = 2000)]
    caller_base: u64,
    /// Calls to place.
    #[arg(long, default_value_t = 100)]
    count: u64,
    /// Calls started per second.
    #[arg(long, default_value_t = 10.0)]
    cps: f64,
    /// Calls in progress at most (INVITE sent → BYE answered).
    #[arg(long, default_value_t = 100)]
    max_concurrent: usize,
    /// Time from the 200 to the caller's BYE.
    #[arg(long, default_value_t = 1000)]
    hold_ms: u64,
    /// No new call after this many seconds; calls still up are hung up and
    /// given 5 s more to end.
    #[arg(long, default_value_t = 60)]
    time_limit_s: u64,
    /// Stream G.711 RTP both ways on every established call.
    #[arg(long)]
    rtp: bool,
    /// RTP sockets per side (streams share them).
    #[arg(long, default_value_t = 8)]
    rtp_sockets: usize,
    /// RTP threads.
    #[arg(long, default_value_t = 1)]
    rtp_threads: usize,
    /// Local IP for SIP and RTP.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// UAS SIP port (the UAC uses the next one); 0 = ephemeral.
    #[arg(long, default_value_t = 0)]
    sip_port: u16,
    #[arg(long, default_value_t = 3600)]
    expires: u32,
    #[arg(long, default_value_t = 500)]
    t1_ms: u64,
    #[arg(long, default_value_t = 4000)]
    t2_ms: u64,
    /// PID of the server to measure (CPU from /proc/PID/stat, VmRSS).
    #[arg(long)]
    measure_pid: Option<u32>,
    /// Length of the steady-state window (s) once every call has been
    /// answered or has failed (plus --settle-ms); 0 = no window.
    #[arg(long, default_value_t = 0.0)]
    measure_s: f64,
    #[arg(long, default_value_t = 1000)]
    settle_ms: u64,
    /// A label copied into the JSON output.
    #[arg(long, default_value = "")]
    label: String,
}

const UAC: Token = Token(0);
const UAS: Token = Token(1);
const DRAIN_CAP: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Retransmit,
    Hangup,
    UasRetransmit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UacState {
    Inviting,
    Answered,
    Byeing,
}

#[derive(Debug)]
struct UacCall {
    tenant: usize,
    caller: String,
    ruri: String,
    from: String,
    to: String,
    call_id: String,
    cseq: u32,
    state: UacState,
    started: Instant,
    attempts: u32,
    generation: u32,
    provisional: bool,
    auth_tries: u32,
    branch: String,
    msg: Vec<u8>,
    ack: Vec<u8>,
    routes: Vec<String>,
    target: String,
    rtp_sock: usize,
    rtp_local: SocketAddr,
    streaming: bool,
}

#[derive(Debug)]
struct UasDialog {
    id: u64,
    last: Vec<u8>,
    sdp: String,
    acked: bool,
    attempts: u32,
    generation: u32,
    remote: Option<SocketAddr>,
    pt: u8,
    rtp_sock: usize,
    peer_ssrc: u32,
    ssrc: u32,
    streaming: bool,
    user: String,
    /// Where the INVITE came from (the 200 is retransmitted there).
    src: SocketAddr,
}

#[derive(Debug, Default)]
struct Tally {
    attempted: u64,
    answered: u64,
    completed: u64,
    failed_by_status: BTreeMap<u16, u64>,
    timeouts: u64,
    bye_timeouts: u64,
    bye_failed_by_status: BTreeMap<u16, u64>,
    remote_byes: u64,
    retransmissions: u64,
    challenges: u64,
    setup_us: Vec<u32>,
    first_invite: Option<Instant>,
    last_answer: Option<Instant>,
    uas_invites: u64,
    uas_acks: u64,
    uas_byes: u64,
    uas_no_ack: u64,
    uas_rejected: u64,
    unparsed: u64,
    max_in_progress: usize,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Snap {
    at_s: f64,
    server_cpu_s: f64,
    self_cpu_s: f64,
    server_rss_kb: u64,
    rtp_tx: u64,
    rtp_rx: u64,
    calls_up: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Window {
    seconds: f64,
    calls_up_start: u64,
    calls_up_end: u64,
    rtp_tx: u64,
    rtp_rx: u64,
    pub(crate) rx_per_s: f64,
    /// 50 packets/s each way per call up at the start of the window.
    rx_expected_per_s: f64,
    server_cpu_s: f64,
    pub(crate) server_cpu_us_per_packet: Option<f64>,
    server_rss_kb: u64,
    server_rss_kb_per_call: Option<f64>,
    loadgen_cpu_s: f64,
    pub(crate) loadgen_cpu_us_per_packet: Option<f64>,
    /// Inter-arrival gaps of the packets the callers received in the window.
    #[serde(skip_serializing_if = "Option::is_none")]
    gaps_uac: Option<GapStats>,
    /// The same for the callees.
    #[serde(skip_serializing_if = "Option::is_none")]
    gaps_uas: Option<GapStats>,
    /// How late the generator's RTP threads served their 1 ms send slots
    /// (the same statistics; `count` = slots served): its own scheduling.
    #[serde(skip_serializing_if = "Option::is_none")]
    send_lateness: Option<GapStats>,
}

#[derive(Debug, Serialize)]
struct Summary {
    label: String,
    mode: &'static str,
    registered: u64,
    registration_failed: u64,
    target_cps: f64,
    attempted: u64,
    answered: u64,
    completed: u64,
    failed: u64,
    failed_by_status: BTreeMap<u16, u64>,
    timeouts: u64,
    unfinished: u64,
    bye_timeouts: u64,
    bye_failed_by_status: BTreeMap<u16, u64>,
    remote_byes: u64,
    retransmissions: u64,
    challenges: u64,
    max_in_progress: usize,
    setup_p50_ms: f64,
    setup_p99_ms: f64,
    setup_max_ms: f64,
    cps: f64,
    elapsed_s: f64,
    uas_invites: u64,
    uas_acks: u64,
    uas_byes: u64,
    uas_no_ack: u64,
    uas_rejected: u64,
    unparsed: u64,
    rtp: Option<RtpSummary>,
    server_rss_kb_before: Option<u64>,
    server_cpu_s: Option<f64>,
    server_cpu_us_per_call: Option<f64>,
    loadgen_cpu_s: f64,
    window: Option<Window>,
}

#[derive(Debug, Serialize)]
struct RtpSummary {
    #[serde(flatten)]
    counts: rtp::Counts,
    lost_uac_to_uas: i64,
    lost_uas_to_uac: i64,
    loss_pct: f64,
    /// Inter-arrival gaps over the whole run, callers' side and callees' side.
    #[serde(skip_serializing_if = "Option::is_none")]
    gaps_uac: Option<GapStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gaps_uas: Option<GapStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_lateness: Option<GapStats>,
}

pub(crate) fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

/// Loss in percent from the counters of both directions.
pub(crate) fn rtp_summary(c: rtp::Counts) -> RtpSummaryOut {
    let l1 = c.sent_uac as i64 - c.recv_uas as i64;
    let l2 = c.sent_uas as i64 - c.recv_uac as i64;
    let tx = c.tx();
    RtpSummaryOut {
        lost_uac_to_uas: l1,
        lost_uas_to_uac: l2,
        loss_pct: if tx == 0 {
            0.0
        } else {
            100.0 * (l1 + l2).max(0) as f64 / tx as f64
        },
    }
}

/// Loss figures derived from the RTP counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RtpSummaryOut {
    pub(crate) lost_uac_to_uas: i64,
    pub(crate) lost_uas_to_uac: i64,
    pub(crate) loss_pct: f64,
}

struct Gen<'a> {
    a: &'a CallsArgs,
    domains: Vec<String>,
    run_id: String,
    poll: Poll,
    uac: UdpSocket,
    uas: UdpSocket,
    uac_local: String,
    uas_local: String,
    /// Where requests go: the server, or the UAS socket when direct.
    dest: SocketAddr,
    engine: Engine,
    t1: Duration,
    t2: Duration,
    calls: HashMap<u64, UacCall>,
    dialogs: HashMap<String, UasDialog>,
    dialog_ids: HashMap<u64, String>,
    next_dialog: u64,
    timers: BinaryHeap<Reverse<(Instant, TimerKind, u64, u32)>>,
    tally: Tally,
    out: Vec<u8>,
    sdp_buf: String,
    more: [bool; 2],
}

/// Wall-clock seconds (for matching the window with outside samples).
fn unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

pub(crate) fn run_id() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            & 0xffff_ffff_ffff
    )
}

pub(crate) fn snap(pid: Option<&str>, engine: &Engine, start: Instant, calls_up: u64) -> Snap {
    let c = engine.counts();
    Snap {
        at_s: start.elapsed().as_secs_f64(),
        server_cpu_s: pid.and_then(procstat::cpu_seconds).unwrap_or(0.0),
        self_cpu_s: procstat::cpu_seconds("self").unwrap_or(0.0),
        server_rss_kb: pid.and_then(procstat::rss_kb).unwrap_or(0),
        rtp_tx: c.tx(),
        rtp_rx: c.rx(),
        calls_up,
    }
}

/// Builds the window figures from two snapshots.
pub(crate) fn window(w0: &Snap, w1: &Snap, rss_before: Option<u64>) -> Window {
    let secs = w1.at_s - w0.at_s;
    let rx = w1.rtp_rx - w0.rtp_rx;
    let tx = w1.rtp_tx - w0.rtp_tx;
    let server = w1.server_cpu_s - w0.server_cpu_s;
    let me = w1.self_cpu_s - w0.self_cpu_s;
    Window {
        seconds: secs,
        calls_up_start: w0.calls_up,
        calls_up_end: w1.calls_up,
        rtp_tx: tx,
        rtp_rx: rx,
        rx_per_s: if secs > 0.0 { rx as f64 / secs } else { 0.0 },
        rx_expected_per_s: w0.calls_up as f64 * 100.0,
        server_cpu_s: server,
        server_cpu_us_per_packet: (rx > 0).then(|| server * 1e6 / rx as f64),
        server_rss_kb: w0.server_rss_kb,
        server_rss_kb_per_call: rss_before
            .filter(|_| w0.calls_up > 0)
            .map(|b| (w0.server_rss_kb as f64 - b as f64) / w0.calls_up as f64),
        loadgen_cpu_s: me,
        loadgen_cpu_us_per_packet: (tx + rx > 0).then(|| me * 1e6 / (tx + rx) as f64),
        gaps_uac: None,
        gaps_uas: None,
        send_lateness: None,
    }
}

/// Registers `users` users per domain from `sock` (REGISTER with digest).
fn register(
    a: &CallsArgs,
    domains: &[String],
    sock: &std::net::UdpSocket,
    base: u64,
    users: u64,
    run: &str,
) -> Result<(u64, u64)> {
    let count = domains.len() as u64 * users;
    let plan = worker::Plan {
        server: a.server,
        domains: domains.to_vec(),
        users,
        ext_base: base,
        password_pattern: a.password_pattern.clone(),
        offset: 0,
        count,
        workers: 1,
        rate_per_worker: 0.0,
        concurrency_per_worker: 200,
        expires: a.expires,
        t1: Duration::from_millis(a.t1_ms.max(1)),
        t2: Duration::from_millis(a.t2_ms.max(a.t1_ms).max(1)),
        max_attempts: 5,
        run_id: format!("{run}r{base}"),
        time_limit: Duration::from_secs(60),
    };
    let t = worker::run(&plan, 0, sock.try_clone()?)?;
    Ok((t.ok, count - t.ok))
}

pub(crate) fn run(a: &CallsArgs) -> Result<()> {
    if a.count > 0 && (!a.cps.is_finite() || a.cps <= 0.0) {
        bail!("--cps must be positive");
    }
    if a.max_concurrent == 0 || a.callers == 0 || a.callees == 0 {
        bail!("--max-concurrent, --callers and --callees must be non-zero");
    }
    let domains: Vec<String> = if a.domains.is_empty() {
        (0..a.tenants.max(1))
            .map(|t| msg::expand(&a.domain_pattern, t, 0, ""))
            .collect()
    } else {
        a.domains.clone()
    };
    let port = |off: u16| {
        if a.sip_port == 0 {
            0
        } else {
            a.sip_port.saturating_add(off)
        }
    };
    let uas_std = worker::open_socket(SocketAddr::new(a.bind, port(0)))?;
    let uac_std = worker::open_socket(SocketAddr::new(a.bind, port(1)))?;
    let run = run_id();
    let (mut registered, mut reg_failed) = (0, 0);
    if !a.direct && !a.no_register {
        for (sock, base, n) in [
            (&uas_std, a.callee_base, a.callees),
            (&uac_std, a.caller_base, a.callers),
        ] {
            let (ok, failed) = register(a, &domains, sock, base, n, &run)?;
            registered += ok;
            reg_failed += failed;
        }
        if reg_failed > 0 {
            eprintln!("loadgen calls: {reg_failed} registrations failed ({registered} ok)");
        }
    }
    let uas_addr = uas_std.local_addr()?;
    let uac_addr = uac_std.local_addr()?;
    for s in [&uas_std, &uac_std] {
        s.set_read_timeout(None)?;
        s.set_nonblocking(true)?;
    }
    let poll = Poll::new()?;
    let mut uac = UdpSocket::from_std(uac_std);
    let mut uas = UdpSocket::from_std(uas_std);
    poll.registry()
        .register(&mut uac, UAC, Interest::READABLE)?;
    poll.registry()
        .register(&mut uas, UAS, Interest::READABLE)?;
    let engine = Engine::start(a.bind, a.rtp_sockets, a.rtp_threads)?;
    let g = Gen {
        a,
        domains,
        run_id: run,
        poll,
        uac,
        uas,
        uac_local: uac_addr.to_string(),
        uas_local: uas_addr.to_string(),
        dest: if a.direct { uas_addr } else { a.server },
        engine,
        t1: Duration::from_millis(a.t1_ms.max(1)),
        t2: Duration::from_millis(a.t2_ms.max(a.t1_ms).max(1)),
        calls: HashMap::new(),
        dialogs: HashMap::new(),
        dialog_ids: HashMap::new(),
        next_dialog: 0,
        timers: BinaryHeap::new(),
        tally: Tally::default(),
        out: Vec::with_capacity(2048),
        sdp_buf: String::with_capacity(400),
        more: [false; 2],
    };
    g.run(registered, reg_failed)
}

impl Gen<'_> {
    fn run(mut self, registered: u64, reg_failed: u64) -> Result<()> {
        let a = self.a;
        let pid = a.measure_pid.map(|p| p.to_string());
        let pid = pid.as_deref();
        let start = Instant::now();
        let rss_before = pid.and_then(procstat::rss_kb);
        let s0 = snap(pid, &self.engine, start, 0);
        let stop_starting = start + Duration::from_secs(a.time_limit_s);
        let mut hard_stop: Option<Instant> = None;
        let mut next = 0u64;
        let mut events = Events::with_capacity(512);
        let mut buf = vec![0u8; 65536];
        let mut window_at: Option<Instant> = None;
        let mut w0: Option<Snap> = None;
        let mut w1: Option<Snap> = None;
        let zero: Box<Gaps> = Box::new([[0; rtp::GAP_BINS]; 3]);
        let mut g0: Box<Gaps> = zero.clone();
        let mut g1: Box<Gaps> = zero.clone();
        loop {
            let now = Instant::now();
            if now >= stop_starting && hard_stop.is_none() {
                hard_stop = Some(now + Duration::from_secs(5));
                let keys: Vec<u64> = self
                    .calls
                    .iter()
                    .filter(|(_, c)| c.state == UacState::Answered)
                    .map(|(&k, _)| k)
                    .collect();
                for k in keys {
                    self.hangup(k, now);
                }
            }
            if hard_stop.is_some_and(|h| now >= h) {
                break;
            }
            while hard_stop.is_none() && next < a.count && self.calls.len() < a.max_concurrent {
                let due = start + Duration::from_secs_f64(next as f64 / a.cps);
                if due > now {
                    break;
                }
                self.begin(next, now);
                next += 1;
            }
            self.tally.max_in_progress = self.tally.max_in_progress.max(self.calls.len());
            let all_started = next >= a.count || hard_stop.is_some();
            if all_started && self.calls.is_empty() && self.dialogs.is_empty() {
                break;
            }
            // The steady-state window: every call answered or failed.
            if a.measure_s > 0.0 && w1.is_none() {
                let inviting = self.calls.values().any(|c| c.state == UacState::Inviting);
                if window_at.is_none() && all_started && !inviting {
                    window_at = Some(now + Duration::from_millis(a.settle_ms));
                }
                if let Some(at) = window_at {
                    if w0.is_none() && now >= at {
                        w0 = Some(snap(pid, &self.engine, start, self.calls_up()));
                        *g0 = self.engine.gaps();
                        eprintln!(
                            "loadgen calls: window starts at {:.1} s, Unix time {:.1} ({} calls up)",
                            start.elapsed().as_secs_f64(),
                            unix_s(),
                            self.calls_up()
                        );
                    }
                    if w0.is_some() && now >= at + Duration::from_secs_f64(a.measure_s) {
                        w1 = Some(snap(pid, &self.engine, start, self.calls_up()));
                        *g1 = self.engine.gaps();
                        eprintln!(
                            "loadgen calls: window ends at {:.1} s, Unix time {:.1}",
                            start.elapsed().as_secs_f64(),
                            unix_s()
                        );
                    }
                }
            }
            self.fire_timers(now);
            let mut timeout = Duration::from_millis(5);
            if let Some(Reverse((at, ..))) = self.timers.peek() {
                timeout = timeout.min(at.saturating_duration_since(now));
            }
            if next < a.count && self.calls.len() < a.max_concurrent {
                let due = start + Duration::from_secs_f64(next as f64 / a.cps);
                timeout = timeout.min(due.saturating_duration_since(now));
            }
            if self.more.iter().any(|&m| m) {
                timeout = Duration::ZERO;
            }
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("sip poll"),
            }
            let mut ready = self.more;
            self.more = [false; 2];
            for ev in &events {
                if let Some(r) = ready.get_mut(ev.token().0) {
                    *r = true;
                }
            }
            for (i, r) in ready.into_iter().enumerate() {
                if r {
                    self.drain(i, &mut buf);
                }
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let s_end = snap(pid, &self.engine, start, 0);
        let unfinished = self.calls.len() as u64 + (a.count - next.min(a.count));
        let calls_left: Vec<(usize, u64)> = self
            .calls
            .iter()
            .map(|(&k, c)| (c.rtp_sock, k * 2))
            .collect();
        for (sock, key) in calls_left {
            self.engine.stop_stream(sock, key);
        }
        for d in self.dialogs.values() {
            self.engine.stop_stream(d.rtp_sock, d.id * 2 + 1);
        }
        let run_gaps = self.engine.gaps();
        let counts = self.engine.finish()?;
        let t = &mut self.tally;
        t.setup_us.sort_unstable();
        let failed = t.failed_by_status.values().sum::<u64>() + t.timeouts;
        let cps_span = match (t.first_invite, t.last_answer) {
            (Some(f), Some(l)) if l > f => l.duration_since(f).as_secs_f64(),
            _ => 0.0,
        };
        let rtp = a.rtp.then(|| {
            let o = rtp_summary(counts);
            RtpSummary {
                counts,
                lost_uac_to_uas: o.lost_uac_to_uas,
                lost_uas_to_uac: o.lost_uas_to_uac,
                loss_pct: o.loss_pct,
                gaps_uac: rtp::gap_stats(&zero, &run_gaps, Hist::Uac),
                gaps_uas: rtp::gap_stats(&zero, &run_gaps, Hist::Uas),
                send_lateness: rtp::gap_stats(&zero, &run_gaps, Hist::SendLate),
            }
        });
        let server_cpu = pid.map(|_| s_end.server_cpu_s - s0.server_cpu_s);
        let summary = Summary {
            label: a.label.clone(),
            mode: if a.direct { "direct" } else { "server" },
            registered,
            registration_failed: reg_failed,
            target_cps: a.cps,
            attempted: t.attempted,
            answered: t.answered,
            completed: t.completed,
            failed,
            failed_by_status: std::mem::take(&mut t.failed_by_status),
            timeouts: t.timeouts,
            unfinished,
            bye_timeouts: t.bye_timeouts,
            bye_failed_by_status: std::mem::take(&mut t.bye_failed_by_status),
            remote_byes: t.remote_byes,
            retransmissions: t.retransmissions,
            challenges: t.challenges,
            max_in_progress: t.max_in_progress,
            setup_p50_ms: percentile_ms(&t.setup_us, 0.5),
            setup_p99_ms: percentile_ms(&t.setup_us, 0.99),
            setup_max_ms: t.setup_us.last().map_or(0.0, |&m| f64::from(m) / 1000.0),
            cps: if cps_span > 0.0 {
                t.answered as f64 / cps_span
            } else {
                t.answered as f64
            },
            elapsed_s: elapsed,
            uas_invites: t.uas_invites,
            uas_acks: t.uas_acks,
            uas_byes: t.uas_byes,
            uas_no_ack: t.uas_no_ack,
            uas_rejected: t.uas_rejected,
            unparsed: t.unparsed,
            rtp,
            server_rss_kb_before: rss_before,
            server_cpu_s: server_cpu,
            server_cpu_us_per_call: server_cpu
                .filter(|_| t.answered > 0)
                .map(|c| c * 1e6 / t.answered as f64),
            loadgen_cpu_s: s_end.self_cpu_s - s0.self_cpu_s,
            window: match (w0, w1) {
                (Some(w0), Some(w1)) => {
                    let mut w = window(&w0, &w1, rss_before);
                    if a.rtp {
                        w.gaps_uac = rtp::gap_stats(&g0, &g1, Hist::Uac);
                        w.gaps_uas = rtp::gap_stats(&g0, &g1, Hist::Uas);
                        w.send_lateness = rtp::gap_stats(&g0, &g1, Hist::SendLate);
                    }
                    Some(w)
                }
                _ => None,
            },
        };
        eprintln!(
            "calls: attempted {} answered {} completed {} failed {} {:?} timeouts {} unfinished {}; setup p50 {:.2} ms p99 {:.2} ms; {:.1} calls/s",
            summary.attempted,
            summary.answered,
            summary.completed,
            summary.failed,
            summary.failed_by_status,
            summary.timeouts,
            summary.unfinished,
            summary.setup_p50_ms,
            summary.setup_p99_ms,
            summary.cps
        );
        if let Some(r) = &summary.rtp {
            eprintln!(
                "rtp: caller→callee sent {} received {} lost {}; callee→caller sent {} received {} lost {}; loss {:.3} %",
                r.counts.sent_uac,
                r.counts.recv_uas,
                r.lost_uac_to_uas,
                r.counts.sent_uas,
                r.counts.recv_uac,
                r.lost_uas_to_uac,
                r.loss_pct
            );
        }
        let gaps = summary.window.as_ref().map_or_else(
            || {
                summary
                    .rtp
                    .as_ref()
                    .map(|r| ("run", r.gaps_uac, r.gaps_uas, r.send_lateness))
            },
            |w| Some(("window", w.gaps_uac, w.gaps_uas, w.send_lateness)),
        );
        if let Some((over, uac, uas, late)) = gaps {
            if let Some(l) = late {
                eprintln!(
                    "rtp send slots ({over}): {} served, late p50 {} ms p99 {} ms p99.9 {} ms max {} ms; {} >= 40 ms late",
                    l.count, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.over_40ms
                );
            }
            for (who, g) in [("callers", uac), ("callees", uas)] {
                if let Some(g) = g {
                    eprintln!(
                        "rtp gaps ({over}, {who} receiving): {} gaps, p50 {} ms p99 {} ms p99.9 {} ms max {} ms; {} >= 40 ms, {} < 5 ms",
                        g.count, g.p50_ms, g.p99_ms, g.p999_ms, g.max_ms, g.over_40ms, g.under_5ms
                    );
                }
            }
        }
        println!("{}", serde_json::to_string(&summary)?);
        Ok(())
    }

    fn calls_up(&self) -> u64 {
        self.calls
            .values()
            .filter(|c| c.state == UacState::Answered)
            .count() as u64
    }

    fn send(&mut self, from_uas: bool, to: SocketAddr) {
        let sock = if from_uas { &self.uas } else { &self.uac };
        // A full buffer or an ICMP error: retransmission covers it.
        let _ = sock.send_to(&self.out, to);
    }

    fn key_of(&self, call_id: &str) -> Option<u64> {
        call_id
            .strip_prefix(self.run_id.as_str())?
            .strip_prefix('-')?
            .strip_suffix("@lg")?
            .parse()
            .ok()
    }

    fn begin(&mut self, k: u64, now: Instant) {
        let a = self.a;
        let tenants = self.domains.len() as u64;
        let tenant = (k % tenants) as usize;
        let j = k / tenants;
        let caller = (a.caller_base + j % a.callers).to_string();
        let callee =
            a.to.clone()
                .unwrap_or_else(|| (a.callee_base + j % a.callees).to_string());
        let domain = &self.domains[tenant];
        let ruri = if a.direct {
            format!("sip:{callee}@{}", self.uas_local)
        } else {
            format!("sip:{callee}@{domain}")
        };
        let call_id = format!("{}-{k}@lg", self.run_id);
        let (rtp_sock, rtp_local) = self.engine.pick(Side::Uac);
        let call = UacCall {
            tenant,
            from: format!("<sip:{caller}@{domain}>;tag=f{k}"),
            to: format!("<sip:{callee}@{domain}>"),
            caller,
            ruri,
            call_id,
            cseq: 1,
            state: UacState::Inviting,
            started: now,
            attempts: 1,
            generation: 0,
            provisional: false,
            auth_tries: 0,
            branch: String::new(),
            msg: Vec::new(),
            ack: Vec::new(),
            routes: Vec::new(),
            target: String::new(),
            rtp_sock,
            rtp_local,
            streaming: false,
        };
        self.tally.attempted += 1;
        self.tally.first_invite.get_or_insert(now);
        self.calls.insert(k, call);
        self.send_invite(k, None, now);
    }

    fn send_invite(&mut self, k: u64, auth: Option<(&str, &str)>, now: Instant) {
        let Some(c) = self.calls.get_mut(&k) else {
            return;
        };
        c.branch = format!("{}k{k}i{}", self.run_id, c.cseq);
        sdp::write(
            &mut self.sdp_buf,
            k,
            u64::from(c.cseq),
            c.rtp_local,
            &[PCMA, PCMU],
            Some(TELEPHONE_EVENT),
        );
        callmsg::write_request(
            &Request {
                method: "INVITE",
                uri: &c.ruri,
                local: &self.uac_local,
                branch: &c.branch,
                from: &c.from,
                to: &c.to,
                call_id: &c.call_id,
                cseq: c.cseq,
                contact_user: Some(&c.caller),
                routes: &[],
                auth,
                sdp: Some(&self.sdp_buf),
            },
            &mut c.msg,
        );
        c.attempts = 1;
        c.generation += 1;
        c.provisional = false;
        self.timers.push(Reverse((
            now + self.t1,
            TimerKind::Retransmit,
            k,
            c.generation,
        )));
        self.out.clear();
        self.out.extend_from_slice(&c.msg);
        self.send(false, self.dest);
    }

    /// ACK to a non-2xx final response: same branch as the INVITE, To with the tag.
    fn ack_error(&mut self, k: u64, to: &str) {
        let Some(c) = self.calls.get(&k) else {
            return;
        };
        callmsg::write_request(
            &Request {
                method: "ACK",
                uri: &c.ruri,
                local: &self.uac_local,
                branch: &c.branch,
                from: &c.from,
                to,
                call_id: &c.call_id,
                cseq: c.cseq,
                contact_user: None,
                routes: &[],
                auth: None,
                sdp: None,
            },
            &mut self.out,
        );
        self.send(false, self.dest);
    }

    /// A request inside the dialog (ACK for the 2xx, BYE) into `c.msg` or `c.ack`.
    fn write_in_dialog(
        &self,
        c: &UacCall,
        method: &str,
        branch: &str,
        auth: Option<(&str, &str)>,
        out: &mut Vec<u8>,
    ) {
        callmsg::write_request(
            &Request {
                method,
                uri: &c.target,
                local: &self.uac_local,
                branch,
                from: &c.from,
                to: &c.to,
                call_id: &c.call_id,
                cseq: c.cseq,
                contact_user: None,
                routes: &c.routes,
                auth,
                sdp: None,
            },
            out,
        );
    }

    fn hangup(&mut self, k: u64, now: Instant) {
        let Some(mut c) = self.calls.remove(&k) else {
            return;
        };
        if c.state == UacState::Answered {
            if c.streaming {
                self.engine.stop_stream(c.rtp_sock, k * 2);
                c.streaming = false;
            }
            c.state = UacState::Byeing;
            c.cseq += 1;
            c.generation += 1;
            c.attempts = 1;
            c.auth_tries = 0;
            let branch = format!("{}k{k}b{}", self.run_id, c.cseq);
            let mut m = std::mem::take(&mut c.msg);
            self.write_in_dialog(&c, "BYE", &branch, None, &mut m);
            c.msg = m;
            self.timers.push(Reverse((
                now + self.t1,
                TimerKind::Retransmit,
                k,
                c.generation,
            )));
            self.out.clear();
            self.out.extend_from_slice(&c.msg);
            self.send(false, self.dest);
        }
        self.calls.insert(k, c);
    }

    fn fire_timers(&mut self, now: Instant) {
        for _ in 0..100_000 {
            let Some(&Reverse((at, kind, id, generation))) = self.timers.peek() else {
                return;
            };
            if at > now {
                return;
            }
            self.timers.pop();
            match kind {
                TimerKind::Hangup => self.hangup(id, now),
                TimerKind::Retransmit => self.retransmit(id, generation, now),
                TimerKind::UasRetransmit => self.uas_retransmit(id, generation, now),
            }
        }
    }

    fn retransmit(&mut self, k: u64, generation: u32, now: Instant) {
        let (t1, t2) = (self.t1, self.t2);
        let Some(c) = self.calls.get_mut(&k) else {
            return;
        };
        if c.generation != generation || c.state == UacState::Answered {
            return;
        }
        // INVITE: 7 transmissions (Timer B = 64*T1); after a provisional
        // response the timer is the end of the wait. BYE: 11 (Timer F).
        let max = if c.state == UacState::Inviting { 7 } else { 11 };
        if c.provisional || c.attempts >= max {
            let state = c.state;
            if state == UacState::Inviting {
                self.tally.timeouts += 1;
            } else {
                self.tally.bye_timeouts += 1;
            }
            self.calls.remove(&k);
            return;
        }
        c.attempts += 1;
        let interval =
            (t1 * (1 << (c.attempts - 1).min(16))).min(if c.state == UacState::Inviting {
                t1 * 64
            } else {
                t2
            });
        self.timers.push(Reverse((
            now + interval,
            TimerKind::Retransmit,
            k,
            generation,
        )));
        self.tally.retransmissions += 1;
        self.out.clear();
        self.out.extend_from_slice(&c.msg);
        self.send(false, self.dest);
    }

    fn drain(&mut self, i: usize, buf: &mut [u8]) {
        for _ in 0..DRAIN_CAP {
            let sock = if i == UAS.0 { &self.uas } else { &self.uac };
            match sock.recv_from(buf) {
                Ok((n, src)) => {
                    let now = Instant::now();
                    match callmsg::parse(&buf[..n]) {
                        Some(m) => match m.start {
                            Start::Response { .. } => self.on_response(&m, now),
                            Start::Request { method, uri } => {
                                self.on_request(i == UAS.0, method, uri, &m, src, now)
                            }
                        },
                        None => {
                            // Keep-alive CRLFs and garbage.
                            if buf[..n].iter().any(|b| !b.is_ascii_whitespace()) {
                                self.tally.unparsed += 1;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
        self.more[i] = true;
    }

    fn on_response(&mut self, m: &Msg<'_>, now: Instant) {
        let Some(status) = m.status() else {
            return;
        };
        let Some(k) = self.key_of(m.call_id) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&k) else {
            return;
        };
        if m.cseq != c.cseq {
            return;
        }
        match (m.cseq_method, c.state) {
            ("INVITE", UacState::Inviting) => {
                if status < 200 {
                    if !c.provisional {
                        c.provisional = true;
                        c.generation += 1;
                        // Give up if no final response within Timer B.
                        self.timers.push(Reverse((
                            now + self.t1 * 64,
                            TimerKind::Retransmit,
                            k,
                            c.generation,
                        )));
                    }
                    return;
                }
                if status >= 300 {
                    let to = m.to.to_string();
                    self.ack_error(k, &to);
                }
                if status == 401 || status == 407 {
                    self.on_challenge(k, m, status, now);
                    return;
                }
                if status >= 300 {
                    self.calls.remove(&k);
                    *self.tally.failed_by_status.entry(status).or_default() += 1;
                    return;
                }
                self.on_answer(k, m, now);
            }
            ("INVITE", UacState::Answered) if (200..300).contains(&status) => {
                // A retransmitted 200: the ACK was lost.
                self.out.clear();
                self.out.extend_from_slice(&c.ack);
                self.send(false, self.dest);
            }
            ("BYE", UacState::Byeing) if status >= 200 => {
                if (status == 401 || status == 407) && c.auth_tries == 0 {
                    self.on_challenge(k, m, status, now);
                    return;
                }
                self.calls.remove(&k);
                if (200..300).contains(&status) {
                    self.tally.completed += 1;
                } else {
                    *self.tally.bye_failed_by_status.entry(status).or_default() += 1;
                }
            }
            _ => {}
        }
    }

    fn on_challenge(&mut self, k: u64, m: &Msg<'_>, status: u16, now: Instant) {
        let a = self.a;
        let proxy = status == 407;
        let Some(c) = self.calls.get(&k) else {
            return;
        };
        let ch = pick_challenge(
            m.challenges
                .iter()
                .filter(|(p, _)| *p == proxy)
                .map(|(_, v)| *v),
        );
        let Some(ch) = ch.filter(|_| c.auth_tries < 2) else {
            self.calls.remove(&k);
            if m.cseq_method == "BYE" {
                *self.tally.bye_failed_by_status.entry(status).or_default() += 1;
            } else {
                *self.tally.failed_by_status.entry(status).or_default() += 1;
            }
            return;
        };
        self.tally.challenges += 1;
        let domain = &self.domains[c.tenant];
        let password = msg::expand(
            &a.password_pattern,
            c.tenant as u64,
            c.caller.parse().unwrap_or(0),
            domain,
        );
        let uri = if m.cseq_method == "BYE" {
            c.target.clone()
        } else {
            c.ruri.clone()
        };
        let cnonce = format!("{k:x}c{}", c.cseq);
        let value = authorization_value(
            &ch,
            &ClientRequest {
                method: if m.cseq_method == "BYE" {
                    "BYE"
                } else {
                    "INVITE"
                },
                uri: &uri,
                username: &c.caller,
                password: &password,
                cnonce: &cnonce,
                nc: 1,
            },
        );
        let name = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let Some(c) = self.calls.get_mut(&k) else {
            return;
        };
        c.auth_tries += 1;
        c.cseq += 1;
        if m.cseq_method == "BYE" {
            c.generation += 1;
            c.attempts = 1;
            let branch = format!("{}k{k}b{}", self.run_id, c.cseq);
            let Some(c) = self.calls.remove(&k) else {
                return;
            };
            let mut out = Vec::new();
            self.write_in_dialog(&c, "BYE", &branch, Some((name, &value)), &mut out);
            self.timers.push(Reverse((
                now + self.t1,
                TimerKind::Retransmit,
                k,
                c.generation,
            )));
            self.out.clone_from(&out);
            let mut c = c;
            c.msg = out;
            self.calls.insert(k, c);
            self.send(false, self.dest);
        } else {
            self.send_invite(k, Some((name, &value)), now);
        }
    }

    fn on_answer(&mut self, k: u64, m: &Msg<'_>, now: Instant) {
        let a = self.a;
        let Some(mut c) = self.calls.remove(&k) else {
            return;
        };
        self.tally.answered += 1;
        self.tally.last_answer = Some(now);
        let us = now.duration_since(c.started).as_micros();
        self.tally
            .setup_us
            .push(u32::try_from(us).unwrap_or(u32::MAX));
        c.state = UacState::Answered;
        c.generation += 1;
        c.to = m.to.to_string();
        c.target = m
            .contact
            .map_or_else(|| c.ruri.clone(), |v| callmsg::uri_of(v).to_string());
        c.routes = callmsg::split_routes(&m.record_route)
            .into_iter()
            .rev()
            .map(str::to_string)
            .collect();
        let branch = format!("{}k{k}a{}", self.run_id, c.cseq);
        let mut ack = std::mem::take(&mut c.ack);
        self.write_in_dialog(&c, "ACK", &branch, None, &mut ack);
        c.ack = ack;
        self.out.clear();
        self.out.extend_from_slice(&c.ack);
        self.send(false, self.dest);
        if a.rtp
            && let Some(media) = sdp::parse(m.body)
        {
            self.engine.start_stream(Stream {
                key: k * 2,
                side: Side::Uac,
                sock: c.rtp_sock,
                remote: media.addr,
                ssrc: rtp::ssrc_for(&c.call_id, Side::Uac),
                peer_ssrc: rtp::ssrc_for(&c.call_id, Side::Uas),
                payload_type: media.g711().unwrap_or(PCMA),
            });
            c.streaming = true;
        }
        self.timers.push(Reverse((
            now + Duration::from_millis(a.hold_ms),
            TimerKind::Hangup,
            k,
            0,
        )));
        self.calls.insert(k, c);
    }

    fn respond(
        &mut self,
        from_uas: bool,
        req: &Msg<'_>,
        to: SocketAddr,
        status: u16,
        reason: &str,
    ) {
        callmsg::write_response(
            req,
            &Response {
                status,
                reason,
                to_tag: "lg",
                contact: None,
                sdp: None,
            },
            &mut self.out,
        );
        self.send(from_uas, to);
    }

    fn on_request(
        &mut self,
        on_uas: bool,
        method: &str,
        uri: &str,
        m: &Msg<'_>,
        src: SocketAddr,
        now: Instant,
    ) {
        match method {
            "INVITE" if on_uas => self.uas_invite(uri, m, src, now),
            "ACK" => {
                if let Some(d) = self.dialogs.get_mut(m.call_id)
                    && !d.acked
                {
                    d.acked = true;
                    d.generation += 1;
                    self.tally.uas_acks += 1;
                    if self.a.rtp
                        && !d.streaming
                        && let Some(remote) = d.remote
                    {
                        d.streaming = true;
                        self.engine.start_stream(Stream {
                            key: d.id * 2 + 1,
                            side: Side::Uas,
                            sock: d.rtp_sock,
                            remote,
                            ssrc: d.ssrc,
                            peer_ssrc: d.peer_ssrc,
                            payload_type: d.pt,
                        });
                    }
                }
            }
            "BYE" => {
                self.respond(on_uas, m, src, 200, "OK");
                if let Some(d) = self.dialogs.remove(m.call_id) {
                    self.tally.uas_byes += 1;
                    self.dialog_ids.remove(&d.id);
                    if d.streaming {
                        self.engine.stop_stream(d.rtp_sock, d.id * 2 + 1);
                    }
                } else if let Some(k) = self.key_of(m.call_id) {
                    // The far end hung up a call we placed.
                    if let Some(c) = self.calls.remove(&k) {
                        self.tally.remote_byes += 1;
                        if c.streaming {
                            self.engine.stop_stream(c.rtp_sock, k * 2);
                        }
                    }
                }
            }
            "CANCEL" | "OPTIONS" | "INFO" | "NOTIFY" | "UPDATE" => {
                self.respond(on_uas, m, src, 200, "OK")
            }
            _ => self.respond(on_uas, m, src, 501, "Not Implemented"),
        }
    }

    fn uas_invite(&mut self, uri: &str, m: &Msg<'_>, src: SocketAddr, now: Instant) {
        if let Some(d) = self.dialogs.get(m.call_id) {
            // A retransmission or a re-INVITE: answer with our SDP again.
            let last = if callmsg::tag_of(m.to).is_some() {
                let contact = format!("{}@{}", d.user, self.uas_local);
                let mut out = Vec::new();
                callmsg::write_response(
                    m,
                    &Response {
                        status: 200,
                        reason: "OK",
                        to_tag: "",
                        contact: Some(&contact),
                        sdp: Some(&d.sdp),
                    },
                    &mut out,
                );
                out
            } else {
                d.last.clone()
            };
            self.out = last;
            self.send(true, src);
            return;
        }
        let Some(offer) = sdp::parse(m.body) else {
            self.tally.uas_rejected += 1;
            self.respond(true, m, src, 488, "Not Acceptable Here");
            return;
        };
        let Some(pt) = offer.g711() else {
            self.tally.uas_rejected += 1;
            self.respond(true, m, src, 488, "Not Acceptable Here");
            return;
        };
        self.tally.uas_invites += 1;
        let id = self.next_dialog;
        self.next_dialog += 1;
        let user = callmsg::user_of(uri).to_string();
        let (rtp_sock, rtp_local) = self.engine.pick(Side::Uas);
        let mut answer = String::with_capacity(300);
        sdp::write(&mut answer, id, 1, rtp_local, &[pt], offer.telephone_event);
        let tag = format!("u{id}");
        let contact = format!("{user}@{}", self.uas_local);
        for (status, reason, body) in [(180, "Ringing", None), (200, "OK", Some(answer.as_str()))] {
            callmsg::write_response(
                m,
                &Response {
                    status,
                    reason,
                    to_tag: &tag,
                    contact: Some(&contact),
                    sdp: body,
                },
                &mut self.out,
            );
            self.send(true, src);
        }
        let mut d = UasDialog {
            id,
            last: self.out.clone(),
            sdp: answer,
            acked: false,
            attempts: 1,
            generation: 0,
            remote: Some(offer.addr),
            pt,
            rtp_sock,
            peer_ssrc: rtp::ssrc_for(m.call_id, Side::Uac),
            ssrc: rtp::ssrc_for(m.call_id, Side::Uas),
            streaming: false,
            user,
            src,
        };
        if self.a.rtp {
            // Media may arrive as soon as the caller has the 200, before our
            // ACK comes through the server: stream from the 200 on.
            d.streaming = true;
            self.engine.start_stream(Stream {
                key: d.id * 2 + 1,
                side: Side::Uas,
                sock: d.rtp_sock,
                remote: offer.addr,
                ssrc: d.ssrc,
                peer_ssrc: d.peer_ssrc,
                payload_type: d.pt,
            });
        }
        self.timers
            .push(Reverse((now + self.t1, TimerKind::UasRetransmit, id, 0)));
        self.dialog_ids.insert(id, m.call_id.to_string());
        self.dialogs.insert(m.call_id.to_string(), d);
    }

    fn uas_retransmit(&mut self, id: u64, generation: u32, now: Instant) {
        let (t1, t2) = (self.t1, self.t2);
        let Some(call_id) = self.dialog_ids.get(&id) else {
            return;
        };
        let Some(d) = self.dialogs.get_mut(call_id) else {
            return;
        };
        if d.acked || d.generation != generation {
            return;
        }
        if d.attempts >= 11 {
            // No ACK within 64*T1: the call is gone.
            self.tally.uas_no_ack += 1;
            let call_id = call_id.clone();
            if let Some(d) = self.dialogs.remove(&call_id)
                && d.streaming
            {
                self.engine.stop_stream(d.rtp_sock, d.id * 2 + 1);
            }
            self.dialog_ids.remove(&id);
            return;
        }
        d.attempts += 1;
        let interval = (t1 * (1 << (d.attempts - 1).min(16))).min(t2);
        self.timers.push(Reverse((
            now + interval,
            TimerKind::UasRetransmit,
            id,
            generation,
        )));
        self.tally.retransmissions += 1;
        self.out.clone_from(&d.last);
        let to = d.src;
        self.send(true, to);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loss_is_what_one_side_sent_and_the_other_did_not_receive() {
        let c = rtp::Counts {
            sent_uac: 1000,
            recv_uas: 990,
            sent_uas: 1000,
            recv_uac: 1000,
            ..Default::default()
        };
        let s = rtp_summary(c);
        assert_eq!(s.lost_uac_to_uas, 10);
        assert_eq!(s.lost_uas_to_uac, 0);
        assert!((s.loss_pct - 0.5).abs() < 1e-9);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank_in_milliseconds() {
        let v = [1000, 2000, 3000, 4000, 100_000];
        assert_eq!(percentile_ms(&v, 0.5), 3.0);
        assert_eq!(percentile_ms(&v, 0.99), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
