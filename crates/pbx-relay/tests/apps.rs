//! Media applications on relay legs (prompts, digits, music on hold, recording), between plain
//! UDP sockets playing phones on loopback. Every wait is bounded.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use pbx_audio::FrameCodec;
use pbx_media::dtmf::TelephoneEvent;
use pbx_media::engine::{DigitSource, InbandMode, Source};
use pbx_media::player::{MohSource, Player, Prompt};
use pbx_media::record::{RecordEnd, Recorder, SilenceEnd};
use pbx_media::rtp::{self, RtpHeader};
use pbx_media::{g711, inband, tone};
use pbx_relay::{
    AppEvent, AppParams, Codec, LegId, LegParams, Relay, RelayConfig, RelayError, RelayEvent,
};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Each test gets its own port range so tests can run in parallel.
fn start(first_port: u16) -> (Relay, Receiver<RelayEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let relay = Relay::start(
        RelayConfig {
            ip: LO,
            advertise: LO,
            first_port,
            last_port: first_port + 2 * 8 - 1,
            workers: 2,
            learn_window: Duration::from_millis(500),
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

fn params(remote: &UdpSocket, codec: Codec, pt: u8) -> LegParams {
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

fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0; 12];
    rtp::write_header(&mut p, pt, false, seq, ts, ssrc);
    p.extend_from_slice(payload);
    p
}

fn recv(s: &UdpSocket) -> (RtpHeader, Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 2048];
    let (n, from) = s.recv_from(&mut buf).expect("a packet within 2 s");
    let h = rtp::parse(&buf[..n]).expect("RTP");
    (h, buf[h.payload_range()].to_vec(), from)
}

fn quiet_for(s: &UdpSocket, ms: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(ms))).unwrap();
    let mut buf = [0u8; 2048];
    let got = s.recv_from(&mut buf).is_err();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    got
}

/// Reads and throws away whatever is queued on `s`.
fn drain(s: &UdpSocket) {
    while !quiet_for(s, 60) {}
}

fn ulaw_pcm(payload: &[u8]) -> Vec<i16> {
    let mut pcm = vec![0i16; payload.len()];
    g711::decode_ulaw(payload, &mut pcm);
    pcm
}

fn sine(freq: f64, samples: usize) -> Prompt {
    let mut t = tone::Tone::new(freq, -10.0, 8000);
    let mut v = vec![0i16; samples];
    t.fill_linear(&mut v);
    v.into()
}

/// The next app event within 2 s (other events are skipped).
fn app_event(ev: &Receiver<RelayEvent>) -> (LegId, u64, AppEvent) {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match ev.recv_timeout(left).expect("an app event within 2 s") {
            RelayEvent::App { leg, owner, event } => return (leg, owner, event),
            _ => continue,
        }
    }
}

#[test]
fn an_app_playing_a_1khz_prompt_sends_50_pcmu_packets_a_second_with_continuous_seq_and_ts() {
    let (relay, ev) = start(43000);
    let p = phone();
    let (leg, local) = relay.allocate(7).unwrap();
    relay.configure(leg, params(&p, Codec::Pcmu, 0));
    relay.attach_app(leg, AppParams::default()).unwrap();
    relay.set_app_source(
        leg,
        Source::Player(Player::new(vec![sine(1000.0, 8000)], 0)),
    );
    let mut got: Vec<(Instant, RtpHeader, Vec<u8>)> = Vec::new();
    let until = Instant::now() + Duration::from_millis(1400);
    while Instant::now() < until {
        let (h, payload, from) = recv(&p);
        assert_eq!(from, local, "sent from the leg's own port");
        assert_eq!((h.pt, h.payload_len), (0, 160));
        got.push((Instant::now(), h, payload));
    }
    for w in got.windows(2) {
        assert_eq!(w[1].1.seq, w[0].1.seq.wrapping_add(1));
        assert_eq!(w[1].1.ts, w[0].1.ts.wrapping_add(160));
        assert_eq!(w[1].1.ssrc, w[0].1.ssrc);
    }
    // 50 packets a second (a couple of scheduling jitters either way).
    let span = got.last().unwrap().0 - got[0].0;
    let rate = (got.len() - 1) as f64 / span.as_secs_f64();
    assert!((45.0..55.0).contains(&rate), "{rate} packets/s");
    // Silence may lead (the source reaches the worker a wake-up after the app), then the
    // prompt: one second of 1 kHz.
    let audio: Vec<i16> = got.iter().flat_map(|g| ulaw_pcm(&g.2)).collect();
    let start = audio.iter().position(|s| s.abs() > 100).unwrap();
    let prompt = &audio[start..start + 8000];
    let amp = tone::Tone::new(1000.0, -10.0, 8000).amplitude();
    assert!(tone::goertzel(prompt, 1000.0, 8000) > 0.9 * amp);
    assert!(tone::goertzel(prompt, 440.0, 8000) < 0.05 * amp);
    assert!(
        audio[start + 8000..].iter().all(|s| s.abs() < 10),
        "silence after"
    );
    assert_eq!(
        app_event(&ev),
        (leg, 7, AppEvent::PlayDone { stopped: false })
    );
    let st = relay.stats(leg).unwrap();
    assert!(st.tx_packets >= got.len() as u64);
    let apps = relay.app_stats();
    assert_eq!(apps.sessions, 1);
    assert!(apps.frames >= got.len() as u64);
    relay.shutdown();
}

