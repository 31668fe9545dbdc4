//! The relay between plain UDP sockets playing phones, on loopback. Every wait is bounded.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use pbx_audio::FrameCodec;
use pbx_audio::level::goertzel_dbfs;
use pbx_media::dtmf::{DigitDetector, TelephoneEvent};
use pbx_media::rtp::{self, RtpHeader};
use pbx_media::{g711, tone};
use pbx_relay::{
    Codec, LegId, LegParams, RecordingChunk, Relay, RelayConfig, RelayError, RelayEvent,
    WorkerPriority,
};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Each test gets its own port range so tests can run in parallel.
fn start(first_port: u16, pairs: u16, window: Duration) -> (Relay, Receiver<RelayEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let relay = Relay::start(
        RelayConfig {
            ip: LO,
            advertise: LO,
            first_port,
            last_port: first_port + 2 * pairs - 1,
            workers: 2,
            learn_window: window,
        },
        Box::new(move |e| {
            let _ = tx.lock().unwrap().send(e);
        }),
    )
    .unwrap();
    (relay, rx)
}

fn phone() -> UdpSocket {
    let s = UdpSocket::bind((LO, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn params(remote: &UdpSocket, codec: Codec, pt: u8, dtmf_pt: Option<u8>) -> LegParams {
    LegParams {
        remote: Some(remote.local_addr().unwrap()),
        remote_rtcp: None,
        rtcp_mux: true,
        codec,
        pt,
        dtmf_pt,
        timeout: Duration::from_secs(60),
    }
}

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0; 12];
    rtp::write_header(&mut p, pt, false, seq, ts, ssrc);
    p.extend_from_slice(payload);
    p
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s.recv_from(&mut buf).expect("a packet within 2 s");
    (buf[..n].to_vec(), from)
}

fn recv_rtp(s: &UdpSocket) -> (RtpHeader, Vec<u8>) {
    let (p, _) = recv(s);
    let h = rtp::parse(&p).expect("RTP");
    (h, p[h.payload_range()].to_vec())
}

fn nothing_within(s: &UdpSocket, ms: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
    let mut buf = [0u8; 2048];
    let got = s.recv_from(&mut buf).is_err();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    got
}

/// Two phones A and B on legs a and b, connected.
fn call(
    relay: &Relay,
    codec_a: (Codec, u8),
    codec_b: (Codec, u8),
) -> [(LegId, SocketAddr, UdpSocket); 2] {
    let (pa, pb) = (phone(), phone());
    let (a, la) = relay.allocate(1).unwrap();
    let (b, lb) = relay.allocate(1).unwrap();
    relay.configure(a, params(&pa, codec_a.0, codec_a.1, Some(101)));
    relay.configure(b, params(&pb, codec_b.0, codec_b.1, Some(101)));
    relay.connect(a, b);
    [(a, la, pa), (b, lb, pb)]
}

#[test]
fn packets_flow_both_ways_with_the_relay_s_own_ssrc_seq_and_ts() {
    let (relay, _ev) = start(41000, 8, Duration::from_millis(500));
    let [(a, la, pa), (b, lb, pb)] = call(&relay, (Codec::Pcmu, 0), (Codec::Pcmu, 0));
    let mut first = None;
    for i in 0..5u16 {
        let payload = [i as u8; 160];
        pa.send_to(
            &packet(0, 1000 + i, 8000 + 160 * u32::from(i), 111, &payload),
            la,
        )
        .unwrap();
        let (p, from) = recv(&pb);
        assert_eq!(
            from, lb,
            "B hears the relay from b's own port (symmetric RTP)"
        );
        let h = rtp::parse(&p).unwrap();
        assert_ne!(h.ssrc, 111);
        assert_eq!(&p[h.payload_range()], &payload);
        let (s0, t0, ssrc0) = *first.get_or_insert((h.seq, h.ts, h.ssrc));
        assert_eq!(h.seq, s0.wrapping_add(i));
        assert_eq!(h.ts, t0.wrapping_add(160 * u32::from(i)));
        assert_eq!(h.ssrc, ssrc0);
    }
    pb.send_to(&packet(0, 7, 70, 222, &[9; 160]), lb).unwrap();
    let (h, payload) = recv_rtp(&pa);
    assert_ne!(h.ssrc, 222);
    assert_eq!(payload, [9; 160]);

    let st = relay.stats(a).unwrap();
    assert_eq!((st.rx_packets, st.tx_packets), (5, 1));
    assert_eq!(st.latched, Some(pa.local_addr().unwrap()));
    assert_eq!(st.peer, Some(b));

    relay.disconnect(a);
    relay.stats(a).unwrap(); // barrier: the worker has applied the command
    pa.send_to(&packet(0, 1005, 8800, 111, &[0; 160]), la)
        .unwrap();
    assert!(
        nothing_within(&pb, 300),
        "a disconnected leg forwards nothing"
    );
    let st = relay.stats(a).unwrap();
    assert_eq!((st.rx_packets, st.unforwarded, st.peer), (6, 1, None));
    relay.shutdown();
}

#[test]
fn a_transfer_to_another_leg_keeps_the_outgoing_sequence_continuous() {
    let (relay, _ev) = start(41100, 8, Duration::from_millis(500));
    let [(a, _la, pa), (_b, lb, pb)] = call(&relay, (Codec::Pcmu, 0), (Codec::Pcmu, 0));
    let mut seqs = Vec::new();
    let mut ssrcs = Vec::new();
    for i in 0..5u16 {
        pb.send_to(&packet(0, 100 + i, 160 * u32::from(i), 222, &[1; 160]), lb)
            .unwrap();
        let (h, _) = recv_rtp(&pa);
        seqs.push(h.seq);
        ssrcs.push(h.ssrc);
        assert_eq!(h.marker, i == 0);
    }
    let pc = phone();
    let (c, lc) = relay.allocate(2).unwrap();
    relay.configure(c, params(&pc, Codec::Pcmu, 0, None));
    relay.connect(a, c);
    relay.stats(a).unwrap(); // barrier
    for i in 0..5u16 {
        pc.send_to(
            &packet(0, 60_000 + i, 999 + 160 * u32::from(i), 333, &[2; 160]),
            lc,
        )
        .unwrap();
        let (h, payload) = recv_rtp(&pa);
        assert_eq!(payload, [2; 160]);
        assert_eq!(
            h.marker,
            i == 0,
            "marker on the first packet of the new source"
        );
        seqs.push(h.seq);
        ssrcs.push(h.ssrc);
    }
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1), "{seqs:?}");
    }
    assert!(ssrcs.iter().all(|&s| s == ssrcs[0]));
    pb.send_to(&packet(0, 105, 800, 222, &[1; 160]), lb)
        .unwrap();
    assert!(
        nothing_within(&pa, 300),
        "the old leg is no longer connected"
    );
    relay.shutdown();
}

