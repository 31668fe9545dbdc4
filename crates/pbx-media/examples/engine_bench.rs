//! Media engine micro benchmark: N IVR sessions (prompt playback out, inband + RFC 4733 DTMF
//! detection in) for a span of audio, in virtual time, on one thread.
//!
//! ```text
//! cargo run --release -p pbx-media --example engine_bench -- [SESSIONS] [SECONDS] [--realtime] [--no-inband]
//! ```
//!
//! Prints the CPU time the engine took per session-second of audio (measured with
//! `std::time::Instant` around the engine calls only) and the digits found, which must be
//! every digit sent (`--no-inband` turns the inband detector off, to show its share). With `--realtime` the loop instead sleeps until each deadline, like a
//! relay worker would, and prints the frame lateness the engine measured (this depends on the
//! machine's load and the OS timer, not only on the engine).

use std::path::Path;
use std::time::{Duration, Instant};

use pbx_media::dtmf::TelephoneEvent;
use pbx_media::engine::{DigitSource, Engine, EngineEvent, InbandMode, SessionParams, Source};
use pbx_media::player::{Player, Prompt};
use pbx_media::record::{CallRecorder, Codec, Leg, RecordLayout, RecordedFrame};
use pbx_media::tone::Tone;
use pbx_media::{g711, rtp};

/// 16-bit mono 8 kHz samples of a PCM WAV file (the simple RIFF layout of the Asterisk files).
fn read_wav(path: &Path) -> Option<Vec<i16>> {
    let b = std::fs::read(path).ok()?;
    let mut at = 12;
    while at + 8 <= b.len() {
        let len = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]) as usize;
        if &b[at..at + 4] == b"data" {
            let body = &b[at + 8..(at + 8 + len).min(b.len())];
            return Some(
                body.chunks_exact(2)
                    .map(|x| i16::from_le_bytes([x[0], x[1]]))
                    .collect(),
            );
        }
        at += 8 + len + (len & 1);
    }
    None
}

/// A prompt: an Asterisk recording when installed, else 10 s of a 440 Hz tone.
fn prompt(name: &str) -> Prompt {
    let p = Path::new("/usr/share/asterisk/sounds/en_US_f_Allison").join(name);
    read_wav(&p)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let mut t = Tone::new(440.0, -15.0, 8000);
            let mut v = vec![0i16; 80_000];
            t.fill_linear(&mut v);
            v
        })
        .into()
}

/// What the caller sends: speech with an inband DTMF key every 5 s, and an RFC 4733 key
/// every 5 s (offset by 2.5 s). Returns packets per 20 ms frame (one audio packet, maybe an
/// event packet) and the digits sent.
fn caller_stream(frames: usize, speech: &[i16]) -> (Vec<Vec<Vec<u8>>>, usize, usize) {
    let mut out = Vec::with_capacity(frames);
    let (mut inband, mut rfc) = (0, 0);
    let keys = b"0123456789*#";
    for f in 0..frames {
        let mut pcm = [0i16; 160];
        for (i, s) in pcm.iter_mut().enumerate() {
            *s = speech[(f * 160 + i) % speech.len()] / 2;
        }
        // Inband key: 100 ms of tone (5 frames) every 250 frames, replacing the speech.
        let k = f / 250;
        if f % 250 < 5 {
            let key = char::from(keys[k % keys.len()]);
            let (r, c) = pbx_media::inband::key_frequencies(key).expect("a DTMF key");
            let mut lo = Tone::new(f64::from(r), -10.0, 8000);
            let mut hi = Tone::new(f64::from(c), -10.0, 8000);
            for _ in 0..(f % 250) * 160 {
                lo.next_sample();
                hi.next_sample();
            }
            for s in pcm.iter_mut() {
                *s = lo.next_sample() + hi.next_sample();
            }
            if f % 250 == 0 {
                inband += 1;
            }
        }
        // Keep 100 ms of silence after each key so the next speech does not extend it.
        if (5..10).contains(&(f % 250)) {
            pcm = [0; 160];
        }
        let mut payload = [0u8; 160];
        g711::encode_ulaw(&pcm, &mut payload);
        let mut frame_packets = Vec::new();
        let mut p = vec![0u8; 12];
        rtp::write_header(&mut p, 0, false, f as u16, (f * 160) as u32, 0x1234);
        p.extend_from_slice(&payload);
        frame_packets.push(p);
        // RFC 4733: an event of 5 packets starting at frames 125, 375, ...
        let e = (f + 125) % 250;
        if f >= 125 && e < 5 {
            let start = f - e;
            let ev = TelephoneEvent {
                event: ((f + 125) / 250 % 12) as u8,
                end: e >= 2,
                volume: 10,
                duration: (160 * (e.min(2) + 1)) as u16,
            };
            let mut p = vec![0u8; 12];
            rtp::write_header(&mut p, 101, e == 0, f as u16, (start * 160) as u32, 0x1234);
            p.extend_from_slice(&ev.to_bytes());
            frame_packets.push(p);
            if e == 0 {
                rfc += 1;
            }
        }
        out.push(frame_packets);
    }
    (out, inband, rfc)
}