#[test]
fn inband_and_rfc4733_digits_sent_to_an_app_leg_come_back_as_events_and_barge_in() {
    let (relay, ev) = start(43100);
    let p = phone();
    let (leg, local) = relay.allocate(9).unwrap();
    relay.configure(leg, params(&p, Codec::Pcmu, 0));
    relay.attach_app(leg, AppParams::default()).unwrap();
    relay.set_app_source(
        leg,
        Source::Player(Player::new(vec![sine(500.0, 80_000)], 0)),
    );
    // Inband '7': 100 ms of the key's two tones, then silence.
    for (i, pcm) in (0u16..).zip(key_frames('7')) {
        let mut pay = [0u8; 160];
        g711::encode_ulaw(&pcm, &mut pay);
        p.send_to(&packet(0, i, u32::from(i) * 160, 55, &pay), local)
            .unwrap();
    }
    let digit = AppEvent::Digit {
        digit: '7',
        source: DigitSource::Inband,
    };
    assert_eq!(app_event(&ev), (leg, 9, digit));
    assert_eq!(
        app_event(&ev),
        (leg, 9, AppEvent::PlayDone { stopped: true }),
        "the digit stopped the prompt (barge-in)"
    );
    // RFC 4733 '#', its end packet sent three times: one digit.
    for (seq, end) in [(20u16, false), (21, true), (22, true), (23, true)] {
        let e = TelephoneEvent {
            event: 11,
            end,
            volume: 10,
            duration: 800,
        };
        p.send_to(&packet(101, seq, 9000, 55, &e.to_bytes()), local)
            .unwrap();
    }
    let digit = AppEvent::Digit {
        digit: '#',
        source: DigitSource::Rfc4733,
    };
    assert_eq!(app_event(&ev), (leg, 9, digit));
    assert!(ev.recv_timeout(Duration::from_millis(300)).is_err());
    let st = relay.stats(leg).unwrap();
    assert_eq!(st.rx_packets, 14);
    relay.shutdown();
}

