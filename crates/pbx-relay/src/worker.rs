//! One worker thread: an epoll loop over the sockets of the legs it owns.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::net::UdpSocket;

use pbx_audio::g722::{G722Decoder, G722Encoder};
use pbx_media::dtmf::{DigitDetector, EventGenerator};
use pbx_media::engine::{Engine, EngineEvent, EngineStats, SessionId, SessionParams, Source};
use pbx_media::record::{self, RecordEnd, RecordState, Recorder};
use pbx_media::rtp::{self, RtcpMap};
use pbx_media::{Latch, Restamper, g711};

use crate::callrec::CallRec;
use crate::poller::{Poller, TIMER, WAKER, Waker, monotonic_ns};
use crate::pool::Pool;
use crate::{
    AppEvent, AppParams, Codec, EventFn, LegId, LegParams, LegStats, RecordingSink, RelayEvent,
    TapPacket, WorkerHandle, WorkerPriority,
};

/// Timeout checks run this often.
const TICK: Duration = Duration::from_millis(250);
/// Readiness reports taken per wait.
const EVENTS: usize = 256;
/// Larger than any RTP packet on an Ethernet path; longer datagrams are cut and dropped.
const BUF_LEN: usize = 2048;
/// Interval between the packets of an injected RFC 4733 event: the G.711 packetisation, so the
/// far end's jitter buffer sees the cadence the audio had.
const DTMF_STEP_US: u64 = 20_000;
/// Timestamp units per [`DTMF_STEP_US`] (8 kHz clock).
const DTMF_STEP_TICKS: u16 = 160;
/// Power level of injected events, −dBm0 (RFC 4733 §2.3.4; what phones typically send).
const DTMF_VOLUME: u8 = 10;
/// Digits queued on one leg beyond this are dropped (a dialing burst is far shorter).
const DTMF_QUEUE: usize = 32;
/// Within a batch of readable sockets, the clock is read after this many and the frames that
/// came due are sent (a `clock_gettime` through the vDSO costs far less than one packet).
const CLOCK_EVERY: usize = 16;
/// When the next frame is due within this, the worker sleeps on its clock (timer and
/// commands) and takes the packets that arrived meanwhile in one batch at the deadline: with
/// many app sessions (a slot every millisecond) that is one wake-up per millisecond instead of
/// one per packet. A relayed packet waits at most this long.
const CLOCKED_WITHIN_US: u64 = 1000;
/// Call recordings move their aligned frames out this often (their rings hold a second).
const REC_POLL_US: u64 = 100_000;

pub(crate) enum Cmd {
    Add(Box<Leg>),
    Configure(LegId, LegParams),
    Connect(LegId, LegId),
    Disconnect(LegId),
    Release(LegId),
    WatchDigits(LegId, bool),
    /// RFC 4733 event code and duration in timestamp units.
    SendDigit(LegId, u8, u16),
    Stats(LegId, SyncSender<Option<LegStats>>),
    SetTap(LegId, Option<SyncSender<TapPacket>>),
    Detach(LegId, SyncSender<Option<Box<Leg>>>),
    AttachApp(LegId, AppParams),
    SetAppSource(LegId, Box<Source>),
    StartAppRecording(LegId, Box<Recorder>),
    StopAppRecording(LegId),
    DetachApp(LegId),
    StartCallRecording(LegId, RecordingSink),
    StopCallRecording(LegId),
    /// Sessions and lateness of the worker's engine.
    AppStats(SyncSender<(usize, EngineStats)>),
    /// Scheduling policy of the worker thread; the reply is the system's refusal, if any.
    SetPriority(WorkerPriority, SyncSender<Result<(), String>>),
    Shutdown,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Cmd::Add(_) => "Add",
            Cmd::Configure(..) => "Configure",
            Cmd::Connect(..) => "Connect",
            Cmd::Disconnect(_) => "Disconnect",
            Cmd::Release(_) => "Release",
            Cmd::WatchDigits(..) => "WatchDigits",
            Cmd::SendDigit(..) => "SendDigit",
            Cmd::Stats(..) => "Stats",
            Cmd::SetTap(..) => "SetTap",
            Cmd::Detach(..) => "Detach",
            Cmd::AttachApp(..) => "AttachApp",
            Cmd::SetAppSource(..) => "SetAppSource",
            Cmd::StartAppRecording(..) => "StartAppRecording",
            Cmd::StopAppRecording(_) => "StopAppRecording",
            Cmd::DetachApp(_) => "DetachApp",
            Cmd::StartCallRecording(..) => "StartCallRecording",
            Cmd::StopCallRecording(_) => "StopCallRecording",
            Cmd::AppStats(_) => "AppStats",
            Cmd::SetPriority(..) => "SetPriority",
            Cmd::Shutdown => "Shutdown",
        };
        f.write_str(name)
    }
}

/// Totals a worker publishes once per wake-up.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub(crate) rx: AtomicU64,
    pub(crate) tx: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// A leg and everything the packet path needs about it. Moves between workers as a whole.
#[derive(Debug)]
pub(crate) struct Leg {
    id: LegId,
    owner: u64,
    local: SocketAddr,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    params: Option<LegParams>,
    latch: Latch,
    rtcp_latch: Latch,
    /// Re-stamps what is sent out of this leg.
    out: Restamper,
    /// Slot of the connected leg on this worker.
    peer: Option<usize>,
    detector: Option<DigitDetector>,
    tap: Option<SyncSender<TapPacket>>,
    /// Injected digits: the front one is being sent; while any is queued, RTP relayed towards
    /// this leg is dropped so the far end does not hear the audio and the event at once.
    digits: VecDeque<EventGenerator>,
    /// Timestamp of the event being sent (from its first packet).
    digit_ts: Option<u32>,
    /// When the next packet of the front digit is due.
    digit_due_us: u64,
    rx_packets: u64,
    rx_bytes: u64,
    tx_packets: u64,
    tx_bytes: u64,
    unforwarded: u64,
    last_rx_us: Option<u64>,
    /// When the timeout clock started (configure or arrival on this worker).
    armed_us: Option<u64>,
    timed_out: bool,
    /// The media application on this leg.
    app: Option<Box<App>>,
    /// Apps attached so far (each engine stream gets its own SSRC).
    app_count: u32,
    /// Seeds the identities of this leg's streams.
    seed: u64,
    /// The call recording started on this leg (its remote left, its peer's right).
    rec: Option<Box<CallRec>>,
    /// G.722 state of a leg configured with G.722, used when the peer speaks G.711 (see
    /// [`transcodes`]).
    g722: Option<Box<G722State>>,
}