/// CPU time (user + system) of this process so far, from /proc (Linux; 10 ms resolution).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let realtime = args.iter().any(|a| a == "--realtime");
    let no_inband = args.iter().any(|a| a == "--no-inband");
    let nums: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sessions = nums.first().copied().unwrap_or(1000) as usize;
    let seconds = nums.get(1).copied().unwrap_or(60);
    let frames = (seconds * 50) as usize;

    let prompts: Vec<Prompt> = [
        "vm-intro.wav",
        "pls-enter-vm-password.wav",
        "vm-goodbye.wav",
    ]
    .iter()
    .map(|n| prompt(n))
    .collect();
    let speech = prompt("conf-unmuted.wav");
    let (stream, inband_sent, rfc_sent) = caller_stream(frames, &speech);
    println!(
        "engine_bench: {sessions} sessions, {seconds} s of audio, prompts {} samples, {} inband + {} RFC 4733 keys per session, {}",
        prompts.iter().map(|p| p.len()).sum::<usize>(),
        inband_sent,
        rfc_sent,
        if realtime {
            "real time"
        } else {
            "virtual time"
        }
    );

    let t0 = 1_000_000u64;
    let mut engine = Engine::new(t0);
    let ids: Vec<_> = (0..sessions)
        .map(|i| {
            let id = engine.add(SessionParams {
                codec: Codec::Pcmu,
                pt: 0,
                telephone_event_pt: Some(101),
                ssrc: i as u32,
                first_seq: 0,
                first_ts: 0,
                inband: if no_inband {
                    InbandMode::Off
                } else {
                    InbandMode::Always
                },
                barge_in: false,
            });
            engine.set_source(
                id,
                Source::Player(Player::new(prompts.clone(), 500).repeat(1000)),
            );
            id
        })
        .collect();
    // Sessions are placed round-robin over the 20 slots (the least loaded first): i % 20. The
    // caller's packets arrive in the same phase as ours leave.
    let slot_of: Vec<u64> = (0..sessions).map(|i| (i % 20) as u64).collect();

    let mut sent_bytes = 0u64;
    let mut digits = [0u64; 2];
    let mut busy = Duration::ZERO;
    let wall = Instant::now();
    let cpu0 = process_cpu();
    let start_rt = Instant::now();
    let end_us = t0 + seconds * 1_000_000;
    let mut now = t0;
    while now < end_us {
        if realtime {
            let target = start_rt + Duration::from_micros(now - t0);
            if let Some(d) = target.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
        let ms = (now - t0) / 1000;
        let period = ((now - t0) / 20_000) as usize;
        let slot = ms % 20;
        let t = Instant::now();
        let clock = if realtime {
            t0 + start_rt.elapsed().as_micros() as u64
        } else {
            now
        };
        // Received packets of the sessions in this slot.
        if period < stream.len() {
            for (i, id) in ids.iter().enumerate() {
                if slot_of[i] != slot {
                    continue;
                }
                for p in &stream[period] {
                    if let Some(EngineEvent::Digit { source, .. }) = engine.on_rtp(*id, clock, p) {
                        digits[(source == DigitSource::Inband) as usize] += 1;
                    }
                }
            }
        }
        engine.tick(clock, &mut |_, p| sent_bytes += p.len() as u64);
        while engine.poll_event().is_some() {}
        busy += t.elapsed();
        now += 1000;
    }
    let cpu = cpu0.zip(process_cpu()).map(|(a, b)| b.saturating_sub(a));
    let session_seconds = sessions as f64 * seconds as f64;
    if let Some(cpu) = cpu {
        println!(
            "process CPU: {:.2} s, {:.2} µs per session-second = {:.4} % of one core per session \
             (includes the caller simulation; the figure to quote on a shared machine)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / session_seconds,
            cpu.as_secs_f64() * 100.0 / session_seconds
        );
    }
    let st = engine.stats();
    println!(
        "engine time (Instant around engine calls, includes preemption): {:.1} ms, {:.2} µs per session-second; wall {:.1} s",
        busy.as_secs_f64() * 1e3,
        busy.as_secs_f64() * 1e6 / session_seconds,
        wall.elapsed().as_secs_f64()
    );
    println!(
        "digits: {} RFC 4733 (sent {}), {} inband (sent {}); {} packets sent",
        digits[0],
        rfc_sent * sessions,
        digits[1],
        inband_sent * sessions,
        sent_bytes / 172
    );
    println!(
        "lateness: {} frames, p99.9 {} µs, max {} µs, {} > 20 ms ({:.4} %), {} skipped",
        st.frames,
        st.p999_us(),
        st.max_late_us,
        st.late_over_20ms,
        st.late_over_20ms as f64 * 100.0 / st.frames.max(1) as f64,
        st.skipped
    );
    let inband_want = if no_inband { 0 } else { inband_sent * sessions };
    record_bench(sessions, seconds, &stream);
    if digits[0] != (rfc_sent * sessions) as u64 || digits[1] != inband_want as u64 {
        eprintln!("digit count mismatch");
        std::process::exit(1);
    }
}

