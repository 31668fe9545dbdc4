//! The RTP relay engine that the B2BUA drives.
//!
//! Every leg owns a port pair (RTP on an even port, RTCP on port + 1) from the configured range.
//! Worker threads (plain `std::thread`, one level-triggered epoll loop each) own the legs' sockets;
//! [`Relay::connect`] puts both legs of a pair on the same worker, so forwarding state is
//! thread-local and the packet path takes no lock. Commands reach a worker through a channel and
//! an eventfd.
//!
//! Per packet the worker does one `recv_from` (level-triggered epoll: one datagram per readiness
//! report, so no read ends in `EWOULDBLOCK`), the latch check ([`pbx_media::Latch`]), payload-type
//! mapping, A-law ↔ µ-law transcoding when the legs' codecs differ, re-stamping for the outgoing
//! leg ([`pbx_media::Restamper`]) and `send_to` from the peer leg's socket: one reused buffer,
//! no allocation (a tap, when set, copies the packet), no syscall besides the two socket calls
//! (the clock is read once per wake-up, and every 16 packets of a long batch). No-RTP timeouts
//! are checked on a 250 ms timer.
//!
//! **G.722.** When one leg speaks G.722 and its peer G.711, the worker transcodes on a slower
//! path: the payload is decoded into a reused buffer of 8 kHz samples and encoded in place for
//! the other leg, the same number of bytes either way (64 kbit/s both). G.722 is coded in its
//! narrowband mode ([`pbx_audio::g722::G722Decoder::decode_narrowband`],
//! [`pbx_audio::g722::G722Encoder::encode_narrowband`]: the lower sub-band alone, as SpanDSP and
//! Asterisk do between G.722 and narrowband audio): the G.711 side carries 0–4 kHz anyway, and
//! it costs about a third of decoding 16 kHz audio and resampling it (measured by
//! `examples/transcode_cost.rs`). Each G.722 leg owns its decoder (what its remote sends) and
//! encoder (what is sent to it), allocated when the leg is configured: still no allocation per
//! packet. Two G.722 legs relay untouched like two G.711 legs.
//!
//! [`Relay::send_digit`] injects RFC 4733 events that the worker generates on its own timer,
//! numbered into the leg's outgoing stream by the same [`pbx_media::Restamper`].
//!
//! Commands take effect at the worker's next wake-up: packets already being read when a
//! command is sent may still be handled the old way. [`Relay::stats`] is a barrier (it waits for
//! the worker to answer).
//!
//! **Media applications.** Every worker owns one [`pbx_media::engine::Engine`] (no lock). A leg
//! given an app ([`Relay::attach_app`]) gets an engine session: what its remote sends is also
//! fed to the session (RFC 4733 and inband digits, voicemail recording), and what the session
//! plays (prompts, music on hold, tones, silence: [`Relay::set_app_source`]) is sent to the remote
//! every 20 ms, through the leg's [`pbx_media::Restamper`] so the remote sees one continuous
//! stream (same SSRC, sequence + 1, timestamps continuous) across relayed audio, app audio and
//! injected digits. While the app is attached the connected peer's packets (RTP and RTCP) are not
//! forwarded to the leg (that is how music on hold replaces the held party's audio); the leg's
//! own packets are still forwarded to its peer. [`Relay::detach_app`] returns it to plain
//! relaying. The worker's deadline (the earlier of the next injected-digit packet, the engine's
//! next frame and the recordings' next poll) is an absolute `timerfd` in its epoll set, exact to
//! the microsecond (an `epoll_wait` timeout is whole milliseconds plus timer slack); the frames
//! that are due go out first in every wake-up, before the packets that came with it. When the
//! engine's next frame is due within 1 ms (many sessions: one slot every millisecond) the worker
//! sleeps on its timer and commands only and takes the packets that arrived meanwhile in one
//! batch: one wake-up per millisecond instead of one per packet, at the price of up to 1 ms more
//! delay for packets relayed on that worker. [`Relay::set_worker_priority`] runs the workers
//! with a real-time policy on a loaded machine (`bench/media.sh` measures both).
//! App results arrive as [`RelayEvent::App`]. Legs without an app take the same path as before
//! (one `Option` check more per forwarded packet).
//!
//! **Call recording.** [`Relay::start_call_recording`] gives a leg a
//! [`pbx_media::record::CallRecorder`]: packets received on the leg and on its peer are decoded
//! into its two rings as they are forwarded (a table lookup per byte, no copy of the packet, no
//! syscall); every 100 ms the worker moves the aligned frames into a one-second chunk and hands
//! full chunks to the owner's [`RecordingSink`], which does the file I/O on another thread.
//!
//! ```
//! use std::time::Duration;
//! use pbx_relay::*;
//!
//! let (tx, events) = std::sync::mpsc::sync_channel(64);
//! let relay = Relay::start(
//!     RelayConfig {
//!         ip: [127, 0, 0, 1].into(), advertise: [127, 0, 0, 1].into(),
//!         first_port: 44100, last_port: 44103, workers: 1,
//!         learn_window: Duration::from_millis(100),
//!     },
//!     Box::new(move |ev| { let _ = tx.try_send(ev); }), // never block a worker
//! )?;
//! let (leg, _local) = relay.allocate(42)?;
//! relay.configure(leg, LegParams {
//!     remote: Some("127.0.0.1:9".parse()?), remote_rtcp: None, rtcp_mux: true,
//!     codec: Codec::Pcma, pt: 8, dtmf_pt: Some(101), timeout: Duration::ZERO,
//! });
//! relay.attach_app(leg, AppParams::default())?;          // an IVR: inband until RFC 4733, barge-in
//! let greeting: Prompt = vec![0i16; 1600].into();        // 200 ms, loaded once and shared
//! relay.set_app_source(leg, Source::Player(Player::new(vec![greeting], 0)));
//! match events.recv_timeout(Duration::from_secs(2))? {
//!     RelayEvent::App { owner: 42, event: AppEvent::PlayDone { stopped: false }, .. } => {}
//!     other => panic!("{other:?}"),
//! }
//! relay.detach_app(leg);                                 // back to plain relaying
//! relay.release(leg);
//! relay.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Events ([`RelayEvent`]) are delivered by calling the closure given to [`Relay::start`] on a
//! worker thread: it must not block, and must not call [`Relay::connect`] or [`Relay::stats`]
//! (they wait for a worker's answer; at worst they give up after a timeout).

