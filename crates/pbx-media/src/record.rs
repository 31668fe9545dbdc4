//! Recording: a single-stream [`Recorder`] (voicemail: maximum length, ends on silence) and a
//! two-leg [`CallRecorder`] fed from the relay's tap.
//!
//! **What the server should store for call recording: stereo** ([`RecordLayout::Stereo`], leg A
//! left, leg B right). Both parties stay separable (transcription, evidence, one side's level
//! fixed afterwards), and any player mixes it to mono on playback. The mono mix
//! ([`RecordLayout::Mono`], saturating sum) is there for consumers that need one channel.

use pbx_audio::g722::G722Decoder;

use crate::{g711, rtp};

/// When a [`Recorder`] ends on silence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SilenceEnd {
    /// A 20 ms frame whose RMS is below this level (dBFS, e.g. −45) is silent.
    pub level_dbfs: f64,
    /// This much continuous silence ends the recording (e.g. 3000 ms).
    pub duration_ms: u32,
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordEnd {
    /// The maximum length was reached.
    MaxLength,
    /// Silence lasted [`SilenceEnd::duration_ms`]; the trailing silence was trimmed.
    Silence,
    /// [`Recorder::stop`] (the caller hung up or pressed a key).
    Stopped,
}

/// State of a [`Recorder`] after a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Still recording.
    Recording,
    /// Ended; further audio is ignored.
    Done(RecordEnd),
}

/// Collects 8 kHz linear audio up to a maximum length or until silence.
#[derive(Debug, Clone)]
pub struct Recorder {
    samples: Vec<i16>,
    max_len: usize,
    silence: Option<(f64, usize)>,
    silent_run: usize,
    state: RecordState,
}

impl Recorder {
    /// Records at most `max_ms`, ending on `silence` when given. The buffer for the whole
    /// maximum length (capped at 10 minutes) is reserved here, so pushes do not allocate.
    pub fn new(max_ms: u32, silence: Option<SilenceEnd>) -> Self {
        let max_len = max_ms as usize * 8;
        Recorder {
            samples: Vec::with_capacity(max_len.min(10 * 60 * 8000)),
            max_len,
            silence: silence.map(|s| {
                // Mean power threshold in linear units squared.
                let rms = 32768.0 * 10f64.powf(s.level_dbfs / 20.0);
                (rms * rms, s.duration_ms as usize * 8)
            }),
            silent_run: 0,
            state: RecordState::Recording,
        }
    }

    /// Appends one frame (20 ms for the silence test to mean what it says).
    pub fn push(&mut self, frame: &[i16]) -> RecordState {
        if self.state != RecordState::Recording {
            return self.state;
        }
        let room = self.max_len - self.samples.len();
        let take = &frame[..frame.len().min(room)];
        self.samples.extend_from_slice(take);
        if let Some((threshold, needed)) = self.silence {
            let power = if take.is_empty() {
                0.0
            } else {
                take.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / take.len() as f64
            };
            if power < threshold {
                self.silent_run += take.len();
            } else {
                self.silent_run = 0;
            }
            if self.silent_run >= needed {
                let keep = self.samples.len() - self.silent_run.min(self.samples.len());
                self.samples.truncate(keep);
                self.state = RecordState::Done(RecordEnd::Silence);
                return self.state;
            }
        }
        if self.samples.len() >= self.max_len {
            self.state = RecordState::Done(RecordEnd::MaxLength);
        }
        self.state
    }

    /// Ends the recording now.
    pub fn stop(&mut self) {
        if self.state == RecordState::Recording {
            self.state = RecordState::Done(RecordEnd::Stopped);
        }
    }

    /// Recording or done.
    pub fn state(&self) -> RecordState {
        self.state
    }

    /// Length recorded so far, in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 / 8
    }

    /// The samples recorded (8 kHz mono).
    pub fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Takes the samples out, leaving the recorder empty.
    pub fn take_samples(&mut self) -> Vec<i16> {
        std::mem::take(&mut self.samples)
    }
}

/// Which leg of a call a tapped packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The first leg (caller): the left channel.
    A,
    /// The second leg (callee): the right channel.
    B,
}