/// The CPU a call recording adds: `calls` two-leg recorders fed 50 packets/s per leg, polled
/// every 20 ms, producing stereo frames (what the server stores; the WAV writing is not
/// counted).
fn record_bench(calls: usize, seconds: u64, stream: &[Vec<Vec<u8>>]) {
    let mut recs: Vec<CallRecorder> = (0..calls)
        .map(|_| CallRecorder::new(RecordLayout::Stereo, 60, &[]))
        .collect();
    let mut samples = 0u64;
    let cpu0 = process_cpu();
    let t = Instant::now();
    for (f, packets) in stream.iter().enumerate().take((seconds * 50) as usize) {
        let now = f as u64 * 20_000;
        let audio = &packets[0];
        for r in recs.iter_mut() {
            r.push(Leg::A, now, audio);
            r.push(Leg::B, now + 3_000, audio);
            r.poll(now, &mut |fr: RecordedFrame<'_>| {
                samples += fr.stereo.map_or(0, |s| s.len() as u64);
            });
        }
    }
    let busy = t.elapsed();
    let call_seconds = calls as f64 * seconds as f64;
    let cpu = cpu0.zip(process_cpu()).map(|(a, b)| b.saturating_sub(a));
    println!(
        "recording: {calls} calls, {:.0} s of stereo recorded; CPU {:.2} µs per call-second (Instant {:.2} µs)",
        samples as f64 / 16_000.0,
        cpu.map_or(f64::NAN, |c| c.as_secs_f64() * 1e6 / call_seconds),
        busy.as_secs_f64() * 1e6 / call_seconds
    );
}
