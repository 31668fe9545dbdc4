//! The packet paths allocate nothing: once set up, a leg whose app plays a prompt and hears the
//! caller, and a relayed pair, run for a second with zero allocations in the whole process.
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

fn params(remote: &UdpSocket) -> LegParams {
    LegParams {
        remote: Some(remote.local_addr().unwrap()),
        remote_rtcp: None,
        rtcp_mux: true,
        codec: Codec::Pcmu,
        pt: 0,
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
    let phones: Vec<UdpSocket> = (0..3)
        .map(|_| {
            let s = UdpSocket::bind((LO, 0)).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    let (app, l_app) = relay.allocate(1).unwrap();
    let (a, la) = relay.allocate(2).unwrap();
    let (b, _lb) = relay.allocate(2).unwrap();
    relay.configure(app, params(&phones[0]));
    relay.configure(a, params(&phones[1]));
    relay.configure(b, params(&phones[2]));
    relay.connect(a, b);
    relay
        .attach_app(
            app,
            AppParams {
                inband: InbandMode::Always,
                barge_in: true,
            },
        )
        .unwrap();
    let prompt: std::sync::Arc<[i16]> = (0..80_000).map(|i| ((i % 40) * 500) as i16).collect();
    relay.set_app_source(app, Source::Player(Player::new(vec![prompt], 0)));

    let mut pkt = [0x55u8; 172];
    let mut buf = [0u8; 2048];
    let mut got = [0u64; 3];
    let mut run = |ms: u64, seq0: u16, got: &mut [u64; 3]| {
        let start = Instant::now();
        let mut seq = seq0;
        while start.elapsed() < Duration::from_millis(ms) {
            rtp::write_header(&mut pkt, 0, false, seq, u32::from(seq) * 160, 9);
            phones[0].send_to(&pkt, l_app).unwrap();
            phones[1].send_to(&pkt, la).unwrap();
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
    relay.stats(app).unwrap(); // barrier (allocates; before the count starts)
    let before_got = got;
    let before = ALLOCS.load(Ordering::Relaxed);
    run(1000, seq, &mut got);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert!(
        got[0] - before_got[0] >= 40,
        "the app kept sending: {got:?}"
    );
    assert!(
        got[2] - before_got[2] >= 40,
        "the pair kept relaying: {got:?}"
    );
    assert_eq!(allocs, 0, "allocations during one second of packets");
    relay.shutdown();
}