mod callrec;
mod poller;
mod pool;
mod worker;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// The media types in this crate's API, so a caller needs no direct dependency on pbx-media.
pub use pbx_media::engine::{DigitSource, EngineStats, InbandMode, Source};
pub use pbx_media::player::{MohSource, Player, Playlist, Prompt};
pub use pbx_media::record::{CallRecorderStats, RecordEnd, Recorder, SilenceEnd};
pub use pbx_media::tones::{ToneGen, ToneKind, tone_plan};
use pool::Pool;
use worker::{Cmd, Leg, WorkerCounters};

/// How the relay is set up.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Address the sockets bind to.
    pub ip: IpAddr,
    /// Address put in SDP (the caller may override per leg).
    pub advertise: IpAddr,
    /// First port of the range (rounded up to even).
    pub first_port: u16,
    /// Last port of the range (a pair needs both its ports in range).
    pub last_port: u16,
    /// Worker threads (at least one).
    pub workers: usize,
    /// Latch learning window after the first packet (see [`pbx_media::Latch`]); also how long a
    /// released port pair rests before it is handed out again.
    pub learn_window: Duration,
}

/// One leg's port pair in the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

/// What a leg's remote sends and expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// G.722 (RTP clock 8000 for 16 kHz audio, RFC 3551 §4.5.2). Transcoded to and from a
    /// G.711 peer on the slow path (narrowband G.722 ↔ 8 kHz ↔ G.711; state per leg and
    /// direction).
    G722,
    /// Anything else: relayed untouched (no transcoding), clock assumed 8 kHz for re-stamping.
    Other(u8),
}

/// A leg's negotiated media, from its SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegParams {
    /// Signalled RTP address (None, or 0.0.0.0, when unknown or on hold).
    pub remote: Option<SocketAddr>,
    /// Signalled RTCP address (`a=rtcp`); None means RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port (RFC 5761).
    pub rtcp_mux: bool,
    /// The remote's codec.
    pub codec: Codec,
    /// The remote's payload type for `codec`.
    pub pt: u8,
    /// The remote's telephone-event payload type.
    pub dtmf_pt: Option<u8>,
    /// No RTP for this long → [`RelayEvent::Timeout`] (pass `rtp_hold_timeout` while on hold;
    /// zero disables).
    pub timeout: Duration,
}

