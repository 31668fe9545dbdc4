//! A single-threaded micro-benchmark of the REGISTER path as a UDP receive
//! thread runs it: gate, parse, classify, the owning shard's transaction
//! layer, digest authentication, registrar, response serialization, the
//! write-behind batch and the `sendto` of the answer. It is `#[ignore]`d
//! (it prints figures, it proves nothing); run it with
//!
//! ```text
//! cargo test --release -p pbx-server regbench -- --ignored --nocapture
//! ```
//!
//! It prints nanoseconds and heap allocations per authenticated
//! registration (both datagrams: REGISTER → 401, REGISTER with
//! Authorization → 200), counted over the server's calls only: the client
//! side (building requests, answering the challenge) is outside the clock.

#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use arc_swap::ArcSwap;
use sip_auth::{ClientRequest, authorization_value, pick_challenge};
use tokio::sync::mpsc;

use crate::shard::{Shard, ShardSlot};
use crate::tenants::{Directory, TenantSnap};
use crate::transport::{Flow, Tp};
use crate::{Ctx, OwnIpPolicy};

/// Counts allocations (all threads; the benchmark runs on one, with no
/// receive thread or shard task started).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);
static TRACING: AtomicBool = AtomicBool::new(false);

/// With `REGBENCH_SITES=1`, where the counted allocations come from.
static SITES: std::sync::Mutex<Option<std::collections::HashMap<String, u64>>> =
    std::sync::Mutex::new(None);

thread_local! {
    static IN_SITE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes the first frame of this crate's (or its sibling crates') code that allocated.