/// A G.722 leg's transcoding state, in G.722's narrowband mode (the lower sub-band alone: 8 kHz
/// in and out, no QMF, no resampler; about a third of the cost of 16 kHz audio resampled).
#[derive(Debug, Default)]
pub(crate) struct G722State {
    /// What the leg's remote sends.
    decoder: G722Decoder,
    /// What is sent to the leg's remote.
    encoder: G722Encoder,
}

/// A leg's media application: its engine session and what is needed to re-create it (after a
/// codec change, or on another worker when the leg moves).
#[derive(Debug)]
pub(crate) struct App {
    params: AppParams,
    /// The session in this worker's engine (None while the leg moves, or when the leg's codec
    /// is neither G.711 nor G.722).
    session: Option<SessionId>,
    /// Codec, payload type and telephone-event payload type the session was made with.
    media: Option<(record::Codec, u8, Option<u8>)>,
    /// The source last set.
    source: Source,
    /// Prompt lists set and their `PlayDone` events seen: equal when no list is pending.
    players_set: u32,
    players_done: u32,
    /// A recording carried while the leg moves between workers.
    recorder: Option<Recorder>,
}

/// What the engine session of `leg` sends and expects, from the leg's last parameters.
fn leg_media(leg: &Leg) -> Option<(record::Codec, u8, Option<u8>)> {
    match &leg.params {
        None => Some((record::Codec::Pcmu, 0, None)),
        Some(p) => match p.codec {
            Codec::Pcmu => Some((record::Codec::Pcmu, p.pt, p.dtmf_pt)),
            Codec::Pcma => Some((record::Codec::Pcma, p.pt, p.dtmf_pt)),
            Codec::G722 => Some((record::Codec::G722, p.pt, p.dtmf_pt)),
            Codec::Other(_) => None,
        },
    }
}

/// SplitMix64: spreads a seed into independent-looking stream identities.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Leg {
    pub(crate) fn new(
        id: LegId,
        owner: u64,
        local: SocketAddr,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        seed: u64,
        window: Duration,
    ) -> Leg {
        let ssrc = seed as u32;
        let seq = (seed >> 32) as u16;
        let ts = ((seed >> 48) as u32) << 8;
        Leg {
            id,
            owner,
            local,
            rtp,
            rtcp,
            params: None,
            latch: Latch::new(None, window),
            rtcp_latch: Latch::new(None, window),
            out: Restamper::new(ssrc, 8000, seq, ts),
            peer: None,
            detector: None,
            tap: None,
            digits: VecDeque::new(),
            digit_ts: None,
            digit_due_us: 0,
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            unforwarded: 0,
            last_rx_us: None,
            armed_us: None,
            timed_out: false,
            app: None,
            app_count: 0,
            seed,
            rec: None,
            g722: None,
        }
    }
}

/// Binds the RTP and RTCP sockets of the pair at `port`, non-blocking.
pub(crate) fn bind_pair(ip: IpAddr, port: u16) -> io::Result<(UdpSocket, UdpSocket)> {
    let rtp = bind(SocketAddr::new(ip, port))?;
    let rtcp = bind(SocketAddr::new(ip, port.wrapping_add(1)))?;
    Ok((rtp, rtcp))
}

fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

pub(crate) fn thread_name(i: usize) -> String {
    format!("pbx-relay-{i}")
}

pub(crate) fn spawn(
    i: usize,
    events: Arc<EventFn>,
    pool: Arc<Mutex<Pool>>,
    epoch: Instant,
) -> io::Result<(WorkerHandle, JoinHandle<()>)> {
    let (poll, waker) = Poller::new()?;
    let waker = Arc::new(waker);
    let (tx, rx) = mpsc::channel();
    let counters = Arc::new(WorkerCounters::default());
    let mut w = Worker {
        poll,
        waker: waker.clone(),
        rx,
        legs: Vec::new(),
        free_slots: Vec::new(),
        index: HashMap::new(),
        buf: vec![0; BUF_LEN].into_boxed_slice(),
        pcm: vec![0; BUF_LEN].into_boxed_slice(),
        events,
        pool,
        epoch,
        epoch_ns: monotonic_ns().saturating_sub(epoch.elapsed().as_nanos() as u64),
        counters: counters.clone(),
        rx_total: 0,
        tx_total: 0,
        dropped_total: 0,
        injecting: Vec::new(),
        engine: Engine::new(Instant::now().saturating_duration_since(epoch).as_micros() as u64),
        apps: HashMap::new(),
        recording: Vec::new(),
        next_rec_poll_us: 0,
    };
    let handle = std::thread::Builder::new()
        .name(thread_name(i))
        .spawn(move || w.run())?;
    Ok((
        WorkerHandle {
            tx,
            waker,
            counters,
        },
        handle,
    ))
}