/// What the relay tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    /// No RTP on `leg` for its configured timeout (once, until packets come again or the leg
    /// is configured anew).
    Timeout {
        /// The silent leg.
        leg: LegId,
        /// The owner given to [`Relay::allocate`].
        owner: u64,
    },
    /// An RFC 4733 digit arrived on a watched leg.
    Digit {
        /// Where it came from.
        leg: LegId,
        /// The owner given to [`Relay::allocate`].
        owner: u64,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
    /// The media application on `leg` ([`Relay::attach_app`]) reports something.
    App {
        /// The leg the app runs on.
        leg: LegId,
        /// The owner given to [`Relay::allocate`].
        owner: u64,
        /// What happened.
        event: AppEvent,
    },
}

/// What a leg's media application reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppEvent {
    /// A key was pressed (RFC 4733 or inband). With barge-in on, a playing prompt list stops and
    /// its [`AppEvent::PlayDone`] follows.
    Digit {
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
        /// How it arrived.
        source: DigitSource,
    },
    /// The prompt list set by [`Relay::set_app_source`] ended (one event per prompt list);
    /// `stopped` when a barge-in or a new source cut it short. Silence follows.
    PlayDone {
        /// Cut short rather than played to the end.
        stopped: bool,
    },
    /// The recording started by [`Relay::start_app_recording`] ended: on silence (trailing
    /// silence trimmed), at its maximum length, or stopped ([`Relay::stop_app_recording`],
    /// [`Relay::detach_app`]). Carries the audio, 8 kHz mono linear.
    RecordDone {
        /// Why it ended.
        end: RecordEnd,
        /// The recorded samples (moved out of the recorder, not copied).
        samples: Vec<i16>,
    },
}

/// How a leg's media application listens (codec, payload types and stream identity come from
/// the leg: its last [`LegParams`] and its outgoing [`pbx_media::Restamper`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppParams {
    /// Whether received audio is searched for inband DTMF.
    pub inband: InbandMode,
    /// A digit stops a playing prompt list.
    pub barge_in: bool,
}

impl Default for AppParams {
    /// Inband detection until the remote shows it uses RFC 4733; barge-in on (an IVR).
    fn default() -> Self {
        AppParams {
            inband: InbandMode::UntilRfc4733,
            barge_in: true,
        }
    }
}

/// Frame lateness of the workers' media engines.
#[derive(Debug, Clone)]
pub struct AppStats {
    /// App sessions running now, all workers.
    pub sessions: usize,
    /// Frames sent, all workers.
    pub frames: u64,
    /// Frames sent more than 20 ms after their slot's time.
    pub late_over_20ms: u64,
    /// Frames not sent because a worker fell more than 200 ms behind.
    pub skipped: u64,
    /// Largest lateness, µs.
    pub max_late_us: u64,
    /// Median lateness, µs: the largest of the workers' medians (exact with one worker, an
    /// upper bound otherwise; see `per_worker` for each histogram).
    pub p50_us: u64,
    /// 99th percentile, µs (largest of the workers').
    pub p99_us: u64,
    /// 99.9th percentile, µs (largest of the workers').
    pub p999_us: u64,
    /// Each worker's engine statistics (histogram with 100 µs buckets).
    pub per_worker: Vec<EngineStats>,
}

impl AppStats {
    /// Share of frames sent more than 20 ms late, in percent.
    pub fn late_over_20ms_pct(&self) -> f64 {
        if self.frames == 0 {
            0.0
        } else {
            self.late_over_20ms as f64 * 100.0 / self.frames as f64
        }
    }
}

/// Why a relay request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// Every port pair is in use (or resting after release).
    #[error("no free RTP port pair")]
    Exhausted,
    /// [`Relay::shutdown`] was called.
    #[error("the relay is shut down")]
    ShutDown,
    /// The leg is not allocated (or was released).
    #[error("no such leg")]
    UnknownLeg,
    /// The leg's remote negotiated no telephone-event payload type: the digit cannot be sent
    /// as RFC 4733 (the caller may send SIP INFO instead).
    #[error("the leg has no telephone-event payload type")]
    NoTelephoneEvent,
    /// Not one of `0`–`9`, `*`, `#`, `A`–`D`.
    #[error("{0:?} is not a DTMF digit")]
    NotADigit(char),
    /// The leg's remote negotiated a codec the media engine cannot play or listen to (it speaks
    /// G.711 only): the app cannot run on it.
    #[error("the leg's codec is neither G.711 nor G.722: no media application on it")]
    AppCodec,
    /// The system refused the worker's scheduling policy (a real-time policy needs root or
    /// `CAP_SYS_NICE`, and an `RLIMIT_RTPRIO` that allows the priority).
    #[error("worker {worker}: scheduling policy refused: {reason}")]
    Priority {
        /// The worker thread (`pbx-relay-N`).
        worker: usize,
        /// What the system said.
        reason: String,
    },
}