#[test]
fn pcma_is_transcoded_to_pcmu_and_the_tone_survives() {
    let (relay, _ev) = start(41200, 8, Duration::from_millis(500));
    let [(_a, la, pa), (_b, _lb, pb)] = call(&relay, (Codec::Pcma, 8), (Codec::Pcmu, 0));
    let mut t = tone::Tone::new(1000.0, -10.0, 8000);
    let mut decoded = Vec::new();
    for i in 0..25u16 {
        let mut frame = [0u8; 160];
        t.fill_alaw(&mut frame);
        pa.send_to(&packet(8, i, 160 * u32::from(i), 5, &frame), la)
            .unwrap();
        let (h, payload) = recv_rtp(&pb);
        assert_eq!(h.pt, 0, "B's payload type");
        let mut lin = [0i16; 160];
        g711::decode_ulaw(&payload, &mut lin);
        decoded.extend_from_slice(&lin);
    }
    let at_1k = tone::goertzel(&decoded, 1000.0, 8000);
    assert!(
        (at_1k / t.amplitude() - 1.0).abs() < 0.1,
        "{at_1k} vs {}",
        t.amplitude()
    );
    assert!(tone::goertzel(&decoded, 440.0, 8000) < at_1k / 30.0);
    // Untranscoded A-law bytes read as µ-law would not carry a clean 1 kHz.
    relay.shutdown();
}

/// 1 s of a 1 kHz tone at −12 dBFS, 8 kHz.
fn tone_1k() -> Vec<i16> {
    (0..8000)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(i) / 8000.0).sin()) as i16
        })
        .collect()
}