struct Worker {
    poll: Poller,
    waker: Arc<Waker>,
    rx: Receiver<Cmd>,
    legs: Vec<Option<Box<Leg>>>,
    free_slots: Vec<usize>,
    index: HashMap<LegId, usize>,
    buf: Box<[u8]>,
    /// Decoded audio of a packet being transcoded to or from G.722 (one sample per payload byte).
    pcm: Box<[i16]>,
    events: Arc<EventFn>,
    pool: Arc<Mutex<Pool>>,
    /// Shared by all workers, so a leg's times stay valid when it moves.
    epoch: Instant,
    /// The epoch on `CLOCK_MONOTONIC`, ns (for the absolute deadline timer).
    epoch_ns: u64,
    counters: Arc<WorkerCounters>,
    rx_total: u64,
    tx_total: u64,
    dropped_total: u64,
    /// Slots of the legs with injected digits queued.
    injecting: Vec<usize>,
    /// The media engine of the app legs on this worker.
    engine: Engine,
    /// Engine session → slot of its leg.
    apps: HashMap<SessionId, usize>,
    /// Slots of the legs carrying a call recording.
    recording: Vec<usize>,
    /// When the recordings are polled next.
    next_rec_poll_us: u64,
}

/// What the source leg contributes to forwarding one packet.
#[derive(Clone, Copy)]
struct Src {
    codec: Option<Codec>,
    pt: Option<u8>,
    dtmf_pt: Option<u8>,
    out_ssrc: u32,
    out_source: Option<u32>,
}

fn token(slot: usize, rtcp: bool) -> u64 {
    slot as u64 * 2 + u64::from(rtcp)
}

impl Worker {
    fn run(&mut self) {
        self.serve();
        // Recordings end with what they have; nothing is lost at shutdown.
        for slot in std::mem::take(&mut self.recording) {
            if let Some(rec) = self
                .legs
                .get_mut(slot)
                .and_then(|l| l.as_deref_mut())
                .and_then(|l| l.rec.take())
            {
                rec.finish();
            }
        }
    }

    fn serve(&mut self) {
        let mut events = Vec::with_capacity(EVENTS);
        let mut next_tick = Instant::now() + TICK;
        // What the deadline timer is set to (None: disarmed), and whether it has fired since
        // (setting it again clears its readiness; a fired timer left as is would wake every
        // wait).
        let mut armed: Option<u64> = None;
        let mut fired = false;
        loop {
            let due = self.next_due();
            if due != armed || fired {
                let at_ns = due.map(|us| self.epoch_ns.saturating_add(us.saturating_mul(1000)));
                if self.poll.set_deadline(at_ns).is_err() {
                    return;
                }
                armed = due;
            }
            let before = Instant::now();
            let timeout = next_tick.saturating_duration_since(before);
            let before_us = before.duration_since(self.epoch).as_micros() as u64;
            let waited = if events.len() == EVENTS {
                // The last batch was full: more sockets are ready now.
                self.poll.wait(&mut events, Duration::ZERO)
            } else if self
                .engine
                .next_deadline()
                .is_some_and(|d| d <= before_us + CLOCKED_WITHIN_US)
            {
                self.poll.wait_clocked(&mut events, timeout)
            } else {
                self.poll.wait(&mut events, timeout)
            };
            if waited.is_err() {
                return;
            }
            let now = Instant::now();
            let now_us = now.duration_since(self.epoch).as_micros() as u64;
            fired = events.iter().any(|e| e.data.u64() == TIMER);
            // Commands first: a connect or configure sent before a packet arrived applies to it.
            if events.iter().any(|e| e.data.u64() == WAKER) {
                self.waker.reset();
                if !self.commands(now_us) {
                    return;
                }
            }
            // Then the frames that are due: the packets that arrived meanwhile can wait a few
            // microseconds, the frames were already waiting for their slot.
            self.send_due(now_us);
            let mut handled = 0usize;
            for ev in &events {
                let t = ev.data.u64();
                if t == WAKER || t == TIMER {
                    continue;
                }
                self.readable((t / 2) as usize, t % 2 == 1, now, now_us);
                handled += 1;
                if handled.is_multiple_of(CLOCK_EVERY) {
                    // A long batch (a burst, or a wake-up after the thread waited for a CPU)
                    // does not hold back a slot that came due meanwhile.
                    self.send_due(self.now_us());
                }
            }
            if handled >= CLOCK_EVERY {
                self.send_due(self.now_us());
            }
            if !self.recording.is_empty() && now_us >= self.next_rec_poll_us {
                self.poll_recordings(now_us);
            }
            if now >= next_tick {
                self.tick(now_us);
                next_tick = now + TICK;
            }
            self.counters.rx.store(self.rx_total, Ordering::Relaxed);
            self.counters.tx.store(self.tx_total, Ordering::Relaxed);
            self.counters
                .dropped
                .store(self.dropped_total, Ordering::Relaxed);
        }
    }