/// Audio codecs a recorder decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (16 kHz audio, RTP clock 8000). The engine speaks it through
    /// [`pbx_audio::FrameCodec`] (8 ↔ 16 kHz resampled); the [`CallRecorder`] decodes its lower
    /// sub-band alone, 8 kHz directly.
    G722,
}

/// What frames a [`CallRecorder`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordLayout {
    /// Interleaved stereo, A left, B right (what the server should store).
    Stereo,
    /// One channel, the saturating sum of both legs.
    Mono,
    /// Both of the above.
    Both,
}

/// One aligned 20 ms frame of a call recording.
#[derive(Debug, Clone, Copy)]
pub struct RecordedFrame<'a> {
    /// 320 interleaved samples (A, B, A, B, …) when the layout has stereo.
    pub stereo: Option<&'a [i16]>,
    /// 160 samples when the layout has mono.
    pub mono: Option<&'a [i16]>,
}

/// Counters of a [`CallRecorder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallRecorderStats {
    /// Audio packets placed.
    pub packets: u64,
    /// Packets that arrived after their place was written out (later than the jitter depth).
    pub late: u64,
    /// Packets with a payload type that is not a mapped audio codec (telephone-event, CN, …).
    pub ignored: u64,
    /// Times a leg's timeline was re-anchored (new SSRC, timestamp jump, clock drift).
    pub resyncs: u64,
}

/// Samples per output frame.
const FRAME: usize = 160;
/// Ring size per leg: jitter depth plus how far ahead a packet may land (a multiple of FRAME).
const RING: usize = 160 * 50;

#[derive(Debug, Clone, Copy)]
struct Anchor {
    ssrc: u32,
    ts: u32,
    pos: i64,
}

#[derive(Debug)]
struct LegBuf {
    ring: Box<[i16]>,
    anchor: Option<Anchor>,
    /// End (exclusive) of the newest audio written, in output samples.
    end: i64,
    /// The leg's G.722 decoder (narrowband: the lower sub-band is the 8 kHz recording), made
    /// by its first G.722 packet.
    g722: Option<Box<G722Decoder>>,
}

impl LegBuf {
    fn new() -> Self {
        LegBuf {
            ring: vec![0; RING].into_boxed_slice(),
            anchor: None,
            end: 0,
            g722: None,
        }
    }
}

/// Records both legs of a call from tapped RTP packets into aligned 8 kHz frames.
///
/// Each leg has a small jitter buffer: a packet's place on the recording's timeline is its
/// RTP timestamp relative to the leg's anchor (the first packet's timestamp and arrival time),
/// so reordered packets land where they belong and lost ones leave silence. Packets arriving
/// more than the depth late are dropped. A new SSRC, or a timestamp that puts the packet more
/// than 200 ms ahead of or the depth + 100 ms behind its arrival, re-anchors the leg at the
/// arrival time (this also absorbs the clock drift of a long call, at the cost of one glitch).
/// The recording starts one depth before the first packet's arrival (a short lead-in of
/// silence). Timestamps rather than sequence numbers place the audio so that silence suppression and
/// 10/30 ms packets need nothing special.
///
/// The I/O side calls [`CallRecorder::push`] for every tapped packet, [`CallRecorder::poll`] at
/// least every 200 ms (every media tick is fine), and [`CallRecorder::finish`] at hang-up.
/// Memory: two 16 KB rings (1 s each) and the 640 + 320-byte frame buffers, allocated in `new`.
#[derive(Debug)]
pub struct CallRecorder {
    layout: RecordLayout,
    depth: i64,
    codecs: [Option<Codec>; 128],
    origin_us: Option<u64>,
    legs: [LegBuf; 2],
    /// Output samples written out so far.
    out: i64,
    stereo: Box<[i16]>,
    mono: Box<[i16]>,
    stats: CallRecorderStats,
}