fn note_site() {
    if IN_SITE.with(|f| f.replace(true)) {
        return;
    }
    let bt = std::backtrace::Backtrace::force_capture().to_string();
    // Frames print as "N: function" and then "at path:line"; the first
    // frame in the workspace's crates (outside this file) names the site.
    let lines: Vec<&str> = bt.lines().map(str::trim).collect();
    let site = lines
        .windows(2)
        .find(|w| {
            w[1].starts_with("at ")
                && (w[1].contains("/crates/") || w[1].contains("./src/"))
                && !w[1].contains("regbench.rs")
        })
        .map_or_else(
            || "?".to_owned(),
            |w| {
                let f = w[0].split_once(": ").map_or(w[0], |x| x.1);
                let at = w[1].trim_start_matches("at ");
                let at = at.rsplit_once("/crates/").map_or(at, |x| x.1);
                format!("{f} ({at})")
            },
        );
    if let Some(m) = SITES.lock().unwrap().as_mut() {
        *m.entry(site).or_default() += 1;
    }
    IN_SITE.with(|f| f.set(false));
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
            if TRACING.load(Relaxed) {
                note_site();
            }
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
            if TRACING.load(Relaxed) {
                note_site();
            }
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TENANTS: usize = 10;
const USERS: usize = 100;

fn tenant(n: usize) -> TenantSnap {
    let mut yaml = format!("domain: t{n}.bench.test\nusers:\n");
    for u in 0..USERS {
        let ext = 1000 + u;
        yaml.push_str(&format!(
            "  - {{ext: \"{ext}\", name: U{ext}, secret: \"secret-{n}-{ext}\"}}\n"
        ));
    }
    let cfg = pbx_core::TenantConfig::from_yaml_str(&yaml).unwrap();
    crate::tenants::snapshot(n as i64 + 1, 1, &cfg)
}

/// The context `serve` builds, reduced to one shard, one UDP socket and no
/// relay, store, vault or trace.
fn bench_ctx(rt: &tokio::runtime::Runtime) -> Arc<Ctx> {
    let (transports, _, _) = rt
        .block_on(crate::transport::bind(&[(
            Tp::Udp,
            "127.0.0.1:0".parse().unwrap(),
        )]))
        .unwrap();
    let (ban_tx, _ban_rx) = mpsc::channel(16);
    let (bind_tx, _bind_rx) = mpsc::channel(2);
    let (shard_tx, _shard_rx) = mpsc::channel(16);
    let (cdr_tx, _cdr_rx) = mpsc::channel(16);
    let (queue_tx, _queue_rx) = mpsc::channel(16);
    let security = crate::security::SecuritySettings {
        trusted: vec![("127.0.0.0".parse().unwrap(), 8)],
        ban_threshold: 10,
        ban_window: Duration::from_secs(60),
        ban_time: Duration::from_secs(900),
        drop_scanner_user_agents: true,
        scanner_user_agents: vec!["friendly-scanner".into(), "sipvicious".into()],
        rate_limit_per_ip: 0,
        rate_burst: 0,
    };
    let directory = Directory::new((0..TENANTS).map(|n| Arc::new(tenant(n))));
    let data_dir = std::env::temp_dir();
    Arc::new(Ctx {
        limits: sip_msg::Limits::default(),
        transports,
        security: crate::security::Security::new(security, ban_tx),
        metrics: crate::metrics::Metrics::default(),
        trace: crate::trace::TraceLog::new(0, 0),
        shards: vec![shard_tx],
        slots: ArcSwap::from_pointee(Vec::new()),
        directory: ArcSwap::from_pointee(directory),
        platform: arc_swap::ArcSwapOption::empty(),
        registrar_cfg: pbx_registrar::RegistrarConfig::default(),
        t1: Duration::from_millis(500),
        nonce_key: [7; 32],
        nonce_ttl: 300,
        replay_guard: Arc::new(sip_auth::SharedReplayGuard::new(
            sip_auth::DEFAULT_REPLAY_CAPACITY * 2,
            16,
        )),
        own_ips: vec!["127.0.0.1".parse().unwrap()],
        external_ip: None,
        bindings: bind_tx,
        stopping: AtomicBool::new(false),
        retry_after_s: 5,
        own_ip_policy: OwnIpPolicy::UniqueAuthUser,
        flush_interval: Duration::from_secs(1),
        write_behind: true,
        hasher: std::hash::RandomState::new(),
        stop: tokio::sync::watch::channel(false).0,
        tcp_per_ip: std::sync::Mutex::new(std::collections::HashMap::new()),
        relay: None,
        call_settings: crate::calls::CallSettings::default(),
        presence: crate::calls::Presence::default(),
        groups: crate::groups::GroupMemories::default(),
        queues: crate::queues::Queues::new(queue_tx),
        pickups: crate::pickup::Pickups::default(),
        external: crate::external::ExternalCalls::default(),
        cdr: cdr_tx,
        local_networks: Vec::new(),
        prompts: crate::prompts::PromptLibrary::new(
            crate::prompts::SoundRoots::new(&data_dir),
            crate::prompts::DEFAULT_CACHE_BYTES,
        ),
        vault: None,
        outbox: None,
        recordings: None,
        mwi_shared: crate::mwi::MwiShared::default(),
        mwi_limits: sip_event::subscription::Limits::default(),
        trunks: crate::trunks::TrunkBoard::default(),
    })
}

/// A REGISTER as `loadgen` writes it.
fn register(k: usize, cseq: u32, local: SocketAddr, authorization: Option<&str>) -> Vec<u8> {
    let t = k % TENANTS;
    let ext = 1000 + (k / TENANTS) % USERS;
    let mut s = format!(
        "REGISTER sip:t{t}.bench.test SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{k:x}x{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{ext}@t{t}.bench.test>;tag=f{k:x}\r\n\
         To: <sip:{ext}@t{t}.bench.test>\r\n\
         Call-ID: run-{k}@lg\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{ext}@{local}>\r\n\
         Expires: 3600\r\n\
         User-Agent: vpbx-loadgen\r\n"
    );
    if let Some(a) = authorization {
        s.push_str("Authorization: ");
        s.push_str(a);
        s.push_str("\r\n");
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s.into_bytes()
}

/// CPU time of this thread (user + system): other processes on a busy
/// machine do not count, unlike wall time.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn status_of(reply: &[u8]) -> u16 {
    std::str::from_utf8(reply.get(8..11).unwrap_or(b"0"))
        .unwrap_or("0")
        .parse()
        .unwrap_or(0)
}

#[test]
#[ignore = "a benchmark: prints figures, run it with --ignored --nocapture"]
fn regbench_prints_server_time_and_allocations_per_authenticated_registration() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let ctx = bench_ctx(&rt);
    let shard = Shard::new(0, ctx.clone(), 42);
    ctx.slots
        .store(Arc::new(vec![Arc::new(ShardSlot::new(shard))]));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let local = ctx.transports.udp_local(0).unwrap();
    let me = client.local_addr().unwrap();
    let flow = Flow {
        tp: Tp::Udp,
        id: 0,
        local,
        remote: me,
    };
    let count: usize = std::env::var("REGBENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut buf = vec![0u8; 65_536];
    let mut spent = Duration::ZERO;
    let mut allocs = 0u64;
    let server = |data: &[u8]| {
        ALLOCS.store(0, Relaxed);
        COUNTING.store(true, Relaxed);
        let t0 = thread_cpu();
        crate::dispatch::datagram(&ctx, data, flow);
        let d = thread_cpu() - t0;
        COUNTING.store(false, Relaxed);
        (d, ALLOCS.load(Relaxed))
    };
    let fill = TENANTS * USERS;
    let mut ok = 0usize;
    let mut first = (Duration::ZERO, 0u64);
    let sites = std::env::var("REGBENCH_SITES").is_ok_and(|v| v == "1");
    for k in 0..count + fill {
        if sites && k == fill + count - 100 {
            *SITES.lock().unwrap() = Some(std::collections::HashMap::new());
            TRACING.store(true, Relaxed);
        }
        if k == fill {
            // The first round fills the table; the rest refresh.
            ok = 0;
            first = (spent, allocs);
            spent = Duration::ZERO;
            allocs = 0;
        }
        let t = k % TENANTS;
        let ext = 1000 + (k / TENANTS) % USERS;
        let (d, a) = server(&register(k, 1, me, None));
        spent += d;
        allocs += a;
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(status_of(&buf[..n]), 401);
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        let challenges = text
            .split("\r\n")
            .filter_map(|l| l.strip_prefix("WWW-Authenticate: "));
        let ch = pick_challenge(challenges).unwrap();
        let password = format!("secret-{t}-{ext}");
        let auth = authorization_value(
            &ch,
            &ClientRequest {
                method: "REGISTER",
                uri: &format!("sip:t{t}.bench.test"),
                username: &ext.to_string(),
                password: &password,
                cnonce: &format!("{k:x}"),
                nc: 1,
            },
        );
        let (d, a) = server(&register(k, 2, me, Some(&auth)));
        spent += d;
        allocs += a;
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(
            status_of(&buf[..n]),
            200,
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        ok += 1;
    }
    TRACING.store(false, Relaxed);
    if let Some(m) = SITES.lock().unwrap().take() {
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.1));
        println!("allocation sites over the last 100 registrations (per registration):");
        for (site, n) in v {
            println!("  {:5.2}  {site}", n as f64 / 100.0);
        }
    }
    let per = |d: Duration, n: usize| d.as_nanos() as f64 / n as f64;
    println!(
        "regbench: fill {} registrations: {:.0} ns and {:.1} allocations per registration",
        fill,
        per(first.0, fill),
        first.1 as f64 / fill as f64
    );
    println!(
        "regbench: refresh {ok} registrations: {:.0} ns and {:.1} allocations per registration (thread CPU time: two datagrams, sendto included)",
        per(spent, ok),
        allocs as f64 / ok as f64
    );
}