    /// Microseconds since the relay's epoch, now.
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// When the next injected event packet, engine frame or recordings' poll is due (µs since
    /// the epoch).
    fn next_due(&self) -> Option<u64> {
        let rec_due = (!self.recording.is_empty()).then_some(self.next_rec_poll_us);
        [self.next_digit_due(), self.engine.next_deadline(), rec_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// Sends the injected event packets and the engine frames due at `now_us`.
    fn send_due(&mut self, now_us: u64) {
        if !self.injecting.is_empty() {
            self.inject(now_us);
        }
        if self.engine.next_deadline().is_some_and(|d| d <= now_us) {
            self.run_engine(now_us);
        }
    }

    /// Reads one datagram from the socket (level-triggered: more are reported again) and
    /// forwards it.
    fn readable(&mut self, slot: usize, rtcp_sock: bool, now: Instant, now_us: u64) {
        let Worker {
            legs,
            buf,
            pcm,
            events,
            rx_total,
            tx_total,
            dropped_total,
            engine,
            ..
        } = self;
        let Some(leg) = legs.get_mut(slot).and_then(|l| l.as_deref_mut()) else {
            return;
        };
        let sock = if rtcp_sock { &leg.rtcp } else { &leg.rtp };
        let Ok((n, from)) = sock.recv_from(buf) else {
            return;
        };
        let pkt = &mut buf[..n];
        let is_rtcp = rtcp_sock || rtp::is_rtcp(pkt);
        let latch = if rtcp_sock {
            &mut leg.rtcp_latch
        } else {
            &mut leg.latch
        };
        if !latch.check(from, now_us) {
            *dropped_total += 1;
            return;
        }
        *rx_total += 1;
        leg.rx_packets += 1;
        leg.rx_bytes += n as u64;
        leg.last_rx_us = Some(now_us);
        leg.timed_out = false;
        if let Some(tap) = &leg.tap {
            let _ = tap.try_send(TapPacket {
                leg: leg.id,
                rtcp: is_rtcp,
                from,
                received: now,
                data: pkt.to_vec(),
            });
        }
        let hdr = if is_rtcp {
            None
        } else if let Some(h) = rtp::parse(pkt) {
            Some(h)
        } else {
            leg.unforwarded += 1;
            return;
        };
        if hdr.is_some()
            && let Some(rec) = leg.rec.as_deref_mut()
        {
            rec.push(record::Leg::A, now_us, pkt);
        }
        let params = leg.params.as_ref();
        let src = Src {
            codec: params.map(|p| p.codec),
            pt: params.map(|p| p.pt),
            dtmf_pt: params.and_then(|p| p.dtmf_pt),
            out_ssrc: leg.out.out_ssrc(),
            out_source: leg.out.source_ssrc(),
        };
        if let Some(app) = leg.app.as_deref() {
            // The app listens (digits, recording); the detector of `watch_digits` rests.
            if hdr.is_some()
                && let Some(sid) = app.session
                && let Some(EngineEvent::Digit { digit, source }) = engine.on_rtp(sid, now_us, pkt)
            {
                (events.as_ref())(RelayEvent::App {
                    leg: leg.id,
                    owner: leg.owner,
                    event: AppEvent::Digit { digit, source },
                });
            }
        } else if let (Some(h), Some(det)) = (hdr, leg.detector.as_mut())
            && src.dtmf_pt == Some(h.pt)
            && let Some(digit) = det.handle_packet(h.ts, &pkt[h.payload_range()])
        {
            (events.as_ref())(RelayEvent::Digit {
                leg: leg.id,
                owner: leg.owner,
                digit,
            });
        }
        let Some(peer) = leg.peer else {
            leg.unforwarded += 1;
            return;
        };
        // The slow path: audio between a G.722 leg and a G.711 one is decoded here with the
        // source leg's state and encoded for the peer in `forward_rtp`.
        let decoded = match (hdr, src.codec) {
            (Some(h), Some(from)) if src.pt == Some(h.pt) && src.dtmf_pt != Some(h.pt) => {
                let to = legs
                    .get(peer)
                    .and_then(|l| l.as_deref())
                    .filter(|d| d.app.is_none() && d.digits.is_empty())
                    .and_then(|d| d.params.as_ref())
                    .map(|p| p.codec);
                match (to, legs.get_mut(slot).and_then(|l| l.as_deref_mut())) {
                    (Some(to), Some(leg)) if transcodes(from, to) => {
                        decode(from, leg.g722.as_deref_mut(), &pkt[h.payload_range()], pcm)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let sent = match legs.get_mut(peer).and_then(|l| l.as_deref_mut()) {
            Some(dst) => match hdr {
                Some(h) => {
                    if let Some(rec) = dst.rec.as_deref_mut() {
                        rec.push(record::Leg::B, now_us, pkt);
                    }
                    let decoded = decoded.and_then(|n| pcm.get(..n));
                    forward_rtp(pkt, &h, &src, decoded, dst, now_us)
                }
                None => forward_rtcp(pkt, &src, dst),
            },
            None => false,
        };
        if sent {
            *tx_total += 1;
        } else if let Some(leg) = legs.get_mut(slot).and_then(|l| l.as_deref_mut()) {
            leg.unforwarded += 1;
        }
    }

    /// Drains the command channel. `false` when the worker must stop.
    fn commands(&mut self, now_us: u64) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Cmd::Shutdown) | Err(TryRecvError::Disconnected) => return false,
                Ok(cmd) => self.command(cmd, now_us),
                Err(TryRecvError::Empty) => return true,
            }
        }
    }

    fn slot(&self, id: LegId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    fn leg_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        let slot = self.slot(id)?;
        self.legs.get_mut(slot).and_then(|l| l.as_deref_mut())
    }

    fn command(&mut self, cmd: Cmd, now_us: u64) {
        match cmd {
            Cmd::Add(mut leg) => {
                let slot = self.free_slots.pop().unwrap_or(self.legs.len());
                let ok = self
                    .poll
                    .add(&leg.rtp, token(slot, false))
                    .and_then(|()| self.poll.add(&leg.rtcp, token(slot, true)));
                if ok.is_err() {
                    self.poll.delete(&leg.rtp);
                    // The pair goes back; the owner sees a leg that never carries media.
                    let port = leg.local.port();
                    drop(leg);
                    crate::lock(&self.pool).release(port, Instant::now());
                    self.free_slots.push(slot);
                    return;
                }
                leg.peer = None;
                self.index.insert(leg.id, slot);
                if slot == self.legs.len() {
                    self.legs.push(Some(leg));
                } else {
                    self.legs[slot] = Some(leg);
                }
                // Packets queued while the leg moved are reported by the first wait.
                if self.legs[slot]
                    .as_ref()
                    .is_some_and(|l| !l.digits.is_empty())
                {
                    self.injecting.push(slot);
                }
                if self.legs[slot].as_ref().is_some_and(|l| l.app.is_some()) {
                    self.open_app(slot);
                }
                if self.legs[slot].as_ref().is_some_and(|l| l.rec.is_some()) {
                    self.recording.push(slot);
                }
            }
            Cmd::Configure(id, params) => {
                if let Some(leg) = self.leg_mut(id) {
                    let rtcp_remote = if params.rtcp_mux {
                        None
                    } else {
                        params.remote_rtcp.or_else(|| {
                            params
                                .remote
                                .map(|a| SocketAddr::new(a.ip(), a.port().wrapping_add(1)))
                        })
                    };
                    leg.latch.reset(params.remote);
                    leg.rtcp_latch.reset(rtcp_remote);
                    // A re-INVITE keeping G.722 keeps the codec state (the stream goes on).
                    if params.codec != Codec::G722 {
                        leg.g722 = None;
                    } else if leg.g722.is_none() {
                        leg.g722 = Some(Box::default());
                    }
                    leg.params = Some(params);
                    leg.armed_us = Some(now_us);
                    leg.timed_out = false;
                    let changed = leg
                        .app
                        .as_deref()
                        .is_some_and(|a| a.media != leg_media(leg));
                    if changed && let Some(slot) = self.slot(id) {
                        self.drain_app_events();
                        self.close_app(slot);
                        self.open_app(slot);
                    }
                }
            }
            Cmd::Connect(a, b) => {
                if let (Some(sa), Some(sb)) = (self.slot(a), self.slot(b))
                    && sa != sb
                {
                    self.unlink(sa);
                    self.unlink(sb);
                    if let Some(l) = self.legs[sa].as_deref_mut() {
                        l.peer = Some(sb);
                    }
                    if let Some(l) = self.legs[sb].as_deref_mut() {
                        l.peer = Some(sa);
                    }
                }
            }
            Cmd::Disconnect(id) => {
                if let Some(s) = self.slot(id) {
                    self.unlink(s);
                }
            }
            Cmd::Release(id) => {
                if let Some(mut leg) = self.remove(id) {
                    if let Some(rec) = leg.rec.take() {
                        rec.finish();
                    }
                    let port = leg.local.port();
                    drop(leg);
                    crate::lock(&self.pool).release(port, Instant::now());
                }
            }
            Cmd::Detach(id, reply) => {
                // Events the app already queued go out before it leaves this engine.
                self.drain_app_events();
                let leg = self.remove(id);
                let _ = reply.send(leg);
            }
            Cmd::AttachApp(id, params) => {
                let Some(slot) = self.slot(id) else { return };
                self.end_app(slot);
                if let Some(leg) = self.legs.get_mut(slot).and_then(|l| l.as_deref_mut()) {
                    leg.app = Some(Box::new(App {
                        params,
                        session: None,
                        media: None,
                        source: Source::Silence,
                        players_set: 0,
                        players_done: 0,
                        recorder: None,
                    }));
                    self.open_app(slot);
                }
            }
            Cmd::SetAppSource(id, source) => {
                let Some(leg) = self.leg_mut(id) else { return };
                let Some(app) = leg.app.as_deref_mut() else {
                    return;
                };
                if matches!(*source, Source::Player(_)) {
                    app.players_set += 1;
                }
                app.source = *source;
                if let Some(sid) = app.session {
                    let src = app.source.clone();
                    self.engine.set_source(sid, src);
                }
            }
            Cmd::StartAppRecording(id, recorder) => {
                let Some(leg) = self.leg_mut(id) else { return };
                let Some(app) = leg.app.as_deref_mut() else {
                    return;
                };
                match app.session {
                    Some(sid) => {
                        self.engine.start_recording(sid, *recorder);
                    }
                    // An idle app (an unknown codec) starts it with its session.
                    None => app.recorder = Some(*recorder),
                }
            }
            Cmd::StopAppRecording(id) => {
                if let Some(slot) = self.slot(id) {
                    self.stop_recording(slot);
                }
            }
            Cmd::DetachApp(id) => {
                if let Some(slot) = self.slot(id) {
                    self.end_app(slot);
                }
            }
            Cmd::SetPriority(priority, reply) => {
                let _ = reply.send(set_own_priority(priority));
            }
            Cmd::StartCallRecording(id, sink) => {
                let Some(slot) = self.slot(id) else { return };
                let peer = self.legs[slot].as_deref().and_then(|l| l.peer);
                let peer_params = peer
                    .and_then(|p| self.legs.get(p)?.as_deref())
                    .and_then(|l| l.params.as_ref());
                let Some(leg) = self.legs[slot].as_deref() else {
                    return;
                };
                let rec = Box::new(CallRec::new(sink, leg.params.as_ref(), peer_params));
                if let Some(leg) = self.legs[slot].as_deref_mut()
                    && let Some(old) = leg.rec.replace(rec)
                {
                    old.finish();
                }
                if !self.recording.contains(&slot) {
                    self.recording.push(slot);
                }
                if self.recording.len() == 1 {
                    self.next_rec_poll_us = now_us + REC_POLL_US;
                }
            }
            Cmd::StopCallRecording(id) => {
                let Some(slot) = self.slot(id) else { return };
                self.recording.retain(|&s| s != slot);
                if let Some(rec) = self.legs[slot].as_deref_mut().and_then(|l| l.rec.take()) {
                    rec.finish();
                }
            }
            Cmd::AppStats(reply) => {
                let _ = reply.send((self.engine.len(), self.engine.stats().clone()));
            }
            Cmd::WatchDigits(id, on) => {
                if let Some(leg) = self.leg_mut(id) {
                    leg.detector = on.then(DigitDetector::new);
                }
            }
            Cmd::SendDigit(id, event, ticks) => {
                let Some(slot) = self.slot(id) else { return };
                let Some(leg) = self.legs.get_mut(slot).and_then(|l| l.as_deref_mut()) else {
                    return;
                };
                if leg.digits.len() >= DTMF_QUEUE {
                    return;
                }
                if leg.digits.is_empty() {
                    leg.digit_due_us = now_us;
                    leg.digit_ts = None;
                    self.injecting.push(slot);
                }
                leg.digits.push_back(EventGenerator::new(
                    event,
                    DTMF_VOLUME,
                    ticks,
                    DTMF_STEP_TICKS,
                ));
            }
            Cmd::SetTap(id, tap) => {
                if let Some(leg) = self.leg_mut(id) {
                    leg.tap = tap;
                }
            }
            Cmd::Stats(id, reply) => {
                let stats = self.stats(id, now_us);
                let _ = reply.send(stats);
            }
            Cmd::Shutdown => {}
        }
    }

    fn stats(&self, id: LegId, now_us: u64) -> Option<LegStats> {
        let slot = self.slot(id)?;
        let leg = self.legs.get(slot)?.as_deref()?;
        let peer = leg
            .peer
            .and_then(|p| self.legs.get(p)?.as_deref())
            .map(|p| p.id);
        // The clock at the last wake-up is older than now: the age is a lower bound.
        let now_us = now_us.max(leg.last_rx_us.unwrap_or(0));
        Some(LegStats {
            local: leg.local,
            rx_packets: leg.rx_packets,
            rx_bytes: leg.rx_bytes,
            tx_packets: leg.tx_packets,
            tx_bytes: leg.tx_bytes,
            dropped: leg.latch.dropped() + leg.rtcp_latch.dropped(),
            unforwarded: leg.unforwarded,
            latched: leg.latch.latched(),
            last_rx_age: leg
                .last_rx_us
                .map(|t| Duration::from_micros(now_us.saturating_sub(t))),
            peer,
        })
    }

    /// Clears the link between the leg in `slot` and its peer.
    fn unlink(&mut self, slot: usize) {
        let peer = self
            .legs
            .get_mut(slot)
            .and_then(|l| l.as_deref_mut())
            .and_then(|l| l.peer.take());
        if let Some(p) = peer
            && let Some(pl) = self.legs.get_mut(p).and_then(|l| l.as_deref_mut())
            && pl.peer == Some(slot)
        {
            pl.peer = None;
        }
    }

    /// Takes the leg off this worker: unlinked, sockets deregistered.
    fn remove(&mut self, id: LegId) -> Option<Box<Leg>> {
        let slot = self.index.remove(&id)?;
        self.unlink(slot);
        // The recorder travels with a moving leg (a released one drops it, without an event).
        self.close_app(slot);
        let leg = self.legs.get_mut(slot)?.take()?;
        self.poll.delete(&leg.rtp);
        self.poll.delete(&leg.rtcp);
        self.free_slots.push(slot);
        self.injecting.retain(|&s| s != slot);
        self.recording.retain(|&s| s != slot);
        Some(leg)
    }

    /// Starts the engine session of the app on the leg in `slot` (with its last source and any
    /// recorder it carries). A leg whose codec is neither G.711 nor G.722 keeps its app without
    /// a session.
    fn open_app(&mut self, slot: usize) {
        let Some(leg) = self.legs.get_mut(slot).and_then(|l| l.as_deref_mut()) else {
            return;
        };
        let media = leg_media(leg);
        leg.app_count = leg.app_count.wrapping_add(1);
        let m = mix(leg.seed ^ u64::from(leg.app_count).rotate_left(40));
        // Its own SSRC, unlike the relayed source's: the leg's re-stamper sees a source change
        // (sequence continues, timestamp jumps by the gap, marker set).
        let mut ssrc = m as u32;
        while Some(ssrc) == leg.out.source_ssrc() || ssrc == leg.out.out_ssrc() {
            ssrc = ssrc.wrapping_add(0x9e37_79b9);
        }
        let Some(app) = leg.app.as_deref_mut() else {
            return;
        };
        app.media = media;
        let Some((codec, pt, telephone_event_pt)) = media else {
            return;
        };
        let sid = self.engine.add(SessionParams {
            codec,
            pt,
            telephone_event_pt,
            ssrc,
            first_seq: (m >> 32) as u16,
            first_ts: (m >> 48) as u32 * 160,
            inband: app.params.inband,
            barge_in: app.params.barge_in,
        });
        // A prompt list that already reported its end is not played again.
        let source = match &app.source {
            Source::Player(_) if app.players_done >= app.players_set => Source::Silence,
            Source::Player(p) => {
                app.players_set = app.players_done + 1;
                Source::Player(p.clone())
            }
            other => other.clone(),
        };
        self.engine.set_source(sid, source);
        if let Some(r) = app.recorder.take() {
            self.engine.start_recording(sid, r);
        }
        app.session = Some(sid);
        self.apps.insert(sid, slot);
    }

    /// Removes the engine session of the leg in `slot` (its queued events are dropped); the
    /// app keeps its recorder for [`Worker::open_app`].
    fn close_app(&mut self, slot: usize) {
        let Some(app) = self
            .legs
            .get_mut(slot)
            .and_then(|l| l.as_deref_mut())
            .and_then(|l| l.app.as_deref_mut())
        else {
            return;
        };
        let Some(sid) = app.session.take() else {
            return;
        };
        self.apps.remove(&sid);
        if let Some(r) = self.engine.take_recording(sid) {
            app.recorder = Some(r);
        }
        self.engine.remove(sid);
    }

    /// Ends the recording of the leg in `slot` now, reporting what was recorded.
    fn stop_recording(&mut self, slot: usize) {
        let Some(leg) = self.legs.get_mut(slot).and_then(|l| l.as_deref_mut()) else {
            return;
        };
        let Some(app) = leg.app.as_deref_mut() else {
            return;
        };
        let recorder = match app.session {
            Some(sid) => self.engine.take_recording(sid),
            None => app.recorder.take(),
        };
        if let Some(mut r) = recorder {
            let end = match r.state() {
                RecordState::Recording => {
                    r.stop();
                    RecordEnd::Stopped
                }
                RecordState::Done(end) => end,
            };
            (self.events)(RelayEvent::App {
                leg: leg.id,
                owner: leg.owner,
                event: AppEvent::RecordDone {
                    end,
                    samples: r.take_samples(),
                },
            });
        }
    }

    /// Removes the app of the leg in `slot`: a recording in progress is reported, nothing else.
    fn end_app(&mut self, slot: usize) {
        self.stop_recording(slot);
        self.close_app(slot);
        if let Some(leg) = self.legs.get_mut(slot).and_then(|l| l.as_deref_mut()) {
            leg.app = None;
        }
    }

    /// Sends the frames the engine has due, each through its leg's re-stamper, then reports
    /// the engine's events.
    fn run_engine(&mut self, now_us: u64) {
        let Worker {
            engine,
            legs,
            apps,
            buf,
            tx_total,
            ..
        } = self;
        engine.tick(now_us, &mut |sid, pkt| {
            let Some(&slot) = apps.get(&sid) else { return };
            let Some(leg) = legs.get_mut(slot).and_then(|l| l.as_deref_mut()) else {
                return;
            };
            if !leg.digits.is_empty() {
                // An injected event is being sent: it replaces the app's audio.
                return;
            }
            let Some(out) = buf.get_mut(..pkt.len()) else {
                return;
            };
            out.copy_from_slice(pkt);
            if !leg.out.rewrite(out, now_us) {
                return;
            }
            let Some(to) = leg.latch.target() else { return };
            if send(&leg.rtp, out, to, &mut leg.tx_packets, &mut leg.tx_bytes) {
                *tx_total += 1;
            }
        });
        self.drain_app_events();
    }

    /// Reports the engine's queued events as [`RelayEvent::App`].
    fn drain_app_events(&mut self) {
        while let Some((sid, ev)) = self.engine.poll_event() {
            let Some(&slot) = self.apps.get(&sid) else {
                continue;
            };
            let Some(leg) = self.legs.get_mut(slot).and_then(|l| l.as_deref_mut()) else {
                continue;
            };
            let event = match ev {
                EngineEvent::Digit { digit, source } => AppEvent::Digit { digit, source },
                EngineEvent::PlayDone { stopped } => {
                    if let Some(app) = leg.app.as_deref_mut() {
                        app.players_done += 1;
                    }
                    AppEvent::PlayDone { stopped }
                }
                EngineEvent::RecordDone(end) => {
                    // Already reported by `stop_recording` when the recorder is gone.
                    let Some(mut r) = self.engine.take_recording(sid) else {
                        continue;
                    };
                    AppEvent::RecordDone {
                        end,
                        samples: r.take_samples(),
                    }
                }
            };
            (self.events)(RelayEvent::App {
                leg: leg.id,
                owner: leg.owner,
                event,
            });
        }
    }

    /// Moves every recording's aligned frames into its chunk.
    fn poll_recordings(&mut self, now_us: u64) {
        for &slot in &self.recording {
            if let Some(rec) = self
                .legs
                .get_mut(slot)
                .and_then(|l| l.as_deref_mut())
                .and_then(|l| l.rec.as_deref_mut())
            {
                rec.poll(now_us);
            }
        }
        self.next_rec_poll_us = now_us + REC_POLL_US;
    }

    /// The earliest time an injected event packet is due.
    fn next_digit_due(&self) -> Option<u64> {
        self.injecting
            .iter()
            .filter_map(|&s| self.legs.get(s)?.as_deref())
            .map(|l| l.digit_due_us)
            .min()
    }

    /// Sends the injected event packets that are due.
    fn inject(&mut self, now_us: u64) {
        let Worker {
            legs,
            injecting,
            tx_total,
            ..
        } = self;
        injecting.retain(|&slot| {
            let Some(leg) = legs.get_mut(slot).and_then(|l| l.as_deref_mut()) else {
                return false;
            };
            if now_us >= leg.digit_due_us {
                if send_digit_packet(leg, now_us) {
                    *tx_total += 1;
                }
                leg.digit_due_us = now_us + DTMF_STEP_US;
            }
            !leg.digits.is_empty()
        });
    }

    fn tick(&mut self, now_us: u64) {
        for leg in self.legs.iter_mut().filter_map(|l| l.as_deref_mut()) {
            let Some(p) = &leg.params else { continue };
            if p.timeout.is_zero() || leg.timed_out {
                continue;
            }
            let since = leg.last_rx_us.max(leg.armed_us).unwrap_or(now_us);
            let limit = u64::try_from(p.timeout.as_micros()).unwrap_or(u64::MAX);
            if now_us.saturating_sub(since) >= limit {
                leg.timed_out = true;
                (self.events)(RelayEvent::Timeout {
                    leg: leg.id,
                    owner: leg.owner,
                });
            }
        }
    }
}

/// Sets the calling thread's scheduling policy.
fn set_own_priority(priority: WorkerPriority) -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, RealtimeThreadSchedulePolicy, ThreadPriority,
        ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let (value, policy) = match priority {
        WorkerPriority::Normal => (
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
        ),
        WorkerPriority::Fifo(p) | WorkerPriority::RoundRobin(p) => {
            let value = ThreadPriorityValue::try_from(p).map_err(|e| e.to_string())?;
            let policy = if matches!(priority, WorkerPriority::Fifo(_)) {
                RealtimeThreadSchedulePolicy::Fifo
            } else {
                RealtimeThreadSchedulePolicy::RoundRobin
            };
            (
                ThreadPriority::Crossplatform(value),
                ThreadSchedulePolicy::Realtime(policy),
            )
        }
    };
    thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        value,
        policy,
    )
    .map_err(|e| format!("{e:?}"))
}