/// How the relay's worker threads are scheduled; see [`Relay::set_worker_priority`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerPriority {
    /// The normal time-sharing policy (`SCHED_OTHER`), as every thread starts: the default.
    #[default]
    Normal,
    /// `SCHED_FIFO` at this priority (1–99): a worker that has a packet or a frame due runs
    /// before every normal thread of the machine (compilers, databases, the SIP threads), so
    /// its frames leave on time however loaded the machine is. The kernel still keeps 5 % of
    /// each second for normal threads (`kernel.sched_rt_runtime_us`).
    Fifo(u8),
    /// `SCHED_RR` at this priority (1–99): as [`WorkerPriority::Fifo`], and workers at the
    /// same priority share a CPU in 100 ms turns.
    RoundRobin(u8),
}

/// A leg's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegStats {
    /// Local RTP address (RTCP is port + 1).
    pub local: SocketAddr,
    /// Packets (RTP and RTCP) accepted from the remote.
    pub rx_packets: u64,
    /// Bytes accepted from the remote.
    pub rx_bytes: u64,
    /// Packets sent to the remote (relayed, injected digits and the app's frames).
    pub tx_packets: u64,
    /// Bytes sent to the remote.
    pub tx_bytes: u64,
    /// Packets refused by the latch (RTP bleed, strays).
    pub dropped: u64,
    /// Accepted packets not forwarded: leg not connected, peer without address, unmapped RTCP,
    /// malformed RTP, send errors, RTP dropped while the peer sends an injected digit,
    /// packets (RTP and RTCP) dropped because the peer has a media app ([`Relay::attach_app`]).
    pub unforwarded: u64,
    /// The address media is latched to.
    pub latched: Option<SocketAddr>,
    /// Time since the last accepted packet.
    pub last_rx_age: Option<Duration>,
    /// The leg this one is connected to.
    pub peer: Option<LegId>,
}

/// A copy of a received packet for a recorder.
#[derive(Debug, Clone)]
pub struct TapPacket {
    /// The leg it was received on.
    pub leg: LegId,
    /// RTCP (muxed or on the RTCP port) rather than RTP.
    pub rtcp: bool,
    /// Where it came from.
    pub from: SocketAddr,
    /// When the worker woke up to read it.
    pub received: Instant,
    /// The packet as received (before any rewriting).
    pub data: Vec<u8>,
}

/// A piece of a call recording ([`Relay::start_call_recording`]): 8 kHz 16-bit samples,
/// interleaved stereo, the recorded leg's remote on the left and its peer's on the right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingChunk {
    /// About one second of audio (less in the last chunk; empty when nothing was left).
    pub samples: Vec<i16>,
    /// The recording ended with this chunk (stopped, the leg released, or the relay shut
    /// down); no more chunks follow.
    pub last: bool,
    /// The recorder's counters so far (packets placed, late, ignored, re-anchored).
    pub stats: CallRecorderStats,
}

/// Where a worker hands a call recording's chunks. Called on the worker thread: it must not
/// block (hand the chunk to a writer thread with `try_send`, and count what a full channel
/// loses).
pub type RecordingSink = Box<dyn FnMut(RecordingChunk) + Send>;

/// Totals over all legs since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayTotals {
    /// Packets accepted.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets refused by latches.
    pub dropped: u64,
}

type EventFn = dyn Fn(RelayEvent) + Send + Sync;

/// How long [`Relay::connect`] and [`Relay::stats`] wait for a worker's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct WorkerHandle {
    tx: mpsc::Sender<Cmd>,
    waker: Arc<poller::Waker>,
    counters: Arc<WorkerCounters>,
}

