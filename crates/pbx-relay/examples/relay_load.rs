//! CPU per relayed packet: N calls × 50 packets/s each way through the relay on loopback.
//!
//! `cargo run --release -p pbx-relay --example relay_load -- [calls] [seconds] [workers] [first_port] [--record]`
//!
//! `--record` records every call ([`Relay::start_call_recording`] on its first leg: both
//! directions decoded into 8 kHz stereo, handed over in one-second chunks on the worker thread)
//! into a sink that counts the samples and drops them, so the figure is the relay's cost of a
//! recording without the file writing (which a writer thread does elsewhere).
//!
//! One generator thread plays both phones of every call (172-byte G.711 packets every 20 ms)
//! and drains what comes back. The relay's cost is the CPU time of its worker threads
//! (`/proc/self/task/<tid>/schedstat`, nanoseconds) over the measured interval, divided by the
//! packets the relay sent. Prints one `key=value` line for scripts.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pbx_relay::{Codec, LegParams, Relay, RelayConfig};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .filter(|a| !a.starts_with("--"))
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Total CPU nanoseconds of the threads whose name starts with `prefix`.
fn thread_cpu_ns(prefix: &str) -> u64 {
    let mut total = 0;
    for entry in fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = entry.path();
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let sched = fs::read_to_string(dir.join("schedstat")).unwrap_or_default();
        total += sched
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

fn rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let calls = arg(1, 250) as usize;
    let seconds = arg(2, 10);
    let workers = arg(3, 1) as usize;
    let first_port = arg(4, 20000) as u16;
    let record = std::env::args().any(|a| a == "--record");
    // Samples and chunks the recording sinks received.
    let rec_samples = Arc::new(AtomicU64::new(0));
    let rec_chunks = Arc::new(AtomicU64::new(0));
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let relay = Relay::start(
        RelayConfig {
            ip: lo,
            advertise: lo,
            first_port,
            last_port: first_port.saturating_add((calls * 4 + 64) as u16),
            workers,
            learn_window: Duration::from_secs(2),
        },
        Box::new(|_| {}),
    )
    .unwrap();

    let rss0 = rss_kib();
    let mut phones = Vec::with_capacity(calls * 2);
    let mut legs = Vec::with_capacity(calls * 2);
    for call in 0..calls {
        let (a, la) = relay.allocate(call as u64).unwrap();
        let (b, lb) = relay.allocate(call as u64).unwrap();
        for (leg, local) in [(a, la), (b, lb)] {
            let s = UdpSocket::bind((lo, 0)).unwrap();
            s.set_nonblocking(true).unwrap();
            relay.configure(
                leg,
                LegParams {
                    remote: Some(s.local_addr().unwrap()),
                    remote_rtcp: None,
                    rtcp_mux: true,
                    codec: Codec::Pcmu,
                    pt: 0,
                    dtmf_pt: Some(101),
                    timeout: Duration::from_secs(60),
                },
            );
            phones.push((s, local));
            legs.push(leg);
        }
        relay.connect(a, b);
        if record {
            let (samples, chunks) = (rec_samples.clone(), rec_chunks.clone());
            relay.start_call_recording(
                a,
                Box::new(move |c| {
                    samples.fetch_add(c.samples.len() as u64, Ordering::Relaxed);
                    chunks.fetch_add(1, Ordering::Relaxed);
                }),
            );
        }
    }
    let rss_calls = rss_kib();

    // RTP version 2, payload type 0 (PCMU, what the legs are configured with), µ-law silence.
    let mut pkt = [0xffu8; 172];
    pkt[0] = 0x80;
    pkt[1] = 0;
    let mut buf = [0u8; 2048];
    let mut seq: u16 = 0;
    let mut received = 0u64;
    let mut sent = 0u64;
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let mut measured: Option<(Instant, u64, u64, u64)> = None;
    let mut tick = start;
    while start.elapsed() < warmup + Duration::from_secs(seconds) {
        if measured.is_none() && start.elapsed() >= warmup {
            measured = Some((
                Instant::now(),
                thread_cpu_ns("pbx-relay-"),
                relay.totals().tx_packets,
                received,
            ));
        }
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        pkt[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        for (i, (s, to)) in phones.iter().enumerate() {
            pkt[8..12].copy_from_slice(&(i as u32).to_be_bytes());
            if s.send_to(&pkt, *to).is_ok() {
                sent += 1;
            }
        }
        seq = seq.wrapping_add(1);
        tick += Duration::from_millis(20);
        loop {
            for (s, _) in &phones {
                loop {
                    match s.recv_from(&mut buf) {
                        Ok(_) => received += 1,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
            }
            let now = Instant::now();
            if now >= tick {
                break;
            }
            std::thread::sleep((tick - now).min(Duration::from_millis(2)));
        }
    }
    let (t0, cpu0, tx0, rx0) = measured.unwrap();
    let rec_s = rec_samples.load(Ordering::Relaxed) as f64 / 2.0 / 8000.0;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu_ns = thread_cpu_ns("pbx-relay-") - cpu0;
    let relayed = relay.totals().tx_packets - tx0;
    let us_per_pkt = cpu_ns as f64 / 1000.0 / relayed.max(1) as f64;
    let core_pct = cpu_ns as f64 / 1e9 / elapsed * 100.0;
    let per_call_pct = core_pct / calls as f64;
    let rss_per_call = (rss_calls.saturating_sub(rss0)) as f64 / calls as f64;
    let lost = 1.0 - (received - rx0) as f64 / relayed.max(1) as f64;
    let totals = relay.totals();
    println!(
        "relay_load calls={calls} workers={workers} seconds={elapsed:.1} relayed_pps={:.0} \
         relay_cpu_pct={core_pct:.2} us_per_pkt={us_per_pkt:.2} core_pct_per_call={per_call_pct:.4} \
         rss_kib_per_call={rss_per_call:.1} generator_sent={sent} relay_rx={} relay_tx={} \
         dropped={} returned_loss={:.4} record={record} recorded_call_s={rec_s:.0} \
         recording_chunks={} load_end={}",
        relayed as f64 / elapsed,
        totals.rx_packets,
        totals.tx_packets,
        totals.dropped,
        lost.max(0.0),
        rec_chunks.load(Ordering::Relaxed),
        fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(","),
    );
    for leg in legs {
        relay.release(leg);
    }
    relay.shutdown();
}