/// The next packet of the leg's front injected digit, numbered into its outgoing stream and
/// sent to its remote. A leg (re)configured without telephone-event drops its queue.
fn send_digit_packet(leg: &mut Leg, now_us: u64) -> bool {
    let Some(pt) = leg.params.as_ref().and_then(|p| p.dtmf_pt) else {
        leg.digits.clear();
        leg.digit_ts = None;
        return false;
    };
    let Some((marker, event)) = leg.digits.front_mut().and_then(EventGenerator::next_packet) else {
        leg.digits.pop_front();
        leg.digit_ts = None;
        return false;
    };
    let (seq, ts_now) = leg.out.generated(now_us);
    let ts = *leg.digit_ts.get_or_insert(ts_now);
    if leg.digits.front().is_some_and(EventGenerator::is_done) {
        // That was the last end packet: the next digit starts a new event (new timestamp).
        leg.digits.pop_front();
        leg.digit_ts = None;
    }
    let mut pkt = [0u8; rtp::FIXED_HEADER_LEN + 4];
    rtp::write_header(&mut pkt, pt, marker, seq, ts, leg.out.out_ssrc());
    pkt[rtp::FIXED_HEADER_LEN..].copy_from_slice(&event.to_bytes());
    match leg.latch.target() {
        Some(to) => send(&leg.rtp, &pkt, to, &mut leg.tx_packets, &mut leg.tx_bytes),
        None => false,
    }
}

