//! The media engine: many sessions driven by one 20 ms clock, with no timer per session.
//!
//! A session belongs to one RTP leg. It sends one packet every 20 ms (12-byte header + 160
//! bytes of G.711) from its [`Source`] — a prompt [`Player`], music on hold, a call-progress
//! tone or silence — and listens to what the leg sends: RFC 4733 digits, inband DTMF and,
//! when a [`Recorder`] is attached, the caller's audio (voicemail).
//!
//! **Phase slots.** The 20 ms period is cut into [`SLOTS`] slots of 1 ms; a new session joins
//! the least loaded slot and sends in that slot of every period, so 1,000 sessions send ~50
//! packets per millisecond instead of 1,000 at once. The engine's clock is a cursor over the
//! slots; [`Engine::tick`] serves every slot whose time has come and records how late it was.
//!
//! **What the I/O side does** (one engine per relay worker thread, owned by it, no lock):
//! 1. `Engine::new(now_us)` at start; `add` / `remove` / `set_source` / `start_recording` as
//!    commands arrive;
//! 2. every RTP packet received on a leg that has a session → `on_rtp(id, now_us, packet)`;
//!    a returned [`EngineEvent::Digit`] goes to the call;
//! 3. sleep (epoll timeout / timerfd) until `next_deadline()`; on waking, and after any batch
//!    of received packets, call `tick(now_us, &mut |id, pkt| send pkt on id's leg)`;
//! 4. after `tick` / `on_rtp`, drain `poll_event()` (play finished, recording finished);
//! 5. read `stats()` for the lateness figures (metrics).
//!
//! The packets carry the session's own SSRC, sequence and timestamp (given in
//! [`SessionParams`]); when the relay switches a leg between relayed audio and the engine, it
//! passes them through the leg's [`crate::Restamper`] so the far end sees one stream.
//!
//! **Cost.** Nothing is allocated per frame: the engine owns one PCM frame, one packet and
//! one decode buffer that every session reuses. Per session and 20 ms: a source copy (160
//! samples), a G.711 encode, the header; per received packet a G.711 decode, the inband
//! detector (8 Goertzel filters per sample) and the RFC 4733 parser. Measured with
//! `examples/engine_bench.rs` (release, 1,000 sessions, 60 s of audio, on the 2-core build
//! machine while it was loaded): about 56 µs of CPU per session-second with inband detection
//! (0.0056 % of a core per session, 5.6 % of one core for 1,000 sessions), about 20 µs
//! without it.
//!
//! **G.722 sessions** ([`Codec::G722`]) play the same 8 kHz sources: each session owns a
//! [`pbx_audio::FrameCodec`] (allocated in [`Engine::add`]) that upsamples every frame to 16 kHz
//! and encodes it, and decodes what the caller sends back to 8 kHz for the digit detectors and
//! the recorder. The RTP clock stays 8000 (RFC 3551 §4.5.2) and a frame is still 160 bytes. The
//! encoder and resamplers cost far more than a G.711 table lookup (tens of µs per frame).

use std::collections::VecDeque;

use pbx_audio::FrameCodec;

use crate::dtmf::DigitDetector;
use crate::g711;
use crate::inband::InbandDetector;
use crate::player::{MohSource, PlayState, Player};
use crate::record::{Codec, RecordEnd, RecordState, Recorder};
use crate::rtp;
use crate::tones::ToneGen;

/// Slots per 20 ms period.
pub const SLOTS: usize = 20;
/// Length of one slot.
pub const SLOT_US: u64 = 1000;
/// The frame period.
pub const PERIOD_US: u64 = SLOT_US * SLOTS as u64;
/// Samples per frame.
pub const FRAME: usize = 160;
/// When the engine falls further behind than this, it skips the missed frames instead of
/// sending them in a burst.
pub const MAX_CATCH_UP_US: u64 = 200_000;

/// A session of an [`Engine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId {
    index: u32,
    generation: u32,
}

/// How a session sends and what it listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionParams {
    /// Codec of the packets sent (and of the audio received with the same payload type).
    pub codec: Codec,
    /// Payload type of the packets sent.
    pub pt: u8,
    /// Payload type of RFC 4733 telephone-events received, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// SSRC, first sequence number and first timestamp of the stream sent (random, chosen by
    /// the caller: RFC 3550 §5.1).
    pub ssrc: u32,
    /// First sequence number.
    pub first_seq: u16,
    /// First timestamp.
    pub first_ts: u32,
    /// Whether received audio is searched for inband DTMF.
    pub inband: InbandMode,
    /// A digit stops a playing prompt list (barge-in).
    pub barge_in: bool,
}

