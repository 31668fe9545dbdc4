//! Concurrent IVR sessions on the relay: N legs, each with a media app playing prompts (RFC 4733
//! and inband DTMF detection on), while a generator sends every leg caller audio (PCMU, speech:
//! the same Asterisk prompts) and now and then an RFC 4733 digit.
//!
//! `cargo run --release -p pbx-relay --example app_load -- [sessions] [seconds] [workers] [first_port] [worker_fifo] [phones_fifo]`
//! (defaults 1000, 20, 1, 30000, 0, 0). `worker_fifo` > 0 runs the relay workers with
//! `SCHED_FIFO` at that priority ([`Relay::set_worker_priority`], needs root);
//! `phones_fifo` > 0 does the same for the generator and receiver threads (the phones, which
//! on a real network are other machines and do not compete for these cores).
//!
//! Prompts come from `/usr/share/asterisk/sounds/en_US_f_Allison/*.wav` (Debian's
//! `asterisk-core-sounds-en-wav`), read by a small RIFF reader here (8 kHz 16-bit mono PCM, as
//! that package ships them); without them a synthetic speech-like signal is used and said so.
//!
//! Printed (one `key=value` line, then a readable summary):
//! - relay worker CPU: the run time of the `pbx-relay-N` threads (`/proc/self/task/*/schedstat`,
//!   nanoseconds) over the measured interval (after a warm-up), per session, as % of one core;
//!   the generator's and receiver's threads are measured apart and not included;
//! - engine frame lateness from [`Relay::app_stats`] (how late after its 1 ms slot each frame
//!   left the worker), over the measured interval, all workers' frames together: p50, p99,
//!   p99.9, max, % > 20 ms, skipped;
//! - receiver jitter: each packet's arrival at the phone socket against that leg's 20 ms grid
//!   (RTP timestamp / 8 kHz from the leg's earliest-arriving packet), measured interval only;
//! - digits: RFC 4733 digits sent and reported; inband digits reported (false detections in
//!   speech: the caller audio has no DTMF).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pbx_media::dtmf::TelephoneEvent;
use pbx_media::engine::{DigitSource, InbandMode, Source};
use pbx_media::player::{Player, Prompt};
use pbx_media::{g711, rtp};
use pbx_relay::{
    AppEvent, AppParams, Codec, EngineStats, LegParams, Relay, RelayConfig, RelayEvent,
    WorkerPriority,
};
use rustix::event::epoll;

const SOUNDS: &str = "/usr/share/asterisk/sounds/en_US_f_Allison";
/// Every leg's caller sends one RFC 4733 digit every this many frames (5 s).
const DIGIT_EVERY: u64 = 250;
const WARMUP: Duration = Duration::from_secs(2);

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// 16-bit PCM samples of a RIFF/WAVE file that is 8 kHz mono PCM16; None for anything else.
fn read_wav_8k_mono(bytes: &[u8]) -> Option<Vec<i16>> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut fmt_ok = false;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = bytes.get(at + 8..(at + 8 + len).min(bytes.len()))?;
        match id {
            b"fmt " if body.len() >= 16 => {
                let format = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                fmt_ok = format == 1 && channels == 1 && rate == 8000 && bits == 16;
            }
            b"data" if fmt_ok => {
                return Some(
                    body.chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]))
                        .collect(),
                );
            }
            _ => {}
        }
        at += 8 + len + (len & 1);
    }
    None
}

/// The installed prompts (sorted by name), or a synthetic speech-like signal.
fn load_prompts() -> (Vec<Prompt>, bool) {
    let mut names: Vec<_> = fs::read_dir(SOUNDS)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let prompts: Vec<Prompt> = names
        .iter()
        .filter_map(|p| read_wav_8k_mono(&fs::read(p).ok()?))
        .filter(|s| s.len() >= 1600)
        .map(Prompt::from)
        .collect();
    if !prompts.is_empty() {
        return (prompts, true);
    }
    // Syllable-like bursts: a 140 Hz harmonic series under a 4 Hz envelope.
    let samples: Vec<i16> = (0..8000 * 3)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let env = (t * 4.0 * std::f64::consts::TAU).sin().max(0.0);
            let v: f64 = (1..12)
                .map(|k| (t * 140.0 * k as f64 * std::f64::consts::TAU).sin() / k as f64)
                .sum();
            (v * env * 4000.0) as i16
        })
        .collect();
    (vec![samples.into()], false)
}