/// Sends `audio` from `from` to the relay port `to` in 20 ms packets of `codec` with payload type
/// `pt`, and decodes what `rx` receives with `rx_codec` (expecting payload type `rx_pt`).
fn through(
    audio: &[i16],
    (from, to): (&UdpSocket, SocketAddr),
    (mut codec, pt): (FrameCodec, u8),
    (rx, mut rx_codec, rx_pt): (&UdpSocket, FrameCodec, u8),
) -> Vec<i16> {
    let mut heard = Vec::new();
    for (i, chunk) in audio.chunks(160).enumerate() {
        let mut payload = [0u8; 160];
        assert_eq!(codec.encode(chunk, &mut payload).unwrap(), 160);
        let seq = i as u16;
        from.send_to(&packet(pt, seq, 160 * u32::from(seq), 77, &payload), to)
            .unwrap();
        let (h, got) = recv_rtp(rx);
        assert_eq!((h.pt, got.len()), (rx_pt, 160), "payload type and length");
        let mut pcm = [0i16; 160];
        assert_eq!(rx_codec.decode(&got, &mut pcm).unwrap(), 160);
        heard.extend_from_slice(&pcm);
    }
    heard
}

/// The 1 kHz level of `heard` is within 1 dB of `sent`'s and nothing else stands out (the
/// first 100 ms, with the resamplers' delay, are skipped).
fn same_tone(sent: &[i16], heard: &[i16], what: &str) {
    let a = goertzel_dbfs(&sent[800..], 8000, 1000.0);
    let b = goertzel_dbfs(&heard[800..], 8000, 1000.0);
    assert!(
        (a - b).abs() < 1.0,
        "{what}: {a:.2} dBFS sent, {b:.2} heard"
    );
    for f in [440.0, 2000.0, 3000.0] {
        let other = goertzel_dbfs(&heard[800..], 8000, f);
        assert!(other < b - 30.0, "{what}: {other:.1} dBFS at {f} Hz");
    }
}

#[test]
fn a_1khz_tone_crosses_from_g722_to_pcmu_and_back_at_its_level() {
    let (relay, _ev) = start(42300, 8, Duration::from_millis(500));
    let [(_a, la, pa), (_b, lb, pb)] = call(&relay, (Codec::G722, 9), (Codec::Pcmu, 0));
    let tone = tone_1k();
    let heard = through(
        &tone,
        (&pa, la),
        (FrameCodec::g722(), 9),
        (&pb, FrameCodec::Pcmu, 0),
    );
    same_tone(&tone, &heard, "G.722 → PCMU");
    let heard = through(
        &tone,
        (&pb, lb),
        (FrameCodec::Pcmu, 0),
        (&pa, FrameCodec::g722(), 9),
    );
    same_tone(&tone, &heard, "PCMU → G.722");
    relay.shutdown();
}

#[test]
fn g722_with_a_dynamic_payload_type_crosses_to_pcma_and_two_g722_legs_relay_untouched() {
    let (relay, _ev) = start(42400, 8, Duration::from_millis(500));
    let [(_a, la, pa), (_b, lb, pb)] = call(&relay, (Codec::Pcma, 8), (Codec::G722, 109));
    let tone = tone_1k();
    let heard = through(
        &tone,
        (&pb, lb),
        (FrameCodec::g722(), 109),
        (&pa, FrameCodec::Pcma, 8),
    );
    same_tone(&tone, &heard, "G.722 → PCMA");
    let heard = through(
        &tone,
        (&pa, la),
        (FrameCodec::Pcma, 8),
        (&pb, FrameCodec::g722(), 109),
    );
    same_tone(&tone, &heard, "PCMA → G.722");

    let [(_c, lc, pc), (_d, _ld, pd)] = call(&relay, (Codec::G722, 9), (Codec::G722, 9));
    for i in 0..5u16 {
        let payload: Vec<u8> = (0..160)
            .map(|b| (b as u8).wrapping_mul(i as u8 + 3))
            .collect();
        pc.send_to(&packet(9, i, 160 * u32::from(i), 5, &payload), lc)
            .unwrap();
        let (h, got) = recv_rtp(&pd);
        assert_eq!(
            (h.pt, got),
            (9, payload),
            "same codec: the bytes are untouched"
        );
    }
    relay.shutdown();
}

#[test]
fn telephone_events_are_mapped_from_101_to_96_and_reported_once() {
    let (relay, ev) = start(41300, 8, Duration::from_millis(500));
    let (pa, pb) = (phone(), phone());
    let (a, la) = relay.allocate(7).unwrap();
    let (b, _lb) = relay.allocate(7).unwrap();
    relay.configure(a, params(&pa, Codec::Pcmu, 0, Some(101)));
    relay.configure(b, params(&pb, Codec::Pcmu, 0, Some(96)));
    relay.connect(a, b);
    relay.watch_digits(a, true);
    for (seq, (dur, end)) in [
        (160, false),
        (320, false),
        (480, true),
        (480, true),
        (480, true),
    ]
    .into_iter()
    .enumerate()
    {
        let e = TelephoneEvent {
            event: 5,
            end,
            volume: 10,
            duration: dur,
        }
        .to_bytes();
        pa.send_to(&packet(101, seq as u16, 4000, 9, &e), la)
            .unwrap();
        let (h, payload) = recv_rtp(&pb);
        assert_eq!(h.pt, 96);
        assert_eq!(TelephoneEvent::parse(&payload).unwrap().duration, dur);
    }
    let got = ev.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(
        got,
        RelayEvent::Digit {
            leg: a,
            owner: 7,
            digit: '5'
        }
    );
    assert!(
        ev.recv_timeout(Duration::from_millis(300)).is_err(),
        "exactly once"
    );
    relay.shutdown();
}