/// Whether audio from a `from` leg to a `to` leg is decoded and encoded again (the slow path):
/// G.722 on one side and G.711 on the other. A-law ↔ µ-law is a table lookup in place, equal
/// codecs and unknown ones go untouched.
fn transcodes(from: Codec, to: Codec) -> bool {
    let known = |c: Codec| !matches!(c, Codec::Other(_));
    from != to && (from == Codec::G722 || to == Codec::G722) && known(from) && known(to)
}

/// Decodes an audio payload of a `codec` leg into 8 kHz samples in `pcm` (one per payload byte
/// for every codec here); None when it cannot (no G.722 state, or a payload longer than `pcm`).
fn decode(
    codec: Codec,
    g722: Option<&mut G722State>,
    payload: &[u8],
    pcm: &mut [i16],
) -> Option<usize> {
    let out = pcm.get_mut(..payload.len())?;
    match codec {
        Codec::Pcmu => g711::decode_ulaw(payload, out),
        Codec::Pcma => g711::decode_alaw(payload, out),
        Codec::G722 => {
            g722?.decoder.decode_narrowband(payload, out).ok()?;
        }
        Codec::Other(_) => return None,
    }
    Some(payload.len())
}

/// Encodes 8 kHz samples for a `codec` leg into `payload` (as long as `pcm`); false when it
/// cannot.
fn encode(codec: Codec, g722: Option<&mut G722State>, pcm: &[i16], payload: &mut [u8]) -> bool {
    if pcm.len() != payload.len() {
        return false;
    }
    match codec {
        Codec::Pcmu => g711::encode_ulaw(pcm, payload),
        Codec::Pcma => g711::encode_alaw(pcm, payload),
        Codec::G722 => {
            let Some(state) = g722 else { return false };
            if state.encoder.encode_narrowband(pcm, payload).is_err() {
                return false;
            }
        }
        Codec::Other(_) => return false,
    }
    true
}