/// Run time (ns) of this process's threads whose name starts with `prefix`.
fn thread_cpu_ns(prefix: &str) -> u64 {
    thread_sched_ns(prefix, 0)
}

/// Time (ns) this process's threads named `prefix`* spent runnable but waiting for a CPU.
fn thread_wait_ns(prefix: &str) -> u64 {
    thread_sched_ns(prefix, 1)
}

/// Field `field` of `/proc/self/task/*/schedstat` (0 run time, 1 run-queue wait), summed.
fn thread_sched_ns(prefix: &str, field: usize) -> u64 {
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
            .nth(field)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// The machine's stolen time so far (the hypervisor ran another guest on our CPUs), in
/// clock ticks summed over CPUs, and the number of CPUs: `/proc/stat` (proc(5)).
fn steal_ticks() -> (u64, usize) {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let steal = stat
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(8))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    (steal, cpus.max(1))
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Default)]
struct Counts {
    rfc4733: AtomicU64,
    inband: AtomicU64,
    play_done: AtomicU64,
    other: AtomicU64,
}

/// What the receiver thread measured.
struct Jitter {
    packets: u64,
    /// Per leg: (arrival µs − grid µs) of each packet in the measured interval, grid anchored
    /// at the leg's first packet.
    offsets: Vec<Vec<i64>>,
}

/// Runs the calling thread with `SCHED_FIFO` at `priority` (0: leaves it as it is).
fn fifo(priority: u8) {
    use thread_priority::{
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    if priority == 0 {
        return;
    }
    thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        ThreadPriority::Crossplatform(ThreadPriorityValue::try_from(priority).unwrap()),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    )
    .expect("SCHED_FIFO for the phones (needs root)");
}

/// The workers' frames between two `app_stats` snapshots, all workers together.
fn window(before: &[EngineStats], after: &[EngineStats]) -> EngineStats {
    let mut all = EngineStats::default();
    for (i, a) in after.iter().enumerate() {
        match before.get(i) {
            Some(b) => all.merge(&a.since(b)),
            None => all.merge(a),
        }
    }
    all
}

fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() {
    let sessions = arg(1, 1000) as usize;
    let seconds = arg(2, 20);
    let workers = arg(3, 1) as usize;
    let first_port = arg(4, 30000) as u16;
    let worker_fifo = arg(5, 0) as u8;
    let phones_fifo = arg(6, 0) as u8;
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let load_start = loadavg();
    let (prompts, real) = load_prompts();

    let counts = Arc::new(Counts::default());
    let c = counts.clone();
    let relay = Relay::start(
        RelayConfig {
            ip: lo,
            advertise: lo,
            first_port,
            last_port: first_port.saturating_add((sessions * 2 + 64) as u16),
            workers,
            learn_window: Duration::from_secs(2),
        },
        Box::new(move |e| {
            let counter = match e {
                RelayEvent::App {
                    event: AppEvent::Digit { source, .. },
                    ..
                } => match source {
                    DigitSource::Rfc4733 => &c.rfc4733,
                    DigitSource::Inband => &c.inband,
                },
                RelayEvent::App {
                    event: AppEvent::PlayDone { .. },
                    ..
                } => &c.play_done,
                _ => &c.other,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }),
    )
    .unwrap();
    if worker_fifo > 0 {
        relay
            .set_worker_priority(WorkerPriority::Fifo(worker_fifo))
            .unwrap();
    }

    // The IVR: a dozen prompts in a row, 300 ms apart, over and over; digits do not stop it
    // (no barge-in) and inband detection stays on after RFC 4733 digits (the costliest case).
    let mut phones: Vec<(UdpSocket, SocketAddr)> = Vec::with_capacity(sessions);
    let mut legs = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let (leg, local) = relay.allocate(i as u64).unwrap();
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
        relay
            .attach_app(
                leg,
                AppParams {
                    inband: InbandMode::Always,
                    barge_in: false,
                },
            )
            .unwrap();
        let list: Vec<Prompt> = (0..12)
            .map(|k| prompts[(i * 7 + k) % prompts.len()].clone())
            .collect();
        relay.set_app_source(leg, Source::Player(Player::new(list, 300).repeat(1000)));
        phones.push((s, local));
        legs.push(leg);
    }
    let phones = Arc::new(phones);
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));

    // Receiver: one epoll over the phone sockets; arrival time against each leg's grid.
    let receiver = {
        let phones = phones.clone();
        let stop = stop.clone();
        let measuring = measuring.clone();
        std::thread::Builder::new()
            .name("app-load-rx".into())
            .spawn(move || {
                fifo(phones_fifo);
                let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
                for (i, (s, _)) in phones.iter().enumerate() {
                    epoll::add(
                        &ep,
                        s.as_fd(),
                        epoll::EventData::new_u64(i as u64),
                        epoll::EventFlags::IN,
                    )
                    .unwrap();
                }
                let epoch = Instant::now();
                // Per leg: (first arrival µs, its timestamp).
                let mut anchor: Vec<Option<(i64, u32)>> = vec![None; phones.len()];
                let mut j = Jitter {
                    packets: 0,
                    offsets: vec![Vec::with_capacity(64 * 50); phones.len()],
                };
                let mut events = Vec::with_capacity(256);
                let mut buf = [0u8; 2048];
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 50_000_000,
                };
                while !stop.load(Ordering::Relaxed) {
                    events.clear();
                    let _ = epoll::wait(
                        &ep,
                        rustix::buffer::spare_capacity(&mut events),
                        Some(&timeout),
                    );
                    let now = epoch.elapsed().as_micros() as i64;
                    let on = measuring.load(Ordering::Relaxed);
                    for ev in &events {
                        let i = ev.data.u64() as usize;
                        while let Ok((n, _)) = phones[i].0.recv_from(&mut buf) {
                            let Some(h) = rtp::parse(&buf[..n]) else {
                                continue;
                            };
                            j.packets += 1;
                            let (t0, ts0) = *anchor[i].get_or_insert((now, h.ts));
                            let grid =
                                t0 + i64::from(h.ts.wrapping_sub(ts0) as i32) * 1_000_000 / 8000;
                            if on {
                                j.offsets[i].push(now - grid);
                            }
                        }
                    }
                }
                j
            })
            .unwrap()
    };

    // Generator: caller audio (the prompts themselves, as speech) to every leg, spread over
    // the 20 ms period, plus an RFC 4733 digit every 5 s per leg.
    let generator = {
        let phones = phones.clone();
        let stop = stop.clone();
        let speech: Vec<i16> = prompts.iter().flat_map(|p| p.iter().copied()).collect();
        std::thread::Builder::new()
            .name("app-load-gen".into())
            .spawn(move || {
                fifo(phones_fifo);
                let n = phones.len();
                let mut pkt = [0u8; 12 + 160];
                let mut pcm = [0i16; 160];
                let mut digits_sent = 0u64;
                let mut sent = 0u64;
                let start = Instant::now();
                let mut ms: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let slot = (ms % 20) as usize;
                    let frame = ms / 20;
                    for i in (slot..n).step_by(20) {
                        let (s, to) = &phones[i];
                        let seq = frame as u16;
                        let ts = (frame as u32).wrapping_mul(160);
                        let phase = (frame + i as u64 * 13) % DIGIT_EVERY;
                        // An event whose start frame came before the first frame is not begun
                        // midway (the detector reports a digit on an event's first packet).
                        let len = if phase < 4 && frame >= phase {
                            // An RFC 4733 digit: start, update, end (sent twice).
                            let e = TelephoneEvent {
                                event: (i % 10) as u8,
                                end: phase >= 2,
                                volume: 10,
                                duration: (phase as u16 + 1) * 160,
                            };
                            let ts0 = ts.wrapping_sub(phase as u32 * 160);
                            rtp::write_header(&mut pkt, 101, phase == 0, seq, ts0, i as u32);
                            pkt[12..16].copy_from_slice(&e.to_bytes());
                            if phase == 0 {
                                digits_sent += 1;
                            }
                            16
                        } else {
                            let off = ((frame as usize + i * 411) * 160) % (speech.len() - 160);
                            pcm.copy_from_slice(&speech[off..off + 160]);
                            rtp::write_header(&mut pkt, 0, false, seq, ts, i as u32);
                            g711::encode_ulaw(&pcm, &mut pkt[12..]);
                            172
                        };
                        if s.send_to(&pkt[..len], to).is_ok() {
                            sent += 1;
                        }
                    }
                    ms += 1;
                    let due = start + Duration::from_millis(ms);
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                (digits_sent, sent, start.elapsed())
            })
            .unwrap()
    };

    std::thread::sleep(WARMUP);
    let apps_at_start = relay.app_stats();
    let cpu0 = thread_cpu_ns("pbx-relay-");
    let wait0 = thread_wait_ns("pbx-relay-");
    let gen0 = thread_cpu_ns("app-load-gen");
    let rx0 = thread_cpu_ns("app-load-rx");
    let totals0 = relay.totals();
    let (steal0, cpus) = steal_ticks();
    let t0 = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    // Clock ticks are 1/100 s on Linux (USER_HZ).
    let steal_pct = (steal_ticks().0 - steal0) as f64 / (elapsed * 100.0 * cpus as f64) * 100.0;
    let cpu_ns = thread_cpu_ns("pbx-relay-") - cpu0;
    let wait_ns = thread_wait_ns("pbx-relay-") - wait0;
    let wait_pct = wait_ns as f64 / 1e9 / elapsed * 100.0;
    let gen_ns = thread_cpu_ns("app-load-gen") - gen0;
    let rx_ns = thread_cpu_ns("app-load-rx") - rx0;
    let totals = relay.totals();
    let apps = relay.app_stats();
    let win = window(&apps_at_start.per_worker, &apps.per_worker);
    let win_over20_pct = win.late_over_20ms as f64 * 100.0 / win.frames.max(1) as f64;
    stop.store(true, Ordering::Relaxed);
    let (digits_sent, gen_sent, gen_time) = generator.join().unwrap();
    let gen_pps = gen_sent as f64 / gen_time.as_secs_f64();
    let want_pps = sessions as f64 * 50.0;
    let jitter = receiver.join().unwrap();
    let load_end = loadavg();

    let core_pct = cpu_ns as f64 / 1e9 / elapsed * 100.0;
    let per_session_pct = core_pct / sessions as f64;
    let us_per_session_s = cpu_ns as f64 / 1000.0 / elapsed / sessions as f64;
    let mut all: Vec<i64> = Vec::new();
    for offs in &jitter.offsets {
        // The grid is anchored at the leg's earliest-arriving packet: lateness is ≥ 0.
        let min = offs.iter().copied().min().unwrap_or(0);
        all.extend(offs.iter().map(|o| o - min));
    }
    all.sort_unstable();
    let over20 = all.iter().filter(|d| **d > 20_000).count();
    let over20_pct = over20 as f64 * 100.0 / all.len().max(1) as f64;
    println!(
        "app_load sessions={} workers={workers} seconds={elapsed:.1} prompts={} \
         relay_cpu_pct={core_pct:.2} relay_runqueue_wait_pct={wait_pct:.2} steal_pct={steal_pct:.2} core_pct_per_session={per_session_pct:.5} \
         us_cpu_per_session_s={us_per_session_s:.1} generator_cpu_pct={:.2} receiver_cpu_pct={:.2} \
         engine_frames={} engine_p50_us={} engine_p99_us={} engine_p999_us={} engine_max_us={} \
         engine_over20ms_pct={:.4} engine_skipped={} engine_run_p999_us={} engine_run_max_us={} \
         worker_fifo={worker_fifo} phones_fifo={phones_fifo} rx_jitter_p50_us={} rx_jitter_p99_us={} \
         rx_jitter_p999_us={} rx_jitter_max_us={} rx_over20ms_pct={over20_pct:.4} rx_packets={} \
         generator_pps={gen_pps:.0} wanted_pps={want_pps:.0} relay_rx_pps={:.0} relay_tx_pps={:.0} digits_sent={digits_sent} rfc4733_reported={} \
         inband_reported={} load_start={load_start} load_end={load_end}",
        apps.sessions,
        if real { "asterisk-en" } else { "synthetic" },
        gen_ns as f64 / 1e9 / elapsed * 100.0,
        rx_ns as f64 / 1e9 / elapsed * 100.0,
        win.frames,
        win.quantile_us(0.5),
        win.quantile_us(0.99),
        win.p999_us(),
        win.max_late_us,
        win_over20_pct,
        win.skipped,
        apps.p999_us,
        apps.max_late_us,
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        quantile(&all, 0.999),
        all.last().copied().unwrap_or(0),
        jitter.packets,
        (totals.rx_packets - totals0.rx_packets) as f64 / elapsed,
        (totals.tx_packets - totals0.tx_packets) as f64 / elapsed,
        counts.rfc4733.load(Ordering::Relaxed),
        counts.inband.load(Ordering::Relaxed),
    );
    println!(
        "\n{} IVR sessions ({} worker(s)), {elapsed:.0} s measured after {} s warm-up, load average {load_start} → {load_end}\n\
         relay worker CPU: {core_pct:.1} % of one core = {per_session_pct:.4} % per session ({us_per_session_s:.1} µs CPU per session-second); \
         runnable but waiting for a CPU: {wait_pct:.1} % of the time (other load on the machine); \
         CPU time stolen by the hypervisor: {steal_pct:.1} %\n\
         engine lateness (measured interval, {} frames of all workers): p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs, {:.4} % > 20 ms, {} skipped (engine frames before: {}; whole run p99.9 {} µs, max {} µs)\n\
         scheduling: relay workers {}, generator and receiver {}\n\
         receiver jitter vs 20 ms grid ({} packets): p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs, {over20_pct:.4} % > 20 ms\n\
         caller packets: {gen_pps:.0}/s sent by the generator (wanted {want_pps:.0}/s)\n\
         digits: {digits_sent} RFC 4733 sent, {} reported; {} inband reported (false detections in speech)",
        apps.sessions,
        workers,
        WARMUP.as_secs(),
        win.frames,
        win.quantile_us(0.5),
        win.quantile_us(0.99),
        win.p999_us(),
        win.max_late_us,
        win_over20_pct,
        win.skipped,
        apps_at_start.frames,
        apps.p999_us,
        apps.max_late_us,
        if worker_fifo > 0 {
            format!("SCHED_FIFO {worker_fifo}")
        } else {
            "normal".into()
        },
        if phones_fifo > 0 {
            format!("SCHED_FIFO {phones_fifo}")
        } else {
            "normal".into()
        },
        all.len(),
        quantile(&all, 0.5),
        quantile(&all, 0.99),
        quantile(&all, 0.999),
        all.last().copied().unwrap_or(0),
        counts.rfc4733.load(Ordering::Relaxed),
        counts.inband.load(Ordering::Relaxed),
    );
    for leg in legs {
        relay.release(leg);
    }
    relay.shutdown();
}