#[test]
fn a_natted_phone_is_latched_and_a_third_address_bleeds_nothing() {
    let window = Duration::from_millis(400);
    let (relay, _ev) = start(41400, 8, window);
    let private = phone(); // what A's SDP says; A's packets really come from `nat`
    let nat = phone();
    let pb = phone();
    let attacker = phone();
    let (a, la) = relay.allocate(1).unwrap();
    let (b, lb) = relay.allocate(1).unwrap();
    relay.configure(a, params(&private, Codec::Pcmu, 0, None));
    relay.configure(b, params(&pb, Codec::Pcmu, 0, None));
    relay.connect(a, b);

    nat.send_to(&packet(0, 1, 0, 11, &[1; 160]), la).unwrap();
    recv_rtp(&pb);
    pb.send_to(&packet(0, 1, 0, 22, &[2; 160]), lb).unwrap();
    let (_, payload) = recv_rtp(&nat);
    assert_eq!(
        payload, [2; 160],
        "B's audio goes to the NAT address, not the SDP one"
    );
    assert!(nothing_within(&private, 100));

    attacker
        .send_to(&packet(0, 1, 0, 66, &[6; 160]), la)
        .unwrap();
    assert!(
        nothing_within(&pb, 200),
        "bleed within the window is refused"
    );
    std::thread::sleep(window);
    attacker
        .send_to(&packet(0, 2, 160, 66, &[6; 160]), la)
        .unwrap();
    nat.send_to(&packet(0, 2, 160, 11, &[1; 160]), la).unwrap();
    let (_, payload) = recv_rtp(&pb);
    assert_eq!(payload, [1; 160], "only the latched phone gets through");
    let st = relay.stats(a).unwrap();
    assert_eq!(st.dropped, 2);
    assert_eq!(st.latched, Some(nat.local_addr().unwrap()));
    assert_eq!(relay.totals().dropped, 2);
    relay.shutdown();
}

#[test]
fn a_leg_without_rtp_times_out_once() {
    let (relay, ev) = start(41500, 8, Duration::from_millis(500));
    let (pa, pb) = (phone(), phone());
    let (a, _) = relay.allocate(42).unwrap();
    let (b, lb) = relay.allocate(43).unwrap();
    relay.configure(
        a,
        LegParams {
            timeout: Duration::from_millis(300),
            ..params(&pa, Codec::Pcmu, 0, None)
        },
    );
    relay.configure(
        b,
        LegParams {
            timeout: Duration::from_millis(700),
            ..params(&pb, Codec::Pcmu, 0, None)
        },
    );
    relay.connect(a, b);
    let t0 = Instant::now();
    // B keeps talking, so only a times out.
    let mut got = Vec::new();
    while t0.elapsed() < Duration::from_millis(1500) {
        pb.send_to(&packet(0, 1, 0, 5, &[0; 160]), lb).unwrap();
        if let Ok(e) = ev.recv_timeout(Duration::from_millis(50)) {
            got.push((e, t0.elapsed()));
        }
    }
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, RelayEvent::Timeout { leg: a, owner: 42 });
    assert!(got[0].1 >= Duration::from_millis(300), "{:?}", got[0].1);
    relay.shutdown();
}