/// When a session runs the inband DTMF detector on what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InbandMode {
    /// Never (the leg negotiated RFC 4733 and is trusted to use it).
    Off,
    /// Always, alongside RFC 4733.
    Always,
    /// Until the first RFC 4733 event shows that the peer signals digits out of band: some
    /// phones send both, which would report every key twice. The usual choice.
    UntilRfc4733,
}

/// What a session sends.
#[derive(Debug, Clone)]
pub enum Source {
    /// Silence (still sent: keeps NAT bindings and the far end's jitter buffer alive).
    Silence,
    /// A list of prompts; when it ends, [`EngineEvent::PlayDone`] and the source becomes silence.
    Player(Player),
    /// Music on hold.
    Moh(MohSource),
    /// A call-progress tone.
    Tone(ToneGen),
}

/// Where a digit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    /// RFC 4733 telephone-event.
    Rfc4733,
    /// Detected in the audio.
    Inband,
}

/// What a session reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineEvent {
    /// A key was pressed.
    Digit {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// How it arrived.
        source: DigitSource,
    },
    /// The prompt list ended; `stopped` when a barge-in or a new source cut it short.
    PlayDone {
        /// Cut short rather than played to the end.
        stopped: bool,
    },
    /// The recorder ended (take it with [`Engine::take_recording`]).
    RecordDone(RecordEnd),
}

/// Lateness of the frames sent: how long after its slot's time each frame went out.
#[derive(Debug, Clone)]
pub struct EngineStats {
    /// Frames sent.
    pub frames: u64,
    /// Frames sent more than 20 ms late.
    pub late_over_20ms: u64,
    /// Frames not sent because the engine fell more than [`MAX_CATCH_UP_US`] behind.
    pub skipped: u64,
    /// Largest lateness seen, µs.
    pub max_late_us: u64,
    /// Histogram of lateness in 100 µs buckets up to 100 ms; the last bucket holds the rest.
    buckets: Box<[u64]>,
}

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 1001;

impl Default for EngineStats {
    fn default() -> Self {
        EngineStats {
            frames: 0,
            late_over_20ms: 0,
            skipped: 0,
            max_late_us: 0,
            buckets: vec![0; BUCKETS].into_boxed_slice(),
        }
    }
}

impl EngineStats {
    fn record(&mut self, late_us: u64) {
        self.frames += 1;
        if late_us > PERIOD_US {
            self.late_over_20ms += 1;
        }
        self.max_late_us = self.max_late_us.max(late_us);
        let b = ((late_us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.buckets[b] += 1;
    }

    /// The frames recorded since `earlier`, a snapshot of the same statistics: a measurement
    /// window without the set-up before it. The window's largest lateness is exact when it
    /// exceeds every earlier one, else the upper bound of its highest non-empty bucket.
    pub fn since(&self, earlier: &EngineStats) -> EngineStats {
        let buckets: Box<[u64]> = self
            .buckets
            .iter()
            .zip(earlier.buckets.iter())
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let max_late_us = if self.max_late_us > earlier.max_late_us {
            self.max_late_us
        } else {
            buckets
                .iter()
                .rposition(|n| *n > 0)
                .map_or(0, |i| ((i as u64 + 1) * BUCKET_US).min(self.max_late_us))
        };
        EngineStats {
            frames: self.frames.saturating_sub(earlier.frames),
            late_over_20ms: self.late_over_20ms.saturating_sub(earlier.late_over_20ms),
            skipped: self.skipped.saturating_sub(earlier.skipped),
            max_late_us,
            buckets,
        }
    }

    /// Adds `other`'s frames (another engine's): quantiles of the sum are those of all frames.
    pub fn merge(&mut self, other: &EngineStats) {
        self.frames += other.frames;
        self.late_over_20ms += other.late_over_20ms;
        self.skipped += other.skipped;
        self.max_late_us = self.max_late_us.max(other.max_late_us);
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
    }

    /// The lateness (µs, bucket upper bound) that `q` (0–1) of the frames did not exceed.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.frames == 0 {
            return 0;
        }
        let want = (q.clamp(0.0, 1.0) * self.frames as f64).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want {
                return if i == BUCKETS - 1 {
                    self.max_late_us
                } else {
                    (i as u64 + 1) * BUCKET_US
                };
            }
        }
        self.max_late_us
    }

    /// 99.9th percentile of lateness, µs.
    pub fn p999_us(&self) -> u64 {
        self.quantile_us(0.999)
    }
}

#[derive(Debug)]
struct Session {
    generation: u32,
    params: SessionParams,
    source: Source,
    rfc4733: DigitDetector,
    inband: Option<InbandDetector>,
    recorder: Option<Recorder>,
    slot: usize,
    /// Period of the first frame sent.
    first_period: Option<u64>,
    seq: u16,
    /// A G.722 session's codec: its encoder upsamples what it sends to 16 kHz, its decoder
    /// downsamples what it receives to 8 kHz (allocated in `add`).
    g722: Option<Box<FrameCodec>>,
}