impl CallRecorder {
    /// A recorder with `depth_ms` of jitter buffer (60 is a good value) that decodes the
    /// static payload types 0 (PCMU), 8 (PCMA) and 9 (G.722) plus `dynamic` mappings. G.722 is
    /// decoded straight to the recording's 8 kHz from its lower sub-band
    /// ([`pbx_audio::g722::G722Decoder::decode_narrowband`]: 0–4 kHz, a third of the cost of
    /// 16 kHz and a resampler) by a decoder per leg, allocated by the leg's first G.722 packet
    /// (a G.711 call allocates nothing more).
    pub fn new(layout: RecordLayout, depth_ms: u32, dynamic: &[(u8, Codec)]) -> Self {
        let mut codecs = [None; 128];
        codecs[0] = Some(Codec::Pcmu);
        codecs[8] = Some(Codec::Pcma);
        codecs[9] = Some(Codec::G722);
        for (pt, c) in dynamic {
            if let Some(slot) = codecs.get_mut(usize::from(*pt)) {
                *slot = Some(*c);
            }
        }
        CallRecorder {
            layout,
            depth: i64::from(depth_ms.clamp(20, 400)) * 8,
            codecs,
            origin_us: None,
            legs: [LegBuf::new(), LegBuf::new()],
            out: 0,
            stereo: vec![0; 2 * FRAME].into_boxed_slice(),
            mono: vec![0; FRAME].into_boxed_slice(),
            stats: CallRecorderStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> CallRecorderStats {
        self.stats
    }

    /// Milliseconds written out so far.
    pub fn duration_ms(&self) -> u64 {
        (self.out / 8) as u64
    }

    /// Output sample position of `now_us`. The timeline starts one jitter depth before the
    /// first packet arrived, so packets sent before it but arriving after it have room.
    fn position(&mut self, now_us: u64) -> i64 {
        let origin = *self.origin_us.get_or_insert(now_us);
        (now_us.saturating_sub(origin) / 125) as i64 + self.depth
    }

    /// Takes one tapped RTP packet of `leg`, arrived at `now_us`. Non-RTP, unmapped payload
    /// types and late packets are counted and ignored; nothing here can panic.
    pub fn push(&mut self, leg: Leg, now_us: u64, packet: &[u8]) {
        let Some(h) = rtp::parse(packet) else {
            self.stats.ignored += 1;
            return;
        };
        let Some(codec) = self.codecs[usize::from(h.pt)] else {
            self.stats.ignored += 1;
            return;
        };
        let arrival = self.position(now_us);
        let depth = self.depth;
        let out = self.out;
        let lb = &mut self.legs[leg as usize];
        let place = |a: Anchor| a.pos + i64::from(h.ts.wrapping_sub(a.ts) as i32);
        let at = match lb.anchor {
            Some(a) if a.ssrc == h.ssrc => {
                let p = place(a);
                if p > arrival + 1600 || p < arrival - depth - 800 {
                    None
                } else {
                    Some(p)
                }
            }
            _ => None,
        };
        let at = match at {
            Some(p) => p,
            None => {
                if lb.anchor.is_some() {
                    self.stats.resyncs += 1;
                }
                let a = Anchor {
                    ssrc: h.ssrc,
                    ts: h.ts,
                    pos: arrival.max(out),
                };
                lb.anchor = Some(a);
                place(a)
            }
        };
        let payload = &packet[h.payload_range()];
        let end = at + payload.len() as i64;
        if end <= out {
            self.stats.late += 1;
            return;
        }
        if end > out + RING as i64 {
            // Beyond the ring: poll was not called for too long. Drop rather than overwrite.
            self.stats.late += 1;
            return;
        }
        let table = match codec {
            Codec::Pcmu => &g711::ULAW_DECODE,
            Codec::Pcma => &g711::ALAW_DECODE,
            Codec::G722 => {
                // The whole payload goes through the leg's decoder (its state follows the
                // stream); what lands before `out` is not written.
                let decoder = lb.g722.get_or_insert_with(Box::default);
                let mut pcm = [0i16; FRAME];
                let mut pos = at;
                for chunk in payload.chunks(FRAME) {
                    let pcm = &mut pcm[..chunk.len()];
                    if decoder.decode_narrowband(chunk, pcm).is_err() {
                        pcm.fill(0);
                    }
                    for (k, v) in pcm.iter().enumerate() {
                        let p = pos + k as i64;
                        if p >= out {
                            // p ≥ out ≥ 0.
                            lb.ring[p as usize % RING] = *v;
                        }
                    }
                    pos += chunk.len() as i64;
                }
                lb.end = lb.end.max(end);
                self.stats.packets += 1;
                return;
            }
        };
        let skip = (out - at).max(0) as usize;
        // at + skip ≥ out ≥ 0; the payload wraps around the ring at most once.
        let mut idx = (at + skip as i64) as usize % RING;
        for b in &payload[skip..] {
            lb.ring[idx] = table[usize::from(*b)];
            idx += 1;
            if idx == RING {
                idx = 0;
            }
        }
        lb.end = lb.end.max(end);
        self.stats.packets += 1;
    }

    /// Emits every frame that is older than the jitter depth at `now_us`.
    pub fn poll(&mut self, now_us: u64, sink: &mut impl FnMut(RecordedFrame<'_>)) {
        if self.origin_us.is_none() {
            return;
        }
        let ready = self.position(now_us) - self.depth;
        while self.out + FRAME as i64 <= ready {
            self.emit(sink);
        }
    }

    /// Emits everything still buffered (the last frame padded with silence): the call ended.
    pub fn finish(&mut self, sink: &mut impl FnMut(RecordedFrame<'_>)) {
        let end = self.legs[0].end.max(self.legs[1].end);
        while self.out < end {
            self.emit(sink);
        }
    }

    fn emit(&mut self, sink: &mut impl FnMut(RecordedFrame<'_>)) {
        let (stereo, mono) = match self.layout {
            RecordLayout::Stereo => (true, false),
            RecordLayout::Mono => (false, true),
            RecordLayout::Both => (true, true),
        };
        // FRAME divides RING, so a frame never wraps around the ring.
        let at = self.out as usize % RING;
        let [la, lb] = &mut self.legs;
        let a = &mut la.ring[at..at + FRAME];
        let b = &mut lb.ring[at..at + FRAME];
        if stereo {
            for ((o, x), y) in self.stereo.chunks_exact_mut(2).zip(a.iter()).zip(b.iter()) {
                o[0] = *x;
                o[1] = *y;
            }
        }
        if mono {
            for ((o, x), y) in self.mono.iter_mut().zip(a.iter()).zip(b.iter()) {
                *o = x.saturating_add(*y);
            }
        }
        a.fill(0);
        b.fill(0);
        self.out += FRAME as i64;
        sink(RecordedFrame {
            stereo: stereo.then_some(&self.stereo[..]),
            mono: mono.then_some(&self.mono[..]),
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tone::{Tone, goertzel};
    use pbx_audio::FrameCodec;

    #[test]
    fn voicemail_ends_after_three_seconds_of_silence_and_trims_it() {
        let mut r = Recorder::new(
            120_000,
            Some(SilenceEnd {
                level_dbfs: -45.0,
                duration_ms: 3000,
            }),
        );
        let mut t = Tone::new(440.0, -20.0, 8000);
        let mut frame = [0i16; 160];
        for _ in 0..100 {
            t.fill_linear(&mut frame);
            assert_eq!(r.push(&frame), RecordState::Recording);
        }
        // Quiet noise (about −60 dBFS) counts as silence.
        let quiet = [30i16, -30, 25, -20].repeat(40);
        let mut n = 0;
        while r.push(&quiet) == RecordState::Recording {
            n += 1;
            assert!(n < 1000);
        }
        assert_eq!(r.state(), RecordState::Done(RecordEnd::Silence));
        assert_eq!(n + 1, 150); // 3 s of 20 ms frames
        assert_eq!(r.duration_ms(), 2000);
        assert_eq!(r.push(&frame), RecordState::Done(RecordEnd::Silence));
        assert_eq!(r.take_samples().len(), 16000);
    }

    #[test]
    fn recording_stops_at_its_maximum_length_or_when_stopped() {
        let mut r = Recorder::new(1000, None);
        let frame = [1000i16; 160];
        let mut states = Vec::new();
        for _ in 0..60 {
            states.push(r.push(&frame));
        }
        assert_eq!(states[48], RecordState::Recording);
        assert_eq!(states[49], RecordState::Done(RecordEnd::MaxLength));
        assert_eq!(r.samples().len(), 8000);
        let mut r = Recorder::new(1000, None);
        r.push(&frame);
        r.stop();
        assert_eq!(r.push(&frame), RecordState::Done(RecordEnd::Stopped));
        assert_eq!(r.duration_ms(), 20);
    }

    fn packet(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        rtp::write_header(&mut p, pt, false, seq, ts, ssrc);
        p.extend_from_slice(payload);
        p
    }

    /// 20 ms packets of a tone, µ-law (pt 0) or A-law (pt 8).
    fn leg_packets(hz: f64, pt: u8, count: usize, ssrc: u32) -> Vec<Vec<u8>> {
        let mut t = Tone::new(hz, -10.0, 8000);
        (0..count)
            .map(|i| {
                let mut b = [0u8; 160];
                if pt == 0 {
                    t.fill_ulaw(&mut b);
                } else {
                    t.fill_alaw(&mut b);
                }
                packet(pt, 1000 + i as u16, 5000 + 160 * i as u32, ssrc, &b)
            })
            .collect()
    }

    #[test]
    fn a_g722_leg_is_decoded_to_8khz_on_its_channel_beside_a_g711_leg() {
        // A: 1 kHz G.722 at a dynamic payload type. B: 440 Hz µ-law. Both 2 s, 20 ms apart.
        let mut enc = FrameCodec::g722();
        let mut t = Tone::new(1000.0, -10.0, 8000);
        let b = leg_packets(440.0, 0, 100, 0xbbbb);
        let mut r = CallRecorder::new(RecordLayout::Stereo, 60, &[(110, Codec::G722)]);
        let mut stereo = Vec::new();
        let mut sink = |f: RecordedFrame<'_>| stereo.extend_from_slice(f.stereo.unwrap());
        for (i, pb) in b.iter().enumerate() {
            let mut pcm = [0i16; 160];
            t.fill_linear(&mut pcm);
            let mut pay = [0u8; 160];
            enc.encode(&pcm, &mut pay).unwrap();
            let now = i as u64 * 20_000;
            r.push(
                Leg::A,
                now,
                &packet(110, i as u16, 160 * i as u32, 0xaaaa, &pay),
            );
            r.push(Leg::B, now + 3000, pb);
            r.poll(now, &mut sink);
        }
        r.finish(&mut sink);
        assert_eq!(r.stats().packets, 200);
        let left: Vec<i16> = stereo.iter().step_by(2).copied().collect();
        let right: Vec<i16> = stereo.iter().skip(1).step_by(2).copied().collect();
        let amp = t.amplitude();
        let level = goertzel(&left[2000..14_000], 1000.0, 8000) / amp;
        assert!((0.9..1.1).contains(&level), "G.722 leg at {level:.3}");
        assert!(goertzel(&left[2000..14_000], 440.0, 8000) < 0.02 * amp);
        assert!(goertzel(&right[2000..14_000], 440.0, 8000) > 0.9 * amp);
        assert!(goertzel(&right[2000..14_000], 1000.0, 8000) < 0.02 * amp);
    }

    #[test]
    fn two_legs_with_reordering_loss_and_a_late_start_keep_their_channels() {
        // A: 440 Hz µ-law from 0 to 3 s. B: 1 kHz A-law from 1 s to 3 s.
        let a = leg_packets(440.0, 0, 150, 0xaaaa);
        let b = leg_packets(1000.0, 8, 100, 0xbbbb);
        let mut events: Vec<(u64, Leg, Vec<u8>)> = Vec::new();
        for (i, p) in a.into_iter().enumerate() {
            // Every 7th packet lost, every 5th swapped with its successor (20 ms later).
            if i % 7 == 3 {
                continue;
            }
            let jitter = if i % 5 == 0 {
                25_000
            } else {
                (i as u64 * 37) % 9000
            };
            events.push((i as u64 * 20_000 + jitter, Leg::A, p));
        }
        for (i, p) in b.into_iter().enumerate() {
            if i % 11 == 4 {
                continue;
            }
            let jitter = if i % 4 == 1 { 30_000 } else { 0 };
            events.push((1_000_000 + i as u64 * 20_000 + jitter, Leg::B, p));
        }
        events.sort_by_key(|e| e.0);
        let mut r = CallRecorder::new(RecordLayout::Both, 60, &[]);
        let mut stereo = Vec::new();
        let mut mono = Vec::new();
        let mut sink = |f: RecordedFrame<'_>| {
            stereo.extend_from_slice(f.stereo.unwrap());
            mono.extend_from_slice(f.mono.unwrap());
        };
        let mut next_poll = 0;
        for (t, leg, p) in &events {
            while next_poll <= *t {
                r.poll(next_poll, &mut sink);
                next_poll += 20_000;
            }
            r.push(*leg, *t, p);
        }
        r.finish(&mut sink);
        let stats = r.stats();
        assert_eq!(stats.late, 0, "{stats:?}");
        assert_eq!(stats.resyncs, 0);
        // 3 s: A's first packet to B's last, plus the 60 ms lead-in of the jitter buffer.
        let frames = stereo.len() / 320;
        assert!((151..=154).contains(&frames), "{frames} frames");
        assert_eq!(mono.len(), stereo.len() / 2);
        let left: Vec<i16> = stereo.iter().step_by(2).copied().collect();
        let right: Vec<i16> = stereo.iter().skip(1).step_by(2).copied().collect();
        let amp = Tone::new(440.0, -10.0, 8000).amplitude();
        // Losses leave gaps, so expect most but not all of the amplitude.
        let seg = |v: &[i16], from: usize, hz: f64| goertzel(&v[from..from + 8000], hz, 8000);
        assert!(seg(&left, 12000, 440.0) > 0.7 * amp);
        assert!(seg(&left, 12000, 1000.0) < 0.05 * amp);
        assert!(seg(&right, 12000, 1000.0) > 0.7 * amp);
        assert!(seg(&right, 12000, 440.0) < 0.05 * amp);
        // B is silent before it started.
        assert!(right[..7000].iter().all(|s| *s == 0));
        assert!(seg(&mono, 12000, 440.0) > 0.7 * amp && seg(&mono, 12000, 1000.0) > 0.7 * amp);
    }

    #[test]
    fn an_ssrc_change_or_timestamp_jump_reanchors_and_other_payloads_are_ignored() {
        let mut r = CallRecorder::new(RecordLayout::Mono, 60, &[(96, Codec::Pcma)]);
        let mut total = 0;
        let mut sink = |f: RecordedFrame<'_>| total += f.mono.unwrap().len();
        let loud = [0x80u8; 160]; // µ-law near full scale
        r.push(Leg::A, 0, &packet(0, 1, 0, 1, &loud));
        r.push(Leg::A, 20_000, &packet(0, 2, 160, 1, &loud));
        // Timestamp jumps by 10 s within the same SSRC: placed at its arrival, not 10 s later.
        r.push(Leg::A, 40_000, &packet(0, 3, 80_320, 1, &loud));
        // New SSRC (a transfer): anchored at its arrival.
        r.push(Leg::A, 60_000, &packet(96, 9, 777, 2, &loud));
        r.push(Leg::A, 80_000, &packet(101, 10, 937, 2, &[1, 0, 0, 160]));
        r.push(Leg::B, 80_000, &[0u8; 5]);
        r.poll(200_000, &mut sink);
        r.finish(&mut sink);
        let s = r.stats();
        assert_eq!((s.packets, s.ignored, s.resyncs, s.late), (4, 2, 2, 0));
        // The timeline runs on while nothing arrives: 200 ms polled (the 60 ms lead-in and the
        // 60 ms depth cancel out).
        assert_eq!(total, 1600);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_packets_never_panic(
            pkts in proptest::collection::vec(
                (proptest::bool::ANY, 0u64..10_000_000, proptest::collection::vec(proptest::num::u8::ANY, 0..300)),
                0..50)
        ) {
            let mut r = CallRecorder::new(RecordLayout::Both, 60, &[]);
            let mut sink = |_f: RecordedFrame<'_>| {};
            let mut sorted = pkts;
            sorted.sort_by_key(|p| p.1);
            for (leg, t, mut p) in sorted {
                if p.len() > 1 {
                    p[0] = 0x80;
                    p[1] &= 0x08;
                }
                r.push(if leg { Leg::A } else { Leg::B }, t, &p);
                r.poll(t, &mut sink);
            }
            r.finish(&mut sink);
        }
    }
}