#[test]
fn rtcp_is_relayed_between_a_muxed_leg_and_a_leg_with_its_own_rtcp_port() {
    let (relay, _ev) = start(41600, 8, Duration::from_millis(500));
    let (pa, pb, pb_rtcp) = (phone(), phone(), phone());
    let (a, la) = relay.allocate(1).unwrap();
    let (b, lb) = relay.allocate(1).unwrap();
    relay.configure(a, params(&pa, Codec::Pcmu, 0, None));
    relay.configure(
        b,
        LegParams {
            rtcp_mux: false,
            remote_rtcp: Some(pb_rtcp.local_addr().unwrap()),
            ..params(&pb, Codec::Pcmu, 0, None)
        },
    );
    relay.connect(a, b);
    // RTP both ways first, so both directions have a mapped source.
    pa.send_to(&packet(0, 1, 0, 0xa, &[0; 160]), la).unwrap();
    let (ha, _) = recv_rtp(&pb); // what B sees from A
    pb.send_to(&packet(0, 1, 0, 0xb, &[0; 160]), lb).unwrap();
    let (hb, _) = recv_rtp(&pa); // what A sees from B

    // A's receiver report (muxed) about B's stream as A sees it.
    let mut rr = vec![0x81, 201, 0, 7];
    rr.extend_from_slice(&0xau32.to_be_bytes());
    rr.extend_from_slice(&hb.ssrc.to_be_bytes());
    rr.extend_from_slice(&[0; 20]);
    pa.send_to(&rr, la).unwrap();
    let (got, from) = recv(&pb_rtcp);
    assert_eq!(from.port(), lb.port() + 1, "sent from b's RTCP port");
    assert_eq!(
        &got[4..8],
        &ha.ssrc.to_be_bytes(),
        "sender is A's stream as B sees it"
    );
    assert_eq!(
        &got[8..12],
        &0xbu32.to_be_bytes(),
        "the block names B's real SSRC"
    );

    // B's sender report on its RTCP port reaches A on the muxed port.
    let mut sr = vec![0x80, 200, 0, 6];
    sr.extend_from_slice(&0xbu32.to_be_bytes());
    sr.extend_from_slice(&[0; 8]);
    sr.extend_from_slice(&0u32.to_be_bytes());
    sr.extend_from_slice(&[0; 8]);
    pb_rtcp
        .send_to(&sr, SocketAddr::new(LO, lb.port() + 1))
        .unwrap();
    let (got, from) = recv(&pa);
    assert_eq!(from, la);
    assert!(rtp::is_rtcp(&got));
    assert_eq!(&got[4..8], &hb.ssrc.to_be_bytes());
    assert_eq!(
        &got[16..20],
        &hb.ts.to_be_bytes(),
        "SR timestamp on A's time line"
    );

    // RTCP from a sender that never sent RTP cannot be mapped: dropped.
    let mut stray = rr.clone();
    stray[4..8].copy_from_slice(&0xdeadu32.to_be_bytes());
    pa.send_to(&stray, la).unwrap();
    assert!(nothing_within(&pb_rtcp, 200));
    relay.shutdown();
}