#[derive(Debug, Clone, Copy)]
struct Route {
    worker: usize,
    /// The last [`LegParams`] given had a telephone-event payload type.
    dtmf: bool,
    /// The last [`LegParams`] given had a codec other than G.711 and G.722.
    other_codec: bool,
}

#[derive(Debug, Default)]
struct Routing {
    /// Leg → worker index.
    legs: HashMap<u64, Route>,
    /// Legs per worker.
    load: Vec<usize>,
    next_id: u64,
}

struct Inner {
    cfg: RelayConfig,
    pool: Arc<Mutex<Pool>>,
    routing: Mutex<Routing>,
    workers: Vec<WorkerHandle>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    shut: AtomicBool,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("cfg", &self.cfg)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.tx.send(Cmd::Shutdown);
            let _ = w.waker.wake();
        }
    }
}

/// Handle to the relay: `Send + Sync`, cheap to clone.
#[derive(Debug, Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked mid-update leaves plain counters behind, nothing to repair.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Relay {
    /// Starts `cfg.workers` worker threads. `events` is called on worker threads.
    pub fn start(cfg: RelayConfig, events: Box<EventFn>) -> io::Result<Relay> {
        let events: Arc<EventFn> = Arc::from(events);
        let pool = Arc::new(Mutex::new(Pool::new(
            cfg.first_port,
            cfg.last_port,
            cfg.learn_window,
        )));
        let n = cfg.workers.max(1);
        let mut workers = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        let epoch = Instant::now();
        for i in 0..n {
            let (tx, handle) = worker::spawn(i, events.clone(), pool.clone(), epoch)?;
            workers.push(tx);
            threads.push(handle);
        }
        let routing = Routing {
            load: vec![0; n],
            next_id: 1,
            ..Routing::default()
        };
        Ok(Relay {
            inner: Arc::new(Inner {
                cfg,
                pool,
                routing: Mutex::new(routing),
                workers,
                threads: Mutex::new(threads),
                shut: AtomicBool::new(false),
                hasher: std::collections::hash_map::RandomState::new(),
            }),
        })
    }

    /// Sets the scheduling policy of every worker thread (each sets its own), and returns the
    /// first refusal. Real-time policies are the operator's choice for a loaded machine: they
    /// need root or `CAP_SYS_NICE`. Asterisk's `-p` and rtpengine's thread priority options are
    /// the same idea; `bench/media.sh` measures what it changes.
    pub fn set_worker_priority(&self, priority: WorkerPriority) -> Result<(), RelayError> {
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(RelayError::ShutDown);
        }
        let mut replies = Vec::with_capacity(self.inner.workers.len());
        for i in 0..self.inner.workers.len() {
            let (tx, rx) = mpsc::sync_channel(1);
            self.send(i, Cmd::SetPriority(priority, tx));
            replies.push(rx);
        }
        for (worker, rx) in replies.into_iter().enumerate() {
            match rx.recv_timeout(ANSWER_TIMEOUT) {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(RelayError::Priority { worker, reason }),
                Err(_) => return Err(RelayError::ShutDown),
            }
        }
        Ok(())
    }

    /// The configuration the relay runs with.
    pub fn config(&self) -> &RelayConfig {
        &self.inner.cfg
    }

    fn send(&self, worker: usize, cmd: Cmd) {
        if let Some(w) = self.inner.workers.get(worker)
            && w.tx.send(cmd).is_ok()
        {
            let _ = w.waker.wake();
        }
    }

    fn worker_of(&self, leg: LegId) -> Option<usize> {
        lock(&self.inner.routing).legs.get(&leg.0).map(|r| r.worker)
    }

    /// Takes a free port pair for a new leg belonging to `owner` (returned in events). The
    /// address is the local RTP address (bound to `cfg.ip`); RTCP is port + 1.
    pub fn allocate(&self, owner: u64) -> Result<(LegId, SocketAddr), RelayError> {
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(RelayError::ShutDown);
        }
        let now = Instant::now();
        let (port, rtp, rtcp) = loop {
            let port = lock(&self.inner.pool)
                .take(now)
                .ok_or(RelayError::Exhausted)?;
            match worker::bind_pair(self.inner.cfg.ip, port) {
                Ok((rtp, rtcp)) => break (port, rtp, rtcp),
                // Someone else holds it: it rests at the back, so the loop ends.
                Err(_) => lock(&self.inner.pool).release(port, now),
            }
        };
        let local = SocketAddr::new(self.inner.cfg.ip, port);
        let mut routing = lock(&self.inner.routing);
        let id = LegId(routing.next_id);
        routing.next_id += 1;
        // Every leg of one owner (call) on the same worker: bridging them
        // then never moves a leg between threads (a blocking hand-over).
        let w = (self.inner.hasher.hash_one(owner) % routing.load.len().max(1) as u64) as usize;
        routing.load[w] += 1;
        routing.legs.insert(
            id.0,
            Route {
                worker: w,
                dtmf: false,
                other_codec: false,
            },
        );
        let seed = self.inner.hasher.hash_one(id.0);
        let leg = Leg::new(
            id,
            owner,
            local,
            rtp,
            rtcp,
            seed,
            self.inner.cfg.learn_window,
        );
        self.send(w, Cmd::Add(Box::new(leg)));
        Ok((id, local))
    }

    /// New or changed SDP for `leg`; reopens its latch window.
    pub fn configure(&self, leg: LegId, params: LegParams) {
        let w = {
            let mut routing = lock(&self.inner.routing);
            let Some(route) = routing.legs.get_mut(&leg.0) else {
                return;
            };
            route.dtmf = params.dtmf_pt.is_some();
            route.other_codec = matches!(params.codec, Codec::Other(_));
            route.worker
        };
        self.send(w, Cmd::Configure(leg, params));
    }

    /// Connects `a` and `b` both ways (each is first disconnected from any other peer). Moves
    /// `b` to `a`'s worker when they differ, waiting for that worker to hand it over.
    pub fn connect(&self, a: LegId, b: LegId) {
        if a == b {
            return;
        }
        let mut routing = lock(&self.inner.routing);
        let (Some(wa), Some(wb)) = (
            routing.legs.get(&a.0).map(|r| r.worker),
            routing.legs.get(&b.0).map(|r| r.worker),
        ) else {
            return;
        };
        if wa != wb {
            let (tx, rx) = mpsc::sync_channel(1);
            self.send(wb, Cmd::Detach(b, tx));
            match rx.recv_timeout(ANSWER_TIMEOUT) {
                Ok(Some(leg)) => {
                    self.send(wa, Cmd::Add(leg));
                    if let Some(r) = routing.legs.get_mut(&b.0) {
                        r.worker = wa;
                    }
                    routing.load[wb] = routing.load[wb].saturating_sub(1);
                    routing.load[wa] += 1;
                }
                _ => return,
            }
        }
        drop(routing);
        self.send(wa, Cmd::Connect(a, b));
    }

    /// Stops forwarding from and to `leg`; it stays allocated, its packets are counted and
    /// dropped.
    pub fn disconnect(&self, leg: LegId) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::Disconnect(leg));
        }
    }

    /// Closes the leg's sockets; the port pair returns to the pool and rests there for
    /// `learn_window` before it is handed out again.
    pub fn release(&self, leg: LegId) {
        let w = {
            let mut routing = lock(&self.inner.routing);
            let w = routing.legs.remove(&leg.0).map(|r| r.worker);
            if let Some(w) = w {
                routing.load[w] = routing.load[w].saturating_sub(1);
            }
            w
        };
        if let Some(w) = w {
            self.send(w, Cmd::Release(leg));
        }
    }

    /// Emit [`RelayEvent::Digit`] for RFC 4733 digits received on `leg` (they are still
    /// forwarded).
    pub fn watch_digits(&self, leg: LegId, on: bool) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::WatchDigits(leg, on));
        }
    }

    /// Sends `digit` to `leg`'s remote as an RFC 4733 event of `duration` (SIP INFO DTMF
    /// converted for a leg that negotiated telephone-event), with the leg's telephone-event
    /// payload type, numbered into the stream the leg already sends (its SSRC, the next sequence
    /// numbers, a timestamp that follows the audio's). The worker sends a start packet with
    /// the marker at once, an update every 20 ms and three end packets (E bit) 20 ms apart, all
    /// with the event's start timestamp and volume 10; `duration` is taken between 40 ms and
    /// 8.19 s (the 16-bit duration field). Audio relayed towards `leg` is dropped while the
    /// event is sent, so the far end does not hear both. Digits sent while one is in progress
    /// follow it (up to 32 queued; more are dropped). Does not wait for the worker.
    ///
    /// Fails when the leg is unknown, when its last [`LegParams`] had no `dtmf_pt` (the caller
    /// decides, e.g. SIP INFO or nothing), or when `digit` is not a DTMF digit.
    pub fn send_digit(
        &self,
        leg: LegId,
        digit: char,
        duration: Duration,
    ) -> Result<(), RelayError> {
        let event = pbx_media::dtmf::digit_to_event(digit).ok_or(RelayError::NotADigit(digit))?;
        let route = lock(&self.inner.routing)
            .legs
            .get(&leg.0)
            .copied()
            .ok_or(RelayError::UnknownLeg)?;
        if !route.dtmf {
            return Err(RelayError::NoTelephoneEvent);
        }
        let ms = duration.as_millis().clamp(40, 8191);
        let ticks = u16::try_from(ms * 8).unwrap_or(u16::MAX);
        self.send(route.worker, Cmd::SendDigit(leg, event, ticks));
        Ok(())
    }

    /// The leg's counters (asks its worker and waits for the answer).
    pub fn stats(&self, leg: LegId) -> Option<LegStats> {
        let w = self.worker_of(leg)?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(w, Cmd::Stats(leg, tx));
        rx.recv_timeout(ANSWER_TIMEOUT).ok().flatten()
    }

    /// Copies of the packets received on `leg` go to `tap` (`try_send`: a full tap loses
    /// packets, the relay never waits). `None` removes the tap.
    pub fn set_tap(&self, leg: LegId, tap: Option<SyncSender<TapPacket>>) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::SetTap(leg, tap));
        }
    }

    /// Records the call on `leg` from now on: what `leg`'s remote sends on the left channel,
    /// what its connected peer's remote sends on the right (whichever leg is its peer at the
    /// time: a transfer keeps recording), G.711 and G.722 (resampled to 8 kHz) decoded through
    /// a 60 ms jitter buffer so reordered packets land in place and lost ones leave silence. Other codecs and
    /// telephone-events are skipped (silence). The worker hands about a second at a time to
    /// `sink` and never waits on it or does I/O for it. The recording ends with a chunk
    /// marked `last` on [`Relay::stop_call_recording`], when `leg` is released, or at
    /// shutdown; it goes on while the leg moves between workers. Starting again replaces
    /// (and ends) the recording in progress. Ignored for an unknown leg.
    pub fn start_call_recording(&self, leg: LegId, sink: RecordingSink) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::StartCallRecording(leg, sink));
        }
    }

    /// Ends the call recording of `leg` (its last chunk goes to the sink).
    pub fn stop_call_recording(&self, leg: LegId) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::StopCallRecording(leg));
        }
    }

    /// Gives `leg` a media application (an engine session on its worker) sending silence until
    /// [`Relay::set_app_source`]. Its codec, payload type and telephone-event payload type are
    /// the leg's last [`LegParams`] (PCMU, payload type 0, no telephone-event before the first
    /// [`Relay::configure`]); a later `configure` that changes them restarts the session with
    /// the new ones (the current source starts again from its beginning). While attached, the
    /// peer's packets are not forwarded to `leg`, the leg's RFC 4733 digits are reported as
    /// [`AppEvent::Digit`] (not [`RelayEvent::Digit`]), and its own packets still go to the
    /// peer. Attaching again replaces the app (a recording in progress ends as by
    /// [`Relay::detach_app`]). On a G.722 leg the session upsamples the 8 kHz sources to 16 kHz
    /// and encodes them, and decodes what the remote sends back to 8 kHz (digits, voicemail). A
    /// leg later reconfigured to a codec other than G.711 and G.722 keeps its app idle (nothing
    /// sent, nothing heard) until it is configured with one of them again. A leg
    /// that moves to another worker ([`Relay::connect`] with a leg of another owner) gets its
    /// app re-created there: a prompt list restarts from its beginning, a recording goes on.
    /// Takes effect at the worker's next wake-up.
    ///
    /// Fails when the leg is unknown or its last [`LegParams`] named a codec other than G.711
    /// and G.722.
    pub fn attach_app(&self, leg: LegId, params: AppParams) -> Result<(), RelayError> {
        let route = lock(&self.inner.routing)
            .legs
            .get(&leg.0)
            .copied()
            .ok_or(RelayError::UnknownLeg)?;
        if route.other_codec {
            return Err(RelayError::AppCodec);
        }
        self.send(route.worker, Cmd::AttachApp(leg, params));
        Ok(())
    }

    /// What the leg's app plays from now on (a prompt list, music on hold, a tone, silence).
    /// A prompt list still playing ends with [`AppEvent::PlayDone`] `{ stopped: true }`.
    /// Ignored when the leg has no app.
    pub fn set_app_source(&self, leg: LegId, source: Source) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::SetAppSource(leg, Box::new(source)));
        }
    }

    /// Records what the leg's remote sends into `recorder` (replacing one in progress, which
    /// is dropped) until it ends: [`AppEvent::RecordDone`] carries the samples. Ignored when
    /// the leg has no app.
    pub fn start_app_recording(&self, leg: LegId, recorder: Recorder) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::StartAppRecording(leg, Box::new(recorder)));
        }
    }

    /// Ends the leg's recording now: [`AppEvent::RecordDone`] `{ end: Stopped, .. }` with what
    /// was recorded (call it before [`Relay::release`] when the caller hangs up: a release drops
    /// the recording without an event).
    pub fn stop_app_recording(&self, leg: LegId) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::StopAppRecording(leg));
        }
    }

    /// Removes the leg's app: plain relaying again, the peer's packets are forwarded to it
    /// (continuing the same outgoing stream). A recording in progress ends with
    /// [`AppEvent::RecordDone`] `{ end: Stopped, .. }`; no other app event follows.
    pub fn detach_app(&self, leg: LegId) {
        if let Some(w) = self.worker_of(leg) {
            self.send(w, Cmd::DetachApp(leg));
        }
    }

    /// Frame lateness of the media engines, summed over the workers (asks every worker and
    /// waits for the answers; a worker that does not answer in time is left out).
    pub fn app_stats(&self) -> AppStats {
        let mut replies = Vec::with_capacity(self.inner.workers.len());
        for i in 0..self.inner.workers.len() {
            let (tx, rx) = mpsc::sync_channel(1);
            self.send(i, Cmd::AppStats(tx));
            replies.push(rx);
        }
        let mut out = AppStats {
            sessions: 0,
            frames: 0,
            late_over_20ms: 0,
            skipped: 0,
            max_late_us: 0,
            p50_us: 0,
            p99_us: 0,
            p999_us: 0,
            per_worker: Vec::with_capacity(replies.len()),
        };
        for rx in replies {
            let Ok((sessions, st)) = rx.recv_timeout(ANSWER_TIMEOUT) else {
                continue;
            };
            out.sessions += sessions;
            out.frames += st.frames;
            out.late_over_20ms += st.late_over_20ms;
            out.skipped += st.skipped;
            out.max_late_us = out.max_late_us.max(st.max_late_us);
            if st.frames > 0 {
                out.p50_us = out.p50_us.max(st.quantile_us(0.5));
                out.p99_us = out.p99_us.max(st.quantile_us(0.99));
                out.p999_us = out.p999_us.max(st.p999_us());
            }
            out.per_worker.push(st);
        }
        out
    }

    /// Number of port pairs in the range.
    pub fn capacity(&self) -> usize {
        lock(&self.inner.pool).capacity()
    }

    /// Port pairs allocated and not yet returned.
    pub fn in_use(&self) -> usize {
        lock(&self.inner.pool).in_use()
    }

    /// Totals over all workers (updated once per worker wake-up).
    pub fn totals(&self) -> RelayTotals {
        let mut t = RelayTotals::default();
        for w in &self.inner.workers {
            t.rx_packets += w.counters.rx.load(Ordering::Relaxed);
            t.tx_packets += w.counters.tx.load(Ordering::Relaxed);
            t.dropped += w.counters.dropped.load(Ordering::Relaxed);
        }
        t
    }

    /// Names of the worker threads (`pbx-relay-N`), for CPU accounting.
    pub fn thread_names(&self) -> Vec<String> {
        (0..self.inner.workers.len())
            .map(worker::thread_name)
            .collect()
    }

    /// Stops the workers and closes every socket. Later calls do nothing; `allocate` fails.
    pub fn shutdown(&self) {
        if self.inner.shut.swap(true, Ordering::AcqRel) {
            return;
        }
        for i in 0..self.inner.workers.len() {
            self.send(i, Cmd::Shutdown);
        }
        let threads = std::mem::take(&mut *lock(&self.inner.threads));
        let me = std::thread::current().id();
        for t in threads {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
    }
}