/// Many media sessions on one clock. See the module documentation for how to drive it.
#[derive(Debug)]
pub struct Engine {
    epoch_us: u64,
    sessions: Vec<Option<Session>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    slots: [Vec<u32>; SLOTS],
    live: usize,
    /// Next slot to serve, counted from the epoch: period × SLOTS + slot.
    next: u64,
    pcm: [i16; FRAME],
    packet: [u8; rtp::FIXED_HEADER_LEN + FRAME],
    decoded: Box<[i16]>,
    events: VecDeque<(SessionId, EngineEvent)>,
    stats: EngineStats,
}

impl Engine {
    /// An engine whose first period starts at `now_us`.
    pub fn new(now_us: u64) -> Self {
        Engine {
            epoch_us: now_us,
            sessions: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            slots: Default::default(),
            live: 0,
            next: 0,
            pcm: [0; FRAME],
            packet: [0; rtp::FIXED_HEADER_LEN + FRAME],
            decoded: vec![0; 2048].into_boxed_slice(),
            events: VecDeque::with_capacity(64),
            stats: EngineStats::default(),
        }
    }

    /// Sessions in the engine.
    pub fn len(&self) -> usize {
        self.live
    }

    /// No session.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Lateness statistics.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Adds a session sending silence; its first frame goes out in its slot's next turn.
    pub fn add(&mut self, params: SessionParams) -> SessionId {
        let slot = (0..SLOTS)
            .min_by_key(|s| self.slots[*s].len())
            .expect("SLOTS > 0");
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.sessions.push(None);
                self.generations.push(0);
                (self.sessions.len() - 1) as u32
            }
        };
        let generation = self.generations[index as usize];
        self.sessions[index as usize] = Some(Session {
            generation,
            params,
            source: Source::Silence,
            rfc4733: DigitDetector::new(),
            inband: (params.inband != InbandMode::Off).then(InbandDetector::new),
            recorder: None,
            slot,
            first_period: None,
            seq: params.first_seq,
            g722: (params.codec == Codec::G722).then(|| Box::new(FrameCodec::g722())),
        });
        self.slots[slot].push(index);
        self.live += 1;
        SessionId { index, generation }
    }

    fn session(&mut self, id: SessionId) -> Option<&mut Session> {
        self.sessions
            .get_mut(id.index as usize)?
            .as_mut()
            .filter(|s| s.generation == id.generation)
    }

    /// Removes a session (its recorder, if any, is dropped: take it first). `false` if unknown.
    pub fn remove(&mut self, id: SessionId) -> bool {
        let Some(s) = self.session(id) else {
            return false;
        };
        let slot = s.slot;
        self.sessions[id.index as usize] = None;
        self.generations[id.index as usize] = id.generation.wrapping_add(1);
        self.free.push(id.index);
        if let Some(at) = self.slots[slot].iter().position(|i| *i == id.index) {
            self.slots[slot].swap_remove(at);
        }
        self.live -= 1;
        true
    }

    /// Replaces what the session sends. A prompt list that had not reported its end yet
    /// reports it now: `PlayDone { stopped: true }` (playing, or stopped by a barge-in digit
    /// since the last frame), so every prompt list set yields exactly one `PlayDone`. `false`
    /// if the session is unknown.
    pub fn set_source(&mut self, id: SessionId, source: Source) -> bool {
        let Some(s) = self.session(id) else {
            return false;
        };
        let old = std::mem::replace(&mut s.source, source);
        // Every prompt list set reports exactly one PlayDone: one replaced while playing, or
        // stopped by a barge-in digit but not yet ticked (the owner often answers the digit
        // with a new source before the next frame), or empty and not yet ticked.
        if let Source::Player(p) = old {
            let stopped = p.state() != PlayState::Finished;
            self.events
                .push_back((id, EngineEvent::PlayDone { stopped }));
        }
        true
    }

    /// Records what the leg sends into `recorder` until it ends
    /// ([`EngineEvent::RecordDone`]) or is taken.
    pub fn start_recording(&mut self, id: SessionId, recorder: Recorder) -> bool {
        let Some(s) = self.session(id) else {
            return false;
        };
        s.recorder = Some(recorder);
        true
    }

    /// Takes the session's recorder (finished or not).
    pub fn take_recording(&mut self, id: SessionId) -> Option<Recorder> {
        self.session(id)?.recorder.take()
    }

    /// The next queued event.
    pub fn poll_event(&mut self) -> Option<(SessionId, EngineEvent)> {
        self.events.pop_front()
    }

    /// Handles one RTP packet received on the session's leg. Returns a digit when this packet
    /// completes one; other events are queued for [`Engine::poll_event`]. Anything malformed is
    /// ignored.
    pub fn on_rtp(&mut self, id: SessionId, now_us: u64, packet: &[u8]) -> Option<EngineEvent> {
        let _ = now_us; // arrival time is not needed by the detectors (kept for the API's sake)
        let mut decoded = std::mem::take(&mut self.decoded);
        let result = self.handle_rtp(id, packet, &mut decoded);
        self.decoded = decoded;
        result
    }

    fn handle_rtp(
        &mut self,
        id: SessionId,
        packet: &[u8],
        decoded: &mut [i16],
    ) -> Option<EngineEvent> {
        let h = rtp::parse(packet)?;
        let payload = &packet[h.payload_range()];
        let s = self
            .sessions
            .get_mut(id.index as usize)?
            .as_mut()
            .filter(|s| s.generation == id.generation)?;
        let events = &mut self.events;
        let mut digit = None;
        if Some(h.pt) == s.params.telephone_event_pt {
            if let Some(d) = s.rfc4733.handle_packet(h.ts, payload) {
                digit = Some((d, DigitSource::Rfc4733));
            }
            if s.params.inband == InbandMode::UntilRfc4733 {
                s.inband = None;
            }
        } else {
            let table = match (h.pt, s.params.codec) {
                (0, _) => Some(&g711::ULAW_DECODE),
                (8, _) => Some(&g711::ALAW_DECODE),
                (pt, Codec::Pcmu) if pt == s.params.pt => Some(&g711::ULAW_DECODE),
                (pt, Codec::Pcma) if pt == s.params.pt => Some(&g711::ALAW_DECODE),
                (pt, Codec::G722) if pt == s.params.pt => None,
                _ => return None,
            };
            for chunk in payload.chunks(decoded.len()) {
                let pcm = &mut decoded[..chunk.len()];
                match (table, s.g722.as_deref_mut()) {
                    (Some(table), _) => {
                        for (o, b) in pcm.iter_mut().zip(chunk) {
                            *o = table[usize::from(*b)];
                        }
                    }
                    // One 8 kHz sample per G.722 byte: `pcm` is always long enough.
                    (None, Some(codec)) => {
                        codec.decode(chunk, pcm).ok()?;
                    }
                    (None, None) => return None,
                }
                if let Some(r) = s.recorder.as_mut()
                    && r.state() == RecordState::Recording
                    && let RecordState::Done(end) = r.push(pcm)
                {
                    events.push_back((id, EngineEvent::RecordDone(end)));
                }
                if let Some(d) = s.inband.as_mut().and_then(|det| det.push(pcm)) {
                    digit = Some((d, DigitSource::Inband));
                }
            }
        }
        let (digit, source) = digit?;
        if s.params.barge_in
            && let Source::Player(p) = &mut s.source
            && p.state() == PlayState::Playing
        {
            p.stop();
        }
        Some(EngineEvent::Digit { digit, source })
    }

    fn due_us(&self, index: u64) -> u64 {
        self.epoch_us + index * SLOT_US
    }

    /// When `tick` next has work: the time of the next slot that holds a session.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.live == 0 {
            return None;
        }
        (self.next..self.next + SLOTS as u64)
            .find(|i| !self.slots[(*i % SLOTS as u64) as usize].is_empty())
            .map(|i| self.due_us(i))
    }

    /// Sends one frame for every session whose slot time is ≤ `now_us` and not yet served,
    /// through `out(session, packet)`. Lateness goes to [`Engine::stats`]; events queue up for
    /// [`Engine::poll_event`].
    pub fn tick(&mut self, now_us: u64, out: &mut impl FnMut(SessionId, &[u8])) {
        // Far behind (the thread was descheduled): skip what can no longer be useful.
        if now_us > self.due_us(self.next) + MAX_CATCH_UP_US {
            let target = (now_us - MAX_CATCH_UP_US - self.epoch_us).div_ceil(SLOT_US);
            let periods = (target - self.next) / SLOTS as u64;
            // Frames lost by sessions that were already sending (new ones just start later).
            let mut per_slot = [0u64; SLOTS];
            for (slot, members) in self.slots.iter().enumerate() {
                per_slot[slot] = members
                    .iter()
                    .filter(|i| {
                        self.sessions[**i as usize]
                            .as_ref()
                            .is_some_and(|s| s.first_period.is_some())
                    })
                    .count() as u64;
            }
            self.stats.skipped += periods * per_slot.iter().sum::<u64>();
            for i in self.next + periods * SLOTS as u64..target {
                self.stats.skipped += per_slot[(i % SLOTS as u64) as usize];
            }
            self.next = target;
        }
        while self.due_us(self.next) <= now_us {
            let index = self.next;
            self.next += 1;
            let slot = (index % SLOTS as u64) as usize;
            let late = now_us - self.due_us(index);
            let period = index / SLOTS as u64;
            for k in 0..self.slots[slot].len() {
                let i = self.slots[slot][k];
                // A session added while the engine was behind starts with a current slot
                // rather than a burst of catch-up frames.
                let new = self.sessions[i as usize]
                    .as_ref()
                    .is_some_and(|s| s.first_period.is_none());
                if new && late >= PERIOD_US {
                    continue;
                }
                self.frame(i, period, out);
                self.stats.record(late);
            }
        }
    }

    fn frame(&mut self, index: u32, period: u64, out: &mut impl FnMut(SessionId, &[u8])) {
        let Some(s) = self.sessions[index as usize].as_mut() else {
            return;
        };
        let id = SessionId {
            index,
            generation: s.generation,
        };
        match &mut s.source {
            Source::Silence => self.pcm.fill(0),
            Source::Tone(t) => t.fill(&mut self.pcm),
            Source::Moh(m) => m.fill(&mut self.pcm),
            Source::Player(p) => {
                let st = p.fill(&mut self.pcm);
                if st != PlayState::Playing {
                    self.events.push_back((
                        id,
                        EngineEvent::PlayDone {
                            stopped: st == PlayState::Stopped,
                        },
                    ));
                    s.source = Source::Silence;
                }
            }
        }
        let first = *s.first_period.get_or_insert(period);
        let ts = s
            .params
            .first_ts
            .wrapping_add((period - first).wrapping_mul(FRAME as u64) as u32);
        let seq = s.seq;
        s.seq = s.seq.wrapping_add(1);
        let (hdr, body) = self.packet.split_at_mut(rtp::FIXED_HEADER_LEN);
        rtp::write_header(hdr, s.params.pt, period == first, seq, ts, s.params.ssrc);
        match (s.params.codec, s.g722.as_deref_mut()) {
            (Codec::Pcmu, _) => g711::encode_ulaw(&self.pcm, body),
            (Codec::Pcma, _) => g711::encode_alaw(&self.pcm, body),
            // 160 samples make 160 bytes: the body is exactly long enough.
            (Codec::G722, Some(codec)) => {
                if codec.encode(&self.pcm, body).is_err() {
                    body.fill(0);
                }
            }
            (Codec::G722, None) => body.fill(0),
        }
        out(id, &self.packet);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dtmf::TelephoneEvent;
    use crate::player::Prompt;
    use crate::record::SilenceEnd;
    use crate::tone::{Tone, goertzel};

    fn params(ssrc: u32) -> SessionParams {
        SessionParams {
            codec: Codec::Pcmu,
            pt: 0,
            telephone_event_pt: Some(101),
            ssrc,
            first_seq: 100,
            first_ts: 1000,
            inband: InbandMode::UntilRfc4733,
            barge_in: true,
        }
    }

    fn rtp_packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 12];
        rtp::write_header(&mut p, pt, false, seq, ts, 0x5555);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn sessions_are_spread_over_slots_and_each_sends_every_20_ms() {
        let mut e = Engine::new(1_000_000);
        let ids: Vec<_> = (0..100).map(|i| e.add(params(i))).collect();
        let mut sent: Vec<(u64, SessionId, Vec<u8>)> = Vec::new();
        let mut now = 1_000_000;
        loop {
            let d = e.next_deadline().unwrap();
            assert!(d >= now);
            if d >= 1_200_000 {
                break;
            }
            now = d;
            e.tick(now, &mut |id, p| sent.push((now, id, p.to_vec())));
        }
        // 10 periods × 100 sessions; never more than 5 sessions in one millisecond.
        assert_eq!(sent.len(), 100 * 10);
        let mut per_ms = std::collections::HashMap::new();
        for (t, _, _) in &sent {
            *per_ms.entry(*t).or_insert(0) += 1;
        }
        assert!(per_ms.values().all(|n| *n == 5), "{per_ms:?}");
        // One session: 20 ms apart, seq +1, ts +160, marker only first.
        let mine: Vec<_> = sent.iter().filter(|s| s.1 == ids[7]).collect();
        assert_eq!(mine.len(), 10);
        for w in mine.windows(2) {
            assert_eq!(w[1].0 - w[0].0, 20_000);
            let (a, b) = (rtp::parse(&w[0].2).unwrap(), rtp::parse(&w[1].2).unwrap());
            assert_eq!(b.seq, a.seq.wrapping_add(1));
            assert_eq!(b.ts, a.ts.wrapping_add(160));
            assert!(!b.marker);
            assert_eq!(b.ssrc, 7);
            assert_eq!(b.payload_len, 160);
        }
        let first = rtp::parse(&mine[0].2).unwrap();
        assert!(first.marker);
        assert_eq!((first.seq, first.ts), (100, 1000));
        assert_eq!(e.stats().frames, 1000);
        assert_eq!(e.stats().p999_us(), 100);
        assert_eq!(e.stats().late_over_20ms, 0);
    }

    #[test]
    fn a_prompt_plays_then_reports_done_and_silence_follows() {
        let mut e = Engine::new(0);
        let id = e.add(params(1));
        let mut t = Tone::new(1000.0, -10.0, 8000);
        let mut samples = vec![0i16; 8000];
        t.fill_linear(&mut samples);
        let prompt: Prompt = samples.into();
        e.set_source(id, Source::Player(Player::new(vec![prompt], 0)));
        let mut audio = Vec::new();
        let mut done_at = None;
        for ms in 0..1500u64 {
            e.tick(ms * 1000, &mut |_, p| {
                let mut pcm = [0i16; 160];
                g711::decode_ulaw(&p[12..], &mut pcm);
                audio.extend_from_slice(&pcm);
            });
            while let Some((_, ev)) = e.poll_event() {
                assert_eq!(ev, EngineEvent::PlayDone { stopped: false });
                done_at.get_or_insert(ms);
            }
        }
        assert_eq!(done_at, Some(980)); // the 50th frame carries the prompt's end
        assert!(goertzel(&audio[..8000], 1000.0, 8000) > 0.9 * t.amplitude());
        assert!(audio[8000..].iter().all(|s| *s == 0));
    }

    #[test]
    fn a_prompt_list_cut_by_a_digit_and_replaced_before_the_next_frame_still_reports_its_end() {
        let mut e = Engine::new(0);
        let id = e.add(params(1));
        let long: Prompt = vec![1000i16; 80_000].into();
        e.set_source(id, Source::Player(Player::new(vec![long.clone()], 0)));
        e.tick(0, &mut |_, _| {});
        let ev = TelephoneEvent {
            event: 1,
            end: false,
            volume: 10,
            duration: 160,
        };
        let got = e.on_rtp(id, 0, &rtp_packet(101, 1, 160, &ev.to_bytes()));
        assert!(matches!(got, Some(EngineEvent::Digit { digit: '1', .. })));
        // The owner answers the digit with the next prompts before any frame went out.
        e.set_source(id, Source::Player(Player::new(vec![long], 0)));
        assert_eq!(
            e.poll_event(),
            Some((id, EngineEvent::PlayDone { stopped: true }))
        );
        assert_eq!(e.poll_event(), None, "one PlayDone per prompt list");
        e.set_source(id, Source::Silence);
        assert_eq!(
            e.poll_event(),
            Some((id, EngineEvent::PlayDone { stopped: true }))
        );
    }

    #[test]
    fn digits_arrive_from_rfc4733_and_inband_and_a_digit_barges_in() {
        let mut e = Engine::new(0);
        let id = e.add(params(1));
        let long: Prompt = vec![1000i16; 80_000].into();
        e.set_source(id, Source::Player(Player::new(vec![long], 0)));
        // Inband '5' in µ-law packets.
        let (r, c) = crate::inband::key_frequencies('5').unwrap();
        let mut lo = Tone::new(f64::from(r), -10.0, 8000);
        let mut hi = Tone::new(f64::from(c), -10.0, 8000);
        let mut got = Vec::new();
        for i in 0..10u16 {
            let mut pcm = [0i16; 160];
            if i < 4 {
                for s in pcm.iter_mut() {
                    *s = lo.next_sample() + hi.next_sample();
                }
            }
            let mut pay = [0u8; 160];
            g711::encode_ulaw(&pcm, &mut pay);
            got.extend(e.on_rtp(id, 0, &rtp_packet(0, i, u32::from(i) * 160, &pay)));
        }
        assert_eq!(
            got,
            [EngineEvent::Digit {
                digit: '5',
                source: DigitSource::Inband
            }]
        );
        e.tick(0, &mut |_, _| {});
        assert_eq!(
            e.poll_event(),
            Some((id, EngineEvent::PlayDone { stopped: true }))
        );
        // RFC 4733 '#', end packet retransmitted: one digit.
        let ev = |end| {
            TelephoneEvent {
                event: 11,
                end,
                volume: 10,
                duration: 800,
            }
            .to_bytes()
        };
        let mut got = Vec::new();
        for (seq, end) in [(20, false), (21, true), (22, true)] {
            got.extend(e.on_rtp(id, 0, &rtp_packet(101, seq, 9000, &ev(end))));
        }
        assert_eq!(
            got,
            [EngineEvent::Digit {
                digit: '#',
                source: DigitSource::Rfc4733
            }]
        );
        // From now on the audio is not searched: an inband key is not reported.
        let mut lo = Tone::new(f64::from(r), -10.0, 8000);
        let mut hi = Tone::new(f64::from(c), -10.0, 8000);
        for i in 30..40u16 {
            let mut pcm = [0i16; 160];
            for s in pcm.iter_mut() {
                *s = lo.next_sample() + hi.next_sample();
            }
            let mut pay = [0u8; 160];
            g711::encode_ulaw(&pcm, &mut pay);
            assert!(
                e.on_rtp(id, 0, &rtp_packet(0, i, u32::from(i) * 160, &pay))
                    .is_none()
            );
        }
        assert!(e.on_rtp(id, 0, &[1, 2, 3]).is_none());
        assert!(e.on_rtp(id, 0, &rtp_packet(55, 1, 1, &[0; 160])).is_none());
    }

    #[test]
    fn a_g722_session_plays_an_8khz_prompt_and_hears_digits_and_voice_in_g722() {
        let mut e = Engine::new(0);
        let id = e.add(SessionParams {
            codec: Codec::G722,
            pt: 9,
            ..params(1)
        });
        let mut t = Tone::new(1000.0, -10.0, 8000);
        let mut samples = vec![0i16; 8000];
        t.fill_linear(&mut samples);
        e.set_source(id, Source::Player(Player::new(vec![samples.into()], 0)));
        // What the phone hears: G.722 at payload type 9, 160 bytes and ts + 160 per 20 ms.
        let mut phone = FrameCodec::g722();
        let mut heard = Vec::new();
        let mut stamps = Vec::new();
        for ms in 0..1000u64 {
            e.tick(ms * 1000, &mut |_, p| {
                let h = rtp::parse(p).unwrap();
                assert_eq!((h.pt, h.payload_len), (9, 160));
                stamps.push(h.ts);
                let mut pcm = [0i16; 160];
                phone.decode(&p[12..], &mut pcm).unwrap();
                heard.extend_from_slice(&pcm);
            });
        }
        assert!(stamps.windows(2).all(|w| w[1] == w[0].wrapping_add(160)));
        let level = goertzel(&heard[800..8000], 1000.0, 8000) / t.amplitude();
        assert!(
            (0.9..1.1).contains(&level),
            "1 kHz at {level:.3} of its amplitude"
        );
        assert!(goertzel(&heard[800..8000], 440.0, 8000) < 0.02 * t.amplitude());

        // What the phone sends: an inband '7' then a tone, G.722 at payload type 9.
        e.start_recording(id, Recorder::new(60_000, None));
        let (r, c) = crate::inband::key_frequencies('7').unwrap();
        let mut lo = Tone::new(f64::from(r), -10.0, 8000);
        let mut hi = Tone::new(f64::from(c), -10.0, 8000);
        let mut voice = Tone::new(440.0, -10.0, 8000);
        let mut got = Vec::new();
        for i in 0..50u16 {
            let mut pcm = [0i16; 160];
            for s in pcm.iter_mut() {
                *s = match i {
                    0..5 => lo.next_sample() + hi.next_sample(),
                    5..10 => 0,
                    _ => voice.next_sample(),
                };
            }
            let mut pay = [0u8; 160];
            phone.encode(&pcm, &mut pay).unwrap();
            got.extend(e.on_rtp(id, 0, &rtp_packet(9, i, u32::from(i) * 160, &pay)));
        }
        assert_eq!(
            got,
            [EngineEvent::Digit {
                digit: '7',
                source: DigitSource::Inband
            }]
        );
        let rec = e.take_recording(id).unwrap();
        assert_eq!(rec.samples().len(), 50 * 160);
        let level = goertzel(&rec.samples()[2400..], 440.0, 8000) / voice.amplitude();
        assert!((0.9..1.1).contains(&level), "440 Hz recorded at {level:.3}");
    }

    #[test]
    fn a_recording_ends_on_silence_and_is_taken() {
        let mut e = Engine::new(0);
        let id = e.add(params(1));
        e.start_recording(
            id,
            Recorder::new(
                60_000,
                Some(SilenceEnd {
                    level_dbfs: -45.0,
                    duration_ms: 1000,
                }),
            ),
        );
        let mut t = Tone::new(440.0, -10.0, 8000);
        for i in 0..100u16 {
            let mut pay = [0xffu8; 160];
            if i < 25 {
                t.fill_ulaw(&mut pay);
            }
            e.on_rtp(id, 0, &rtp_packet(0, i, u32::from(i) * 160, &pay));
        }
        assert_eq!(
            e.poll_event(),
            Some((id, EngineEvent::RecordDone(RecordEnd::Silence)))
        );
        let r = e.take_recording(id).unwrap();
        assert_eq!(r.duration_ms(), 500);
    }

    #[test]
    fn removed_sessions_stop_and_their_ids_go_stale() {
        let mut e = Engine::new(0);
        let a = e.add(params(1));
        let b = e.add(params(2));
        assert!(e.remove(a));
        assert!(!e.remove(a));
        let c = e.add(params(3));
        assert_ne!(a, c);
        assert!(!e.set_source(a, Source::Silence));
        let mut who = Vec::new();
        e.tick(40_000, &mut |id, _| who.push(id));
        assert!(who.iter().all(|id| *id == b || *id == c));
        // New sessions start at their first slot less than a period late: c (slot 0) at 40 ms,
        // b (slot 1) at 21 ms.
        assert_eq!(who.len(), 2);
        e.remove(b);
        e.remove(c);
        assert_eq!(e.next_deadline(), None);
        assert!(e.is_empty());
    }

    #[test]
    fn a_window_of_lateness_excludes_what_came_before_and_merged_engines_count_every_frame() {
        let mut a = EngineStats::default();
        for _ in 0..10 {
            a.record(30_000);
        }
        let before = a.clone();
        for _ in 0..1000 {
            a.record(150);
        }
        let w = a.since(&before);
        assert_eq!(w.frames, 1000);
        assert_eq!(w.late_over_20ms, 0);
        assert_eq!(w.p999_us(), 200);
        assert_eq!(
            w.max_late_us, 200,
            "bucket bound, below the earlier 30 ms maximum"
        );
        a.record(40_000);
        assert_eq!(
            a.since(&before).max_late_us,
            40_000,
            "a new maximum is exact"
        );
        let mut b = EngineStats::default();
        for _ in 0..1000 {
            b.record(4_950);
        }
        let mut all = w.clone();
        all.merge(&b);
        assert_eq!(all.frames, 2000);
        assert_eq!(all.quantile_us(0.5), 200);
        assert_eq!(all.quantile_us(0.51), 5_000);
        assert_eq!(all.max_late_us, 4_950);
    }

    #[test]
    fn lateness_is_measured_and_a_long_stall_skips_frames() {
        let mut e = Engine::new(0);
        e.add(params(1));
        e.tick(0, &mut |_, _| {});
        e.tick(45_000, &mut |_, _| {}); // frames due at 20 and 40 ms, 25 and 5 ms late
        assert_eq!(e.stats().frames, 3);
        assert_eq!(e.stats().late_over_20ms, 1);
        assert_eq!(e.stats().max_late_us, 25_000);
        let mut n = 0;
        e.tick(10_045_000, &mut |_, _| n += 1);
        // 200 ms of catch-up sent (10 frames), the rest skipped.
        assert_eq!(n, 10);
        // Due from 60 ms to 10.04 s: 500 frames, 490 skipped.
        assert_eq!(e.stats().skipped, 490);
        // A session added to an engine that idled for a minute starts now, without a burst.
        let mut e = Engine::new(0);
        let late = e.add(params(3));
        let mut n = 0;
        e.tick(60_000_500, &mut |_, _| n += 1);
        assert_eq!(n, 1);
        assert_eq!((e.stats().frames, e.stats().skipped), (1, 0));
        assert_eq!(e.next_deadline(), Some(60_020_000));
        e.remove(late);
        let tones = Source::Tone(ToneGen::new(crate::tones::tone_plan(
            "RU",
            crate::tones::ToneKind::Busy,
        )));
        let id = e.add(params(2));
        assert!(e.set_source(id, tones));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_packets_and_tick_times_never_panic_and_streams_stay_continuous(
            packets in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..400), 0..40),
            steps in proptest::collection::vec(0u64..70_000, 1..60),
        ) {
            let mut e = Engine::new(5);
            let ids: Vec<_> = (0..30).map(|i| e.add(params(i))).collect();
            for (k, mut p) in packets.into_iter().enumerate() {
                if k % 2 == 0 && p.len() > 2 {
                    p[0] = 0x80; // mostly valid RTP
                    p[1] = [0u8, 8, 101, 96][k % 4];
                }
                let _ = e.on_rtp(ids[k % ids.len()], 0, &p);
            }
            let mut now = 5;
            let mut ts_of: std::collections::HashMap<SessionId, Vec<u32>> = Default::default();
            let mut frames = 0;
            for st in steps {
                now += st;
                e.tick(now, &mut |id, p| {
                    assert_eq!(p.len(), 172);
                    ts_of.entry(id).or_default().push(rtp::parse(p).unwrap().ts);
                    frames += 1;
                });
            }
            // Once started, a session sends every period: no gap, no repeat (the stalls here are
            // shorter than the catch-up limit).
            for ts in ts_of.values() {
                proptest::prop_assert_eq!(ts[0], 1000);
                for w in ts.windows(2) {
                    proptest::prop_assert_eq!(w[1].wrapping_sub(w[0]), 160);
                }
            }
            proptest::prop_assert_eq!(e.stats().frames, frames);
        }
    }
}