#[test]
fn music_on_hold_replaces_the_peer_s_audio_and_detach_brings_it_back_with_continuous_seq() {
    let (relay, _ev) = start(43200);
    let (pa, pb) = (phone(), phone());
    let (a, _la) = relay.allocate(1).unwrap();
    let (b, lb) = relay.allocate(1).unwrap();
    relay.configure(a, params(&pa, Codec::Pcmu, 0));
    relay.configure(b, params(&pb, Codec::Pcma, 8));
    relay.connect(a, b);
    let peer_payload = [0x55u8; 160]; // A-law of B; arrives at A as the µ-law of the same value
    let mut ulaw_of_peer = [0x55u8; 160];
    g711::alaw_to_ulaw_in_place(&mut ulaw_of_peer);
    let mut seqs = Vec::new();
    let mut ssrcs = Vec::new();
    let mut b_seq = 100u16;
    let mut send_b = |n: u16| {
        for _ in 0..n {
            pb.send_to(
                &packet(8, b_seq, u32::from(b_seq) * 160, 222, &peer_payload),
                lb,
            )
            .unwrap();
            b_seq = b_seq.wrapping_add(1);
        }
    };
    send_b(3);
    for _ in 0..3 {
        let (h, payload, _) = recv(&pa);
        assert_eq!(payload, ulaw_of_peer);
        seqs.push(h.seq);
        ssrcs.push(h.ssrc);
    }
    // Hold: A hears music (440 Hz) from a playlist, B keeps talking.
    let playlist: Arc<[Prompt]> = vec![sine(440.0, 4000), sine(440.0, 4000)].into();
    relay
        .attach_app(
            a,
            AppParams {
                inband: InbandMode::Off,
                barge_in: false,
            },
        )
        .unwrap();
    relay.set_app_source(a, Source::Moh(MohSource::new(playlist, 0)));
    relay.stats(a).unwrap(); // barrier: the worker has the app
    let mut music = Vec::new();
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        send_b(1);
        let (h, payload, _) = recv(&pa);
        assert_ne!(
            payload, ulaw_of_peer,
            "the held party does not hear the peer"
        );
        assert_eq!(h.pt, 0);
        seqs.push(h.seq);
        ssrcs.push(h.ssrc);
        music.extend(ulaw_pcm(&payload));
        std::thread::sleep(Duration::from_millis(10));
    }
    // Leading silence frames (app before source) aside, it is the music.
    let start = music.iter().position(|s| s.abs() > 100).unwrap();
    let amp = tone::Tone::new(440.0, -10.0, 8000).amplitude();
    assert!(music.len() - start >= 4000);
    assert!(tone::goertzel(&music[start..start + 4000], 440.0, 8000) > 0.9 * amp);
    // A's own audio still reaches B while A is held.
    drain(&pb);
    pa.send_to(&packet(0, 1, 160, 111, &[0x11; 160]), _la)
        .unwrap();
    let (_, to_b, _) = recv(&pb);
    assert_eq!(to_b.len(), 160);

    relay.detach_app(a);
    relay.stats(a).unwrap(); // barrier
    // Frames sent just before the detach may still be queued on A's socket.
    while !quiet_for(&pa, 60) {}
    let mut tail = Vec::new();
    // What A already received is in `seqs` but drained packets are not: compare from here on
    // with what the relay's stats say was sent.
    send_b(5);
    for _ in 0..5 {
        let (h, payload, _) = recv(&pa);
        assert_eq!(payload, ulaw_of_peer, "the peer is heard again");
        tail.push(h.seq);
        ssrcs.push(h.ssrc);
    }
    for w in seqs.windows(2).chain(tail.windows(2)) {
        assert_eq!(w[1], w[0].wrapping_add(1), "{seqs:?} {tail:?}");
    }
    let st = relay.stats(a).unwrap();
    // Every packet A's socket ever got was numbered +1 from the first: the last number tells
    // how many were sent, and the stats agree.
    let sent = tail.last().unwrap().wrapping_sub(seqs[0]) as u64 + 1;
    assert_eq!(st.tx_packets, sent);
    assert!(ssrcs.iter().all(|s| *s == ssrcs[0]), "one SSRC throughout");
    relay.shutdown();
}

#[test]
fn a_voicemail_recording_ends_on_silence_and_reports_its_samples() {
    let (relay, ev) = start(43300);
    let p = phone();
    let (leg, local) = relay.allocate(3).unwrap();
    relay.configure(leg, params(&p, Codec::Pcmu, 0));
    relay.attach_app(leg, AppParams::default()).unwrap();
    relay.start_app_recording(
        leg,
        Recorder::new(
            60_000,
            Some(SilenceEnd {
                level_dbfs: -45.0,
                duration_ms: 1000,
            }),
        ),
    );
    relay.stats(leg).unwrap(); // barrier: the recorder is in place
    let mut t = tone::Tone::new(440.0, -10.0, 8000);
    for i in 0..80u16 {
        let mut pay = [0xffu8; 160];
        if i < 25 {
            t.fill_ulaw(&mut pay);
        }
        p.send_to(&packet(0, i, u32::from(i) * 160, 77, &pay), local)
            .unwrap();
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(5)); // keep the socket buffer shallow
        }
    }
    let (l, owner, event) = app_event(&ev);
    assert_eq!((l, owner), (leg, 3));
    let AppEvent::RecordDone { end, samples } = event else {
        panic!("{event:?}");
    };
    assert_eq!(end, RecordEnd::Silence);
    assert_eq!(samples.len(), 25 * 160, "trailing silence trimmed");
    let amp = tone::Tone::new(440.0, -10.0, 8000).amplitude();
    assert!(tone::goertzel(&samples, 440.0, 8000) > 0.9 * amp);
    relay.shutdown();
}

