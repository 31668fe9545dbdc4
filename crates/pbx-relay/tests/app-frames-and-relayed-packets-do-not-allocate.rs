//! The packet paths allocate nothing: once set up, legs whose app plays a prompt and hears the
//! caller (G.711 and G.722), a relayed G.711 pair and a pair transcoded between G.711 and G.722
//! both ways, run for a second with zero allocations in the whole process.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pbx_media::engine::{InbandMode, Source};
use pbx_media::player::Player;
use pbx_media::rtp;
use pbx_relay::{AppParams, Codec, LegParams, Relay, RelayConfig};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn params(remote: &UdpSocket, codec: Codec) -> LegParams {
    let pt = if codec == Codec::G722 { 9 } else { 0 };
    LegParams {
        remote: Some(remote.local_addr().unwrap()),
        remote_rtcp: None,
        rtcp_mux: true,
        codec,
        pt,
        dtmf_pt: Some(101),
        timeout: Duration::from_secs(60),
    }
}

#[test]
fn app_frames_caller_audio_and_relayed_packets_allocate_nothing() {
    let relay = Relay::start(
        RelayConfig {
            ip: LO,
            advertise: LO,
            first_port: 43800,
            last_port: 43815,
            workers: 1,
            learn_window: Duration::from_millis(100),
        },
        Box::new(|_| {}),
    )
    .unwrap();
    let phones: Vec<UdpSocket> = (0..6)
        .map(|_| {
            let s = UdpSocket::bind((LO, 0)).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    // Legs: an app on G.711, an app on G.722, a G.711 pair, a G.711 ↔ G.722 pair.
    let codecs = [
        Codec::Pcmu,
        Codec::G722,
        Codec::Pcmu,
        Codec::Pcmu,
        Codec::Pcmu,
        Codec::G722,
    ];
    let legs: Vec<_> = (0..6)
        .map(|i| {
            let (leg, local) = relay.allocate(1 + i / 2).unwrap();
            relay.configure(leg, params(&phones[i as usize], codecs[i as usize]));
            (leg, local)
        })
        .collect();
    relay.connect(legs[2].0, legs[3].0);
    relay.connect(legs[4].0, legs[5].0);
    let prompt: std::sync::Arc<[i16]> = (0..80_000).map(|i| ((i % 40) * 500) as i16).collect();
    for (app, _) in &legs[..2] {
        relay
            .attach_app(
                *app,
                AppParams {
                    inband: InbandMode::Always,
                    barge_in: true,
                },
            )
            .unwrap();
        relay.set_app_source(*app, Source::Player(Player::new(vec![prompt.clone()], 0)));
    }
    // Every phone but the G.711 pair's callee sends.
    let senders = [0usize, 1, 2, 4, 5];

    let mut pkt = [0x55u8; 172];
    let mut buf = [0u8; 2048];
    let mut got = [0u64; 6];
    let mut run = |ms: u64, seq0: u16, got: &mut [u64; 6]| {
        let start = Instant::now();
        let mut seq = seq0;
        while start.elapsed() < Duration::from_millis(ms) {
            for &i in &senders {
                let pt = if codecs[i] == Codec::G722 { 9 } else { 0 };
                rtp::write_header(&mut pkt, pt, false, seq, u32::from(seq) * 160, 9);
                phones[i].send_to(&pkt, legs[i].1).unwrap();
            }
            seq = seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
            for (i, p) in phones.iter().enumerate() {
                while p.recv_from(&mut buf).is_ok() {
                    got[i] += 1;
                }
            }
        }
        seq
    };
    // Warm-up: hash maps, socket buffers and the threads' first-use allocations settle.
    let seq = run(500, 0, &mut got);
    relay.stats(legs[0].0).unwrap(); // barrier (allocates; before the count starts)
    let before_got = got;
    let before = ALLOCS.load(Ordering::Relaxed);
    run(1000, seq, &mut got);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    for (i, what) in [
        (0, "the G.711 app kept sending"),
        (1, "the G.722 app kept sending"),
        (3, "the G.711 pair kept relaying"),
        (4, "G.722 kept being transcoded to G.711"),
        (5, "G.711 kept being transcoded to G.722"),
    ] {
        assert!(got[i] - before_got[i] >= 40, "{what}: {got:?}");
    }
    assert_eq!(allocs, 0, "allocations during one second of packets");
    relay.shutdown();
}