/// Maps the payload type, transcodes, re-stamps and sends an RTP packet out of `dst`.
/// `decoded` is the packet's audio when it takes the slow path ([`transcodes`]).
fn forward_rtp(
    pkt: &mut [u8],
    h: &rtp::RtpHeader,
    src: &Src,
    decoded: Option<&[i16]>,
    dst: &mut Leg,
    now_us: u64,
) -> bool {
    let Some(dp) = dst.params.as_ref() else {
        return false;
    };
    let (dst_codec, dst_pt) = (dp.codec, dp.pt);
    if dst.app.is_some() {
        // The leg's app sends to it instead (music on hold, a prompt).
        return false;
    }
    if !dst.digits.is_empty() {
        // An injected event is being sent: it replaces the relayed audio.
        return false;
    }
    if src.dtmf_pt == Some(h.pt) {
        match dp.dtmf_pt {
            Some(pt) => rtp::set_pt(pkt, pt),
            None => return false,
        }
    } else if src.pt == Some(h.pt) {
        let payload = &mut pkt[h.payload_range()];
        match (src.codec, dst_codec) {
            (Some(Codec::Pcma), Codec::Pcmu) => g711::alaw_to_ulaw_in_place(payload),
            (Some(Codec::Pcmu), Codec::Pcma) => g711::ulaw_to_alaw_in_place(payload),
            (Some(from), to) if transcodes(from, to) => match decoded {
                Some(pcm) if encode(to, dst.g722.as_deref_mut(), pcm, payload) => {}
                _ => return false,
            },
            _ => {}
        }
        rtp::set_pt(pkt, dst_pt);
    }
    if !dst.out.rewrite(pkt, now_us) {
        return false;
    }
    let Some(to) = dst.latch.target() else {
        return false;
    };
    send(&dst.rtp, pkt, to, &mut dst.tx_packets, &mut dst.tx_bytes)
}