#[test]
fn a_recording_stopped_by_the_server_reports_what_was_recorded() {
    let (relay, ev) = start(43400);
    let p = phone();
    let (leg, local) = relay.allocate(4).unwrap();
    relay.configure(leg, params(&p, Codec::Pcmu, 0));
    relay.attach_app(leg, AppParams::default()).unwrap();
    relay.start_app_recording(leg, Recorder::new(60_000, None));
    relay.stats(leg).unwrap();
    let mut t = tone::Tone::new(440.0, -10.0, 8000);
    for i in 0..10u16 {
        let mut pay = [0u8; 160];
        t.fill_ulaw(&mut pay);
        p.send_to(&packet(0, i, u32::from(i) * 160, 77, &pay), local)
            .unwrap();
    }
    let until = Instant::now() + Duration::from_secs(2);
    while relay.stats(leg).unwrap().rx_packets < 10 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    relay.stop_app_recording(leg);
    let (_, _, event) = app_event(&ev);
    assert_eq!(
        event,
        AppEvent::RecordDone {
            end: RecordEnd::Stopped,
            samples: {
                let mut t = tone::Tone::new(440.0, -10.0, 8000);
                let mut all = Vec::new();
                for _ in 0..10 {
                    let mut pay = [0u8; 160];
                    t.fill_ulaw(&mut pay);
                    all.extend(ulaw_pcm(&pay));
                }
                all
            }
        }
    );
    relay.shutdown();
}

#[test]
fn releasing_a_leg_with_an_app_stops_its_audio_and_its_events() {
    let (relay, ev) = start(43500);
    let p = phone();
    let (leg, local) = relay.allocate(5).unwrap();
    relay.configure(leg, params(&p, Codec::Pcmu, 0));
    relay.attach_app(leg, AppParams::default()).unwrap();
    relay.set_app_source(
        leg,
        Source::Player(Player::new(vec![sine(1000.0, 80_000)], 0)),
    );
    relay.start_app_recording(leg, Recorder::new(60_000, None));
    recv(&p);
    recv(&p);
    assert_eq!(relay.app_stats().sessions, 1);
    relay.release(leg);
    // The packet sent now would be a digit (and stop the prompt) if the app still listened.
    let e = TelephoneEvent {
        event: 1,
        end: true,
        volume: 10,
        duration: 800,
    };
    let _ = p.send_to(&packet(101, 1, 1, 5, &e.to_bytes()), local);
    let until = Instant::now() + Duration::from_secs(2);
    while relay.app_stats().sessions != 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(relay.app_stats().sessions, 0);
    drain(&p);
    assert!(quiet_for(&p, 300), "no audio after release");
    assert!(
        ev.recv_timeout(Duration::from_millis(300)).is_err(),
        "no event after release"
    );
    assert!(relay.stats(leg).is_none());
    relay.shutdown();
}

#[test]
fn a_codec_change_restarts_the_app_in_the_new_codec_on_the_same_stream() {
    let (relay, _ev) = start(43700);
    let p = phone();
    let (leg, _) = relay.allocate(1).unwrap();
    relay.configure(leg, params(&p, Codec::Pcmu, 0));
    relay.attach_app(leg, AppParams::default()).unwrap();
    let playlist: Arc<[Prompt]> = vec![sine(440.0, 8000)].into();
    relay.set_app_source(leg, Source::Moh(MohSource::new(playlist, 0)));
    let mut last = None;
    for _ in 0..10 {
        let (h, _, _) = recv(&p);
        assert_eq!(h.pt, 0);
        last = Some(h);
    }
    relay.configure(leg, params(&p, Codec::Pcma, 8));
    relay.stats(leg).unwrap(); // barrier
    let mut seq = last.unwrap().seq;
    let ssrc = last.unwrap().ssrc;
    let mut alaw = Vec::new();
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        let (h, payload, _) = recv(&p);
        assert_eq!(h.seq, seq.wrapping_add(1), "the sequence goes on");
        assert_eq!(h.ssrc, ssrc);
        seq = h.seq;
        if h.pt == 8 {
            let mut pcm = vec![0i16; payload.len()];
            g711::decode_alaw(&payload, &mut pcm);
            alaw.extend(pcm);
        } else {
            assert_eq!(h.pt, 0, "µ-law frames sent before the change was applied");
            assert!(alaw.is_empty(), "no µ-law after the first A-law frame");
        }
    }
    assert!(alaw.len() >= 4000);
    let amp = tone::Tone::new(440.0, -10.0, 8000).amplitude();
    assert!(tone::goertzel(&alaw[..4000], 440.0, 8000) > 0.9 * amp);
    relay.shutdown();
}