#[test]
fn an_exhausted_pool_refuses_and_a_released_pair_comes_back_after_resting() {
    let window = Duration::from_millis(200);
    let (relay, _ev) = start(41700, 2, window);
    assert_eq!(relay.capacity(), 2);
    let (a, _) = relay.allocate(1).unwrap();
    let (_b, _) = relay.allocate(1).unwrap();
    assert!(matches!(relay.allocate(1), Err(RelayError::Exhausted)));
    assert_eq!(relay.in_use(), 2);
    relay.release(a);
    let t0 = Instant::now();
    let (c, lc) = loop {
        match relay.allocate(3) {
            Ok(x) => break x,
            Err(RelayError::Exhausted) => {
                assert!(t0.elapsed() < Duration::from_secs(2));
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(t0.elapsed() >= window, "the pair rested first");
    assert_ne!(c, a);
    assert!(relay.stats(a).is_none());
    // The new leg works on the reused pair.
    let p = phone();
    relay.configure(c, params(&p, Codec::Pcmu, 0, None));
    p.send_to(&packet(0, 1, 0, 1, &[0; 160]), lc).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while relay.stats(c).unwrap().rx_packets == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    relay.shutdown();
    assert!(matches!(relay.allocate(1), Err(RelayError::ShutDown)));
}

#[test]
fn a_tap_gets_copies_of_received_packets() {
    let (relay, _ev) = start(41800, 8, Duration::from_millis(500));
    let [(a, la, pa), (_b, _lb, pb)] = call(&relay, (Codec::Pcmu, 0), (Codec::Pcmu, 0));
    let (tx, rx) = mpsc::sync_channel(16);
    relay.set_tap(a, Some(tx));
    for i in 0..3u16 {
        pa.send_to(&packet(0, i, 0, 0x77, &[i as u8; 160]), la)
            .unwrap();
        recv_rtp(&pb);
    }
    for i in 0..3u16 {
        let t = rx.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(t.leg, a);
        assert!(!t.rtcp);
        let h = rtp::parse(&t.data).unwrap();
        assert_eq!(
            (h.ssrc, h.seq),
            (0x77, i),
            "the copy is the packet as received"
        );
    }
    relay.set_tap(a, None);
    // A worker busy reading the socket applies commands at its next wake-up; the stats
    // round trip makes sure it has.
    relay.stats(a).unwrap();
    pa.send_to(&packet(0, 3, 0, 0x77, &[0; 160]), la).unwrap();
    recv_rtp(&pb);
    if let Ok(t) = rx.recv_timeout(Duration::from_millis(200)) {
        panic!("tap after removal: {:?}", rtp::parse(&t.data));
    }
    relay.shutdown();
}

#[test]
fn the_handle_is_send_sync_and_clone_and_ids_are_copy_hash() {
    fn handle<T: Send + Sync + Clone + 'static>() {}
    fn id<T: Copy + Eq + std::hash::Hash + std::fmt::Debug>() {}
    handle::<Relay>();
    id::<LegId>();
}

#[test]
fn an_injected_digit_arrives_as_one_rfc_4733_event_inside_the_relayed_stream() {
    let (relay, _ev) = start(41900, 8, Duration::from_millis(500));
    let [(_a, la, pa), (b, _lb, pb)] = call(&relay, (Codec::Pcmu, 0), (Codec::Pcmu, 0));
    let mut got: Vec<(RtpHeader, Vec<u8>)> = Vec::new();
    std::thread::scope(|s| {
        // A talks every 10 ms for 600 ms, through the whole event.
        s.spawn(|| {
            for i in 0..60u16 {
                pa.send_to(
                    &packet(0, 500 + i, 160 * u32::from(i), 0x51, &[0x55; 160]),
                    la,
                )
                .unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        pb.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = pb.recv_from(&mut buf) {
            let h = rtp::parse(&buf[..n]).expect("RTP");
            got.push((h, buf[h.payload_range()].to_vec()));
            if got.len() == 3 {
                relay
                    .send_digit(b, '7', Duration::from_millis(100))
                    .unwrap();
            }
        }
    });
    let ssrc = got[0].0.ssrc;
    for w in got.windows(2) {
        assert_eq!(w[1].0.seq, w[0].0.seq.wrapping_add(1), "no gap, no repeat");
        assert_eq!(w[1].0.ssrc, ssrc, "one outgoing stream");
    }
    let first_ev = got.iter().position(|(h, _)| h.pt == 101).expect("an event");
    let events: Vec<_> = got[first_ev..]
        .iter()
        .take_while(|(h, _)| h.pt == 101)
        .collect();
    let after = &got[first_ev + events.len()..];
    assert!(
        after.iter().all(|(h, _)| h.pt == 0),
        "no audio between the event's packets, no event packet after its end"
    );
    // 100 ms in 20 ms steps: 4 updates, then 3 end packets.
    assert_eq!(events.len(), 7);
    let mut detector = DigitDetector::new();
    let digits: Vec<char> = events
        .iter()
        .filter_map(|(h, p)| detector.handle_packet(h.ts, p))
        .collect();
    assert_eq!(digits, ['7']);
    let ts = events[0].0.ts;
    assert!(events[0].0.marker && events[1..].iter().all(|(h, _)| !h.marker));
    for (i, (h, p)) in events.iter().enumerate() {
        let e = TelephoneEvent::parse(p).unwrap();
        assert_eq!((h.ts, e.event, e.volume), (ts, 7, 10));
        assert_eq!(e.end, i >= 4, "packet {i}");
        assert_eq!(e.duration, (160 * (i as u16 + 1)).min(800));
    }
    let before = &got[first_ev - 1].0;
    assert!(
        (ts.wrapping_sub(before.ts) as i32) > 0,
        "the event starts after the audio before it"
    );
    let resumed = &after.first().expect("audio after the event").0;
    assert!(resumed.marker, "audio resumes as a new talkspurt");
    assert!(
        (resumed.ts.wrapping_sub(ts) as i32) >= 800,
        "audio resumes after the event's duration"
    );
    relay.shutdown();
}

#[test]
fn a_digit_is_refused_for_a_leg_without_telephone_event_or_an_unknown_one() {
    let (relay, _ev) = start(42000, 8, Duration::from_millis(500));
    let pa = phone();
    let (a, _) = relay.allocate(1).unwrap();
    relay.configure(a, params(&pa, Codec::Pcma, 8, None));
    let d = Duration::from_millis(100);
    assert!(matches!(
        relay.send_digit(a, '1', d),
        Err(RelayError::NoTelephoneEvent)
    ));
    relay.configure(a, params(&pa, Codec::Pcma, 8, Some(101)));
    assert!(matches!(
        relay.send_digit(a, 'x', d),
        Err(RelayError::NotADigit('x'))
    ));
    relay.send_digit(a, '#', d).unwrap();
    // Without any relayed audio the event alone still reaches the phone, starting the stream.
    let (h, p) = recv_rtp(&pa);
    assert_eq!((h.pt, h.marker), (101, true));
    assert_eq!(TelephoneEvent::parse(&p).unwrap().event, 11);
    relay.release(a);
    assert!(matches!(
        relay.send_digit(a, '1', d),
        Err(RelayError::UnknownLeg)
    ));
    relay.shutdown();
}

/// A sink that forwards chunks to a channel the test reads.
fn recording_sink() -> (pbx_relay::RecordingSink, Receiver<RecordingChunk>) {
    let (tx, rx) = mpsc::sync_channel(64);
    (
        Box::new(move |c| {
            let _ = tx.try_send(c);
        }),
        rx,
    )
}

/// Every chunk up to the last one (bounded wait).
fn collect_recording(rx: &Receiver<RecordingChunk>) -> (Vec<i16>, RecordingChunk) {
    let mut all = Vec::new();
    loop {
        let c = rx
            .recv_timeout(Duration::from_secs(3))
            .expect("a chunk within 3 s");
        all.extend_from_slice(&c.samples);
        if c.last {
            return (all, c);
        }
    }
}

#[test]
fn a_call_recording_has_the_callers_tone_on_the_left_and_the_callees_on_the_right() {
    let (relay, _ev) = start(42100, 8, Duration::from_millis(500));
    let [(a, la, pa), (_b, lb, pb)] = call(&relay, (Codec::Pcmu, 0), (Codec::Pcma, 8));
    let (sink, rx) = recording_sink();
    relay.start_call_recording(a, sink);
    relay.stats(a).unwrap();
    let mut caller = tone::Tone::new(440.0, -10.0, 8000);
    let mut callee = tone::Tone::new(1000.0, -10.0, 8000);
    let t0 = Instant::now();
    // 1.5 s of 20 ms packets each way, paced in real time as phones send them.
    for i in 0..75u16 {
        let (mut ua, mut ub) = ([0u8; 160], [0u8; 160]);
        caller.fill_ulaw(&mut ua);
        callee.fill_alaw(&mut ub);
        let ts = 160 * u32::from(i);
        pa.send_to(&packet(0, i, ts, 0xa, &ua), la).unwrap();
        pb.send_to(&packet(8, i, 9000 + ts, 0xb, &ub), lb).unwrap();
        recv_rtp(&pb);
        recv_rtp(&pa);
        let due = t0 + Duration::from_millis(20 * (u64::from(i) + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    // A chunk (one second) arrived while the call went on, before the end.
    let first = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert!(!first.last);
    assert_eq!(first.samples.len(), 16_000, "one second of stereo");
    relay.release(a);
    let (rest, last) = collect_recording(&rx);
    let mut all = first.samples;
    all.extend_from_slice(&rest);
    assert_eq!(last.stats.packets, 150, "{:?}", last.stats);
    assert_eq!(last.stats.late, 0);
    let frames = all.len() / 2;
    // 1.5 s of audio plus the 60 ms lead-in of the jitter buffer, to a 20 ms frame.
    assert!((12_000..=12_800).contains(&frames), "{frames} frames");
    let left: Vec<i16> = all.iter().step_by(2).copied().collect();
    let right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let (l, r) = (&left[800..frames - 800], &right[800..frames - 800]);
    let g = |x: &[i16], f: f64| tone::goertzel(x, f, 8000);
    assert!(
        g(l, 440.0) > 5000.0 && g(l, 1000.0) < 100.0,
        "left: {} {}",
        g(l, 440.0),
        g(l, 1000.0)
    );
    assert!(
        g(r, 1000.0) > 5000.0 && g(r, 440.0) < 100.0,
        "right: {} {}",
        g(r, 1000.0),
        g(r, 440.0)
    );
    relay.shutdown();
}

#[test]
fn a_call_recording_decodes_a_g722_caller_with_a_dynamic_payload_type_beside_a_pcmu_callee() {
    let (relay, _ev) = start(42500, 8, Duration::from_millis(500));
    let [(a, la, pa), (_b, lb, pb)] = call(&relay, (Codec::G722, 110), (Codec::Pcmu, 0));
    let (sink, rx) = recording_sink();
    relay.start_call_recording(a, sink);
    relay.stats(a).unwrap();
    let tone = tone_1k();
    let mut caller = FrameCodec::g722();
    let mut callee = tone::Tone::new(440.0, -10.0, 8000);
    let t0 = Instant::now();
    for i in 0..60u16 {
        let (mut ga, mut ub) = ([0u8; 160], [0u8; 160]);
        let at = usize::from(i % 50) * 160;
        caller.encode(&tone[at..at + 160], &mut ga).unwrap();
        callee.fill_ulaw(&mut ub);
        let ts = 160 * u32::from(i);
        pa.send_to(&packet(110, i, ts, 0xa, &ga), la).unwrap();
        pb.send_to(&packet(0, i, 9000 + ts, 0xb, &ub), lb).unwrap();
        recv_rtp(&pb);
        recv_rtp(&pa);
        let due = t0 + Duration::from_millis(20 * (u64::from(i) + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    relay.stop_call_recording(a);
    let (all, last) = collect_recording(&rx);
    assert_eq!(last.stats.packets, 120, "{:?}", last.stats);
    let frames = all.len() / 2;
    let left: Vec<i16> = all.iter().step_by(2).copied().collect();
    let right: Vec<i16> = all.iter().skip(1).step_by(2).copied().collect();
    let l = &left[1600..frames - 800];
    let sent = goertzel_dbfs(&tone, 8000, 1000.0);
    let heard = goertzel_dbfs(l, 8000, 1000.0);
    assert!(
        (sent - heard).abs() < 1.0,
        "left: {heard:.2} dBFS, sent {sent:.2}"
    );
    assert!(goertzel_dbfs(l, 8000, 440.0) < heard - 30.0);
    let r = &right[1600..frames - 800];
    assert!(goertzel_dbfs(r, 8000, 440.0) > goertzel_dbfs(r, 8000, 1000.0) + 30.0);
    relay.shutdown();
}

#[test]
fn stopping_a_call_recording_or_shutting_down_ends_it_with_a_last_chunk() {
    let (relay, _ev) = start(42200, 8, Duration::from_millis(500));
    let [(a, la, pa), (b, _lb, pb)] = call(&relay, (Codec::Pcmu, 0), (Codec::Pcmu, 0));
    let (sink, rx) = recording_sink();
    relay.start_call_recording(a, sink);
    relay.stats(a).unwrap();
    for i in 0..5u16 {
        pa.send_to(&packet(0, i, 160 * u32::from(i), 1, &[0x10; 160]), la)
            .unwrap();
        recv_rtp(&pb);
    }
    relay.stop_call_recording(a);
    let (samples, last) = collect_recording(&rx);
    assert_eq!(last.stats.packets, 5);
    assert!(samples.len() >= 2 * 800, "the five packets are in it");
    // The other leg records too, until the relay shuts down.
    let (sink, rx) = recording_sink();
    relay.start_call_recording(b, sink);
    relay.stats(b).unwrap();
    pa.send_to(&packet(0, 5, 800, 1, &[0x10; 160]), la).unwrap();
    recv_rtp(&pb);
    relay.stats(b).unwrap();
    relay.shutdown();
    let (_, last) = collect_recording(&rx);
    assert_eq!(
        last.stats.packets, 1,
        "the caller's packet, on b's right channel"
    );
}

#[test]
fn workers_take_a_real_time_priority_or_report_the_refusal_and_packets_still_flow() {
    let (relay, _events) = start(46000, 4, Duration::from_secs(2));
    // Priority 0 is not a real-time priority: every system refuses it, with the worker named.
    match relay.set_worker_priority(WorkerPriority::Fifo(0)) {
        Err(RelayError::Priority { worker: 0, .. }) => {}
        other => panic!("expected worker 0's refusal, got {other:?}"),
    }
    // As root (or with CAP_SYS_NICE) SCHED_FIFO is granted; otherwise it is refused.
    let fifo = relay.set_worker_priority(WorkerPriority::Fifo(5));
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if root {
        assert!(fifo.is_ok(), "{fifo:?}");
    }
    let [(a, la, pa), (b, _, pb)] = call(&relay, (Codec::Pcmu, 0), (Codec::Pcmu, 0));
    pa.send_to(&packet(0, 1, 160, 7, &[0xff; 160]), la).unwrap();
    let (h, _) = recv_rtp(&pb);
    assert_eq!(h.pt, 0);
    relay.set_worker_priority(WorkerPriority::Normal).unwrap();
    relay.release(a);
    relay.release(b);
    relay.shutdown();
    assert!(matches!(
        relay.set_worker_priority(WorkerPriority::Normal),
        Err(RelayError::ShutDown)
    ));
}