/// Re-maps the SSRCs of an RTCP compound packet and sends it to `dst`'s RTCP address.
fn forward_rtcp(pkt: &mut [u8], src: &Src, dst: &mut Leg) -> bool {
    if dst.app.is_some() {
        return false;
    }
    let Some(sender_from) = dst.out.source_ssrc() else {
        return false;
    };
    let Some(ts_offset) = dst.out.ts_offset_for(sender_from) else {
        return false;
    };
    let map = RtcpMap {
        sender_from,
        sender_to: dst.out.out_ssrc(),
        ts_offset,
        media_from: src.out_ssrc,
        media_to: src.out_source,
    };
    if !rtp::rewrite_rtcp(pkt, &map) {
        return false;
    }
    let mux = dst.params.as_ref().is_some_and(|p| p.rtcp_mux);
    let (sock, to) = if mux {
        (&dst.rtp, dst.latch.target())
    } else {
        (&dst.rtcp, dst.rtcp_latch.target())
    };
    match to {
        Some(to) => send(sock, pkt, to, &mut dst.tx_packets, &mut dst.tx_bytes),
        None => false,
    }
}

fn send(sock: &UdpSocket, pkt: &[u8], to: SocketAddr, packets: &mut u64, bytes: &mut u64) -> bool {
    match sock.send_to(pkt, to) {
        Ok(n) => {
            *packets += 1;
            *bytes += n as u64;
            true
        }
        Err(_) => false,
    }
}