#[test]
fn an_app_needs_a_g711_or_g722_leg() {
    let (relay, _ev) = start(43600);
    let p = phone();
    let (leg, _) = relay.allocate(1).unwrap();
    relay.configure(leg, params(&p, Codec::Other(9), 9));
    assert!(matches!(
        relay.attach_app(leg, AppParams::default()),
        Err(RelayError::AppCodec)
    ));
    relay.release(leg);
    assert!(matches!(
        relay.attach_app(leg, AppParams::default()),
        Err(RelayError::UnknownLeg)
    ));
    relay.shutdown();
}

#[test]
fn an_app_on_a_g722_leg_plays_its_8khz_prompt_in_g722_and_hears_an_inband_digit() {
    let (relay, ev) = start(43900);
    let p = phone();
    let (leg, local) = relay.allocate(5).unwrap();
    relay.configure(leg, params(&p, Codec::G722, 9));
    relay.attach_app(leg, AppParams::default()).unwrap();
    relay.set_app_source(
        leg,
        Source::Player(Player::new(vec![sine(1000.0, 8000)], 0)),
    );
    let mut phone_codec = FrameCodec::g722();
    let mut audio = Vec::new();
    let until = Instant::now() + Duration::from_millis(1300);
    while Instant::now() < until {
        let (h, payload, _) = recv(&p);
        assert_eq!(
            (h.pt, h.payload_len),
            (9, 160),
            "G.722, 160 bytes per 20 ms"
        );
        let mut pcm = [0i16; 160];
        phone_codec.decode(&payload, &mut pcm).unwrap();
        audio.extend_from_slice(&pcm);
    }
    let start = audio.iter().position(|s| s.abs() > 100).unwrap();
    let prompt = &audio[start + 400..start + 7600];
    let amp = tone::Tone::new(1000.0, -10.0, 8000).amplitude();
    let level = tone::goertzel(prompt, 1000.0, 8000) / amp;
    assert!(
        (0.9..1.1).contains(&level),
        "1 kHz at {level:.3} of its amplitude"
    );
    assert!(tone::goertzel(prompt, 440.0, 8000) < 0.02 * amp);
    assert_eq!(
        app_event(&ev),
        (leg, 5, AppEvent::PlayDone { stopped: false })
    );
    // The caller presses '4' (inband, G.722).
    for (i, pcm) in (0u16..).zip(key_frames('4')) {
        let mut pay = [0u8; 160];
        phone_codec.encode(&pcm, &mut pay).unwrap();
        p.send_to(&packet(9, i, u32::from(i) * 160, 55, &pay), local)
            .unwrap();
    }
    let digit = AppEvent::Digit {
        digit: '4',
        source: DigitSource::Inband,
    };
    assert_eq!(app_event(&ev), (leg, 5, digit));
    relay.shutdown();
}

/// Ten 20 ms frames of `key` pressed inband: 100 ms of its two tones at -10 dBm0 each, then
/// silence.
fn key_frames(key: char) -> Vec<[i16; 160]> {
    let (r, c) = inband::key_frequencies(key).unwrap();
    let mut lo = tone::Tone::new(f64::from(r), -10.0, 8000);
    let mut hi = tone::Tone::new(f64::from(c), -10.0, 8000);
    (0..10)
        .map(|i| {
            let mut pcm = [0i16; 160];
            if i < 5 {
                for s in pcm.iter_mut() {
                    *s = lo.next_sample() + hi.next_sample();
                }
            }
            pcm
        })
        .collect()
}
