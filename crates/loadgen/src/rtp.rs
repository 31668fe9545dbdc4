//! The RTP streamer: G.711 streams at 50 packets/s (160-byte payloads, one
//! packet per 20 ms per stream) from a few shared UDP sockets per side, on a
//! few threads with non-blocking sockets (mio, edge-triggered).
//!
//! Streams are spread over the 20 one-millisecond slots of the packet
//! interval so the load is smooth, not a burst every 20 ms. Sockets are
//! shared by many streams (like the relay's own port range they aim at, the
//! far end tells streams apart by its own port): a received packet is matched
//! to its stream by SSRC when the sender's SSRC is known (direct calls,
//! rtpengine, proxies that do not touch media) and otherwise by the source
//! address (a relay sends each leg's packets from that leg's own port).
//! Nothing is allocated per packet.
//!
//! The receiver also keeps, per side, a histogram of the gaps between
//! consecutive packets of each stream (1 ms bins, read-side clock): the
//! pacing of what the far end sends, plus this thread's own scheduling.

use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

use crate::sdp::PCMA;

/// RTP header (12) + 20 ms of G.711 (160).
pub(crate) const PACKET_LEN: usize = 172;
/// Slots per 20 ms packet interval (one per millisecond).
const SLOTS: u64 = 20;
/// A thread that was not scheduled for a while sends the packets it owes
/// for up to this many 1 ms slots (10 packet intervals) in a burst; beyond
/// that they are skipped and counted as late slots.
const CATCH_UP_SLOTS: u64 = 200;
/// Packets drained from one socket before giving other sockets a turn.
const DRAIN_CAP: usize = 4096;
/// How long a stopped stream still counts packets in flight to it.
const LINGER: Duration = Duration::from_millis(300);
const SHARED: u32 = u32::MAX;
/// Inter-arrival gap histogram: 1 ms bins, the last one holds every gap of
/// `GAP_BINS - 1` ms or more.
pub(crate) const GAP_BINS: usize = 256;

/// The histograms, counts per 1 ms bin, indexed by [`Hist`].
pub(crate) type Gaps = [[u64; GAP_BINS]; 3];

/// Which histogram of [`Gaps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hist {
    /// Gaps between packets the callers (UAC streams) received.
    Uac = 0,
    /// Gaps between packets the callees (UAS streams) received.
    Uas = 1,
    /// How late this process's streaming threads served each 1 ms send
    /// slot: the generator's own scheduling, which the receive gaps include.
    SendLate = 2,
}

/// Which end of a call a stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The caller (UAC).
    Uac = 0,
    /// The callee (UAS).
    Uas = 1,
}

/// One stream endpoint to start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream {
    /// Unique per endpoint for this run.
    pub(crate) key: u64,
    pub(crate) side: Side,
    /// Global socket index from [`Engine::pick`].
    pub(crate) sock: usize,
    /// Where to send (the remote SDP address).
    pub(crate) remote: SocketAddr,
    pub(crate) ssrc: u32,
    /// The SSRC the far end is expected to send with (matched first).
    pub(crate) peer_ssrc: u32,
    pub(crate) payload_type: u8,
}

/// The SSRC of one end of a call, derived from a call identifier so that
/// both ends of a direct call can predict each other's SSRC.
pub(crate) fn ssrc_for(call: &str, side: Side) -> u32 {
    // FNV-1a, low bit = side.
    let mut h: u32 = 0x811c_9dc5;
    for b in call.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h & !1) | side as u32
}

/// Inter-arrival gaps of one side over an interval, from two histograms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct GapStats {
    /// Gaps measured (packets after a stream's first).
    pub(crate) count: u64,
    /// Percentiles: the lower edge of the 1 ms bin, in ms.
    pub(crate) p50_ms: u64,
    pub(crate) p99_ms: u64,
    pub(crate) p999_ms: u64,
    /// The largest gap's bin (`GAP_BINS - 1`: that many ms or more).
    pub(crate) max_ms: u64,
    /// Gaps of 40 ms or more: at least one packet interval missing.
    pub(crate) over_40ms: u64,
    /// Gaps under 5 ms: packets bunched (a burst after a stall).
    pub(crate) under_5ms: u64,
}

/// The statistics of histogram `h` between `before` and `after` (`None` when
/// nothing was counted in between).
pub(crate) fn gap_stats(before: &Gaps, after: &Gaps, h: Hist) -> Option<GapStats> {
    let s = h as usize;
    let bins: [u64; GAP_BINS] = std::array::from_fn(|b| after[s][b].saturating_sub(before[s][b]));
    let count: u64 = bins.iter().sum();
    if count == 0 {
        return None;
    }
    // Nearest rank: the smallest bin whose cumulative count reaches p·count.
    let pct = |p: f64| {
        let rank = ((count as f64 * p).ceil() as u64).max(1);
        let mut acc = 0;
        for (b, n) in bins.iter().enumerate() {
            acc += n;
            if acc >= rank {
                return b as u64;
            }
        }
        (GAP_BINS - 1) as u64
    };
    Some(GapStats {
        count,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: bins.iter().rposition(|&n| n > 0).unwrap_or(0) as u64,
        over_40ms: bins[40..].iter().sum(),
        under_5ms: bins[..5].iter().sum(),
    })
}

#[derive(Debug)]
enum Cmd {
    Start(Stream),
    Stop(u64),
}

#[derive(Debug)]
struct Shared {
    sent: [AtomicU64; 2],
    recv: [AtomicU64; 2],
    unknown: AtomicU64,
    send_errors: AtomicU64,
    late_slots: AtomicU64,
    active: AtomicU64,
    stop: AtomicBool,
    gaps: [[AtomicU64; GAP_BINS]; 3],
}

impl Default for Shared {
    fn default() -> Shared {
        Shared {
            sent: Default::default(),
            recv: Default::default(),
            unknown: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            late_slots: AtomicU64::new(0),
            active: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            gaps: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

/// Counters over the whole run so far.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Counts {
    pub(crate) sent_uac: u64,
    pub(crate) recv_uas: u64,
    pub(crate) sent_uas: u64,
    pub(crate) recv_uac: u64,
    /// Datagrams that matched no stream (or were not RTP).
    pub(crate) unknown: u64,
    /// Sends that failed (full socket buffer, ICMP errors).
    pub(crate) send_errors: u64,
    /// 1 ms slots skipped because a thread fell more than 200 ms behind.
    pub(crate) late_slots: u64,
    /// Streams currently counted (sending or lingering).
    pub(crate) active_streams: u64,
}

impl Counts {
    pub(crate) fn tx(&self) -> u64 {
        self.sent_uac + self.sent_uas
    }
    pub(crate) fn rx(&self) -> u64 {
        self.recv_uac + self.recv_uas
    }
}

/// The streamer: sockets, threads and their command channels.
#[derive(Debug)]
pub(crate) struct Engine {
    addrs: Vec<SocketAddr>,
    per_side: usize,
    txs: Vec<Sender<Cmd>>,
    handles: Vec<JoinHandle<Result<()>>>,
    shared: Arc<Shared>,
    next: [usize; 2],
}

impl Engine {
    /// Opens `per_side` sockets for each side on `ip` (ephemeral ports) and
    /// starts `threads` streaming threads.
    pub(crate) fn start(ip: IpAddr, per_side: usize, threads: usize) -> Result<Engine> {
        let per_side = per_side.max(1);
        let threads = threads.clamp(1, 2 * per_side);
        let mut socks: Vec<Vec<(usize, std::net::UdpSocket)>> =
            (0..threads).map(|_| Vec::new()).collect();
        let mut addrs = Vec::new();
        for i in 0..2 * per_side {
            let s = crate::worker::open_socket(SocketAddr::new(ip, 0))?;
            s.set_read_timeout(None)?;
            s.set_nonblocking(true)?;
            addrs.push(s.local_addr()?);
            socks[i % threads].push((i, s));
        }
        let shared = Arc::new(Shared::default());
        let mut txs = Vec::new();
        let mut handles = Vec::new();
        for (t, mine) in socks.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            txs.push(tx);
            let shared = Arc::clone(&shared);
            let h = std::thread::Builder::new()
                .name(format!("rtp{t}"))
                .spawn(move || Streamer::new(mine, threads, rx, shared)?.run())
                .context("spawn rtp thread")?;
            handles.push(h);
        }
        Ok(Engine {
            addrs,
            per_side,
            txs,
            handles,
            shared,
            next: [0, 0],
        })
    }

    /// A socket for a new stream on `side` (round robin): (index, address).
    pub(crate) fn pick(&mut self, side: Side) -> (usize, SocketAddr) {
        let s = side as usize;
        let i = s * self.per_side + self.next[s] % self.per_side;
        self.next[s] = self.next[s].wrapping_add(1);
        (i, self.addrs[i])
    }

    fn tx_for(&self, sock: usize) -> Option<&Sender<Cmd>> {
        self.txs.get(sock % self.txs.len())
    }

    /// Starts (or re-targets) a stream.
    pub(crate) fn start_stream(&self, s: Stream) {
        if let Some(tx) = self.tx_for(s.sock) {
            let _ = tx.send(Cmd::Start(s));
        }
    }

    /// Stops sending on a stream; it still counts packets for a short linger.
    pub(crate) fn stop_stream(&self, sock: usize, key: u64) {
        if let Some(tx) = self.tx_for(sock) {
            let _ = tx.send(Cmd::Stop(key));
        }
    }

    /// The histograms so far.
    pub(crate) fn gaps(&self) -> Gaps {
        let g = &self.shared.gaps;
        std::array::from_fn(|side| std::array::from_fn(|b| g[side][b].load(Ordering::Relaxed)))
    }

    pub(crate) fn counts(&self) -> Counts {
        let s = &self.shared;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            sent_uac: l(&s.sent[0]),
            recv_uas: l(&s.recv[1]),
            sent_uas: l(&s.sent[1]),
            recv_uac: l(&s.recv[0]),
            unknown: l(&s.unknown),
            send_errors: l(&s.send_errors),
            late_slots: l(&s.late_slots),
            active_streams: l(&s.active),
        }
    }

    /// Waits out the linger so packets in flight are counted, stops the
    /// threads and returns the final counters.
    pub(crate) fn finish(self) -> Result<Counts> {
        std::thread::sleep(LINGER + Duration::from_millis(100));
        self.shared.stop.store(true, Ordering::Relaxed);
        drop(self.txs);
        for h in self.handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("rtp thread panicked"))??;
        }
        let s = &self.shared;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Ok(Counts {
            sent_uac: l(&s.sent[0]),
            recv_uas: l(&s.recv[1]),
            sent_uas: l(&s.sent[1]),
            recv_uac: l(&s.recv[0]),
            unknown: l(&s.unknown),
            send_errors: l(&s.send_errors),
            late_slots: l(&s.late_slots),
            active_streams: l(&s.active),
        })
    }
}

#[derive(Debug)]
struct Ep {
    side: Side,
    sock: u32,
    remote: SocketAddr,
    ssrc: u32,
    peer_ssrc: u32,
    pt: u8,
    seq: u16,
    ts: u32,
    slot: u8,
    sending: bool,
    live: bool,
    /// When the last packet from the far end was read (µs since the thread
    /// started; 0: none yet).
    last_rx_us: u64,
}

#[derive(Debug)]
struct Pending {
    sent: [u64; 2],
    recv: [u64; 2],
    unknown: u64,
    send_errors: u64,
    late_slots: u64,
    gaps: Gaps,
    /// Whether `gaps` holds anything to publish.
    any_gap: bool,
}

impl Default for Pending {
    fn default() -> Pending {
        Pending {
            sent: [0; 2],
            recv: [0; 2],
            unknown: 0,
            send_errors: 0,
            late_slots: 0,
            gaps: [[0; GAP_BINS]; 3],
            any_gap: false,
        }
    }
}

#[derive(Debug)]
struct Streamer {
    poll: Poll,
    socks: Vec<mio::net::UdpSocket>,
    rx: Receiver<Cmd>,
    shared: Arc<Shared>,
    eps: Vec<Ep>,
    free: Vec<u32>,
    by_key: HashMap<u64, u32>,
    by_ssrc: HashMap<u32, u32>,
    by_addr: HashMap<(u32, SocketAddr), u32>,
    buckets: Vec<Vec<u32>>,
    lingering: VecDeque<(Instant, u32)>,
    readable: Vec<usize>,
    threads: usize,
    slot_rr: u64,
    next_slot: u64,
    p: Pending,
    pkt: [u8; PACKET_LEN],
    fill_pt: u8,
    /// The clock the gaps are measured on.
    epoch: Instant,
}

/// G.711 silence for the payload type (A-law 0xD5, µ-law 0xFF).
fn silence(pt: u8) -> u8 {
    if pt == PCMA { 0xD5 } else { 0xFF }
}

impl Streamer {
    fn new(
        socks: Vec<(usize, std::net::UdpSocket)>,
        threads: usize,
        rx: Receiver<Cmd>,
        shared: Arc<Shared>,
    ) -> Result<Streamer> {
        let poll = Poll::new()?;
        let mut out = Vec::new();
        for (local, (_, s)) in socks.into_iter().enumerate() {
            let mut m = mio::net::UdpSocket::from_std(s);
            poll.registry()
                .register(&mut m, Token(local), Interest::READABLE)?;
            out.push(m);
        }
        let mut pkt = [0u8; PACKET_LEN];
        pkt[12..].fill(silence(PCMA));
        Ok(Streamer {
            poll,
            socks: out,
            rx,
            shared,
            eps: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            by_ssrc: HashMap::new(),
            by_addr: HashMap::new(),
            buckets: (0..SLOTS).map(|_| Vec::new()).collect(),
            lingering: VecDeque::new(),
            readable: Vec::new(),
            threads,
            slot_rr: 0,
            next_slot: 0,
            p: Pending::default(),
            pkt,
            fill_pt: PCMA,
            epoch: Instant::now(),
        })
    }

    fn run(mut self) -> Result<()> {
        let start = Instant::now();
        let mut events = Events::with_capacity(256);
        let mut buf = [0u8; 2048];
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            // Commands: bounded per turn so a flood cannot starve the packets.
            for _ in 0..10_000 {
                match self.rx.try_recv() {
                    Ok(Cmd::Start(s)) => self.start(s),
                    Ok(Cmd::Stop(k)) => self.stop(k),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let now = Instant::now();
            let el = u64::try_from(now.duration_since(start).as_millis()).unwrap_or(u64::MAX);
            if el >= self.next_slot + CATCH_UP_SLOTS {
                let skip = el + 1 - CATCH_UP_SLOTS - self.next_slot;
                self.p.late_slots += skip;
                self.next_slot += skip;
            }
            while self.next_slot <= el {
                let late = (el - self.next_slot) as usize;
                self.p.gaps[Hist::SendLate as usize][late.min(GAP_BINS - 1)] += 1;
                self.p.any_gap = true;
                self.send_slot((self.next_slot % SLOTS) as usize);
                self.next_slot += 1;
            }
            while let Some(&(at, idx)) = self.lingering.front() {
                if at > now {
                    break;
                }
                self.lingering.pop_front();
                self.remove(idx);
            }
            self.publish();
            let pending = std::mem::take(&mut self.readable);
            for tok in pending {
                self.drain(tok, &mut buf);
            }
            let due = start + Duration::from_millis(self.next_slot);
            let timeout = if self.readable.is_empty() {
                due.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("rtp poll"),
            }
            for ev in &events {
                self.drain(ev.token().0, &mut buf);
            }
        }
        self.publish();
        Ok(())
    }

    fn publish(&mut self) {
        let s = &self.shared;
        let p = &mut self.p;
        for i in 0..2 {
            if p.sent[i] > 0 {
                s.sent[i].fetch_add(std::mem::take(&mut p.sent[i]), Ordering::Relaxed);
            }
            if p.recv[i] > 0 {
                s.recv[i].fetch_add(std::mem::take(&mut p.recv[i]), Ordering::Relaxed);
            }
        }
        for (a, v) in [
            (&s.unknown, &mut p.unknown),
            (&s.send_errors, &mut p.send_errors),
            (&s.late_slots, &mut p.late_slots),
        ] {
            if *v > 0 {
                a.fetch_add(std::mem::take(v), Ordering::Relaxed);
            }
        }
        if std::mem::take(&mut p.any_gap) {
            for (side, bins) in p.gaps.iter_mut().enumerate() {
                for (b, v) in bins.iter_mut().enumerate() {
                    if *v > 0 {
                        s.gaps[side][b].fetch_add(std::mem::take(v), Ordering::Relaxed);
                    }
                }
            }
        }
    }

    fn start(&mut self, s: Stream) {
        // Sockets were dealt round robin: global index g lives on thread
        // g % threads as local socket g / threads.
        let local = s.sock / self.threads;
        if local >= self.socks.len() {
            return;
        }
        let sock = local as u32;
        if let Some(&idx) = self.by_key.get(&s.key) {
            // Re-target an existing stream (a re-INVITE with a new address).
            let ep = &mut self.eps[idx as usize];
            let old = (ep.sock, ep.remote);
            ep.remote = s.remote;
            ep.sending = true;
            if self.by_addr.get(&old) == Some(&idx) {
                self.by_addr.remove(&old);
            }
            self.index_addr(sock, s.remote, idx);
            return;
        }
        let slot = self.slot_rr % SLOTS;
        self.slot_rr = self.slot_rr.wrapping_add(1);
        let ep = Ep {
            side: s.side,
            sock,
            remote: s.remote,
            peer_ssrc: s.peer_ssrc,
            ssrc: s.ssrc,
            pt: s.payload_type,
            seq: (s.ssrc >> 7) as u16,
            ts: s.ssrc.rotate_left(11),
            slot: slot as u8,
            sending: true,
            live: true,
            last_rx_us: 0,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.eps[i as usize] = ep;
                i
            }
            None => {
                self.eps.push(ep);
                (self.eps.len() - 1) as u32
            }
        };
        self.by_key.insert(s.key, idx);
        self.by_ssrc.insert(s.peer_ssrc, idx);
        self.index_addr(sock, s.remote, idx);
        self.buckets[slot as usize].push(idx);
        self.shared.active.fetch_add(1, Ordering::Relaxed);
    }

    /// Source-address match: unique (sock, remote) pairs only.
    fn index_addr(&mut self, sock: u32, remote: SocketAddr, idx: u32) {
        match self.by_addr.get(&(sock, remote)).copied() {
            None => {
                self.by_addr.insert((sock, remote), idx);
            }
            Some(other) if other != idx => {
                self.by_addr.insert((sock, remote), SHARED);
            }
            Some(_) => {}
        }
    }

    fn stop(&mut self, key: u64) {
        let Some(idx) = self.by_key.remove(&key) else {
            return;
        };
        self.eps[idx as usize].sending = false;
        self.lingering.push_back((Instant::now() + LINGER, idx));
    }

    fn remove(&mut self, idx: u32) {
        let Some(ep) = self.eps.get_mut(idx as usize) else {
            return;
        };
        if !ep.live {
            return;
        }
        ep.live = false;
        let (slot, sock, remote, peer) = (ep.slot as usize, ep.sock, ep.remote, ep.peer_ssrc);
        if let Some(pos) = self.buckets[slot].iter().position(|&i| i == idx) {
            self.buckets[slot].swap_remove(pos);
        }
        if self.by_ssrc.get(&peer) == Some(&idx) {
            self.by_ssrc.remove(&peer);
        }
        if self.by_addr.get(&(sock, remote)) == Some(&idx) {
            self.by_addr.remove(&(sock, remote));
        }
        self.free.push(idx);
        self.shared.active.fetch_sub(1, Ordering::Relaxed);
    }

    fn send_slot(&mut self, slot: usize) {
        for &idx in &self.buckets[slot] {
            let ep = &mut self.eps[idx as usize];
            if !ep.sending {
                continue;
            }
            if ep.pt != self.fill_pt {
                self.pkt[12..].fill(silence(ep.pt));
                self.fill_pt = ep.pt;
            }
            self.pkt[0] = 0x80;
            self.pkt[1] = ep.pt & 0x7f;
            self.pkt[2..4].copy_from_slice(&ep.seq.to_be_bytes());
            self.pkt[4..8].copy_from_slice(&ep.ts.to_be_bytes());
            self.pkt[8..12].copy_from_slice(&ep.ssrc.to_be_bytes());
            ep.seq = ep.seq.wrapping_add(1);
            ep.ts = ep.ts.wrapping_add(160);
            match self.socks[ep.sock as usize].send_to(&self.pkt, ep.remote) {
                Ok(_) => self.p.sent[ep.side as usize] += 1,
                Err(_) => self.p.send_errors += 1,
            }
        }
    }

    fn drain(&mut self, tok: usize, buf: &mut [u8; 2048]) {
        let Some(sock) = self.socks.get(tok) else {
            return;
        };
        for _ in 0..DRAIN_CAP {
            match sock.recv_from(buf) {
                Ok((n, src)) => {
                    if n < 12 || buf[0] >> 6 != 2 {
                        self.p.unknown += 1;
                        continue;
                    }
                    let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                    let idx = match self.by_ssrc.get(&ssrc) {
                        Some(&i) => Some(i),
                        None => self
                            .by_addr
                            .get(&(tok as u32, src))
                            .copied()
                            .filter(|&i| i != SHARED),
                    };
                    match idx.and_then(|i| self.eps.get_mut(i as usize)) {
                        Some(ep) if ep.live => {
                            let side = ep.side as usize;
                            self.p.recv[side] += 1;
                            // +1: 0 means "no packet yet".
                            let now = u64::try_from(self.epoch.elapsed().as_micros())
                                .unwrap_or(u64::MAX - 1)
                                + 1;
                            if ep.last_rx_us > 0 {
                                let ms = (now.saturating_sub(ep.last_rx_us) / 1000) as usize;
                                self.p.gaps[side][ms.min(GAP_BINS - 1)] += 1;
                                self.p.any_gap = true;
                            }
                            ep.last_rx_us = now;
                        }
                        _ => self.p.unknown += 1,
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // ICMP errors reported on the socket: nothing to read.
                Err(_) => return,
            }
        }
        // Still readable: come back before sleeping (edge-triggered).
        self.readable.push(tok);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_two_ends_of_a_call_get_different_predictable_ssrcs() {
        let a = ssrc_for("call-1@lg", Side::Uac);
        let b = ssrc_for("call-1@lg", Side::Uas);
        assert_ne!(a, b);
        assert_eq!(a & 1, 0);
        assert_eq!(b & 1, 1);
        assert_eq!(a, ssrc_for("call-1@lg", Side::Uac));
        assert_ne!(a, ssrc_for("call-2@lg", Side::Uac));
    }

    #[test]
    fn gap_statistics_take_the_interval_between_two_histograms_by_nearest_rank() {
        let before: Gaps = [[0; GAP_BINS]; 3];
        let mut after = before;
        after[1][20] = 980;
        after[1][19] = 10;
        after[1][2] = 5;
        after[1][45] = 4;
        after[1][300usize.min(GAP_BINS - 1)] = 1;
        let g = gap_stats(&before, &after, Hist::Uas).unwrap();
        assert_eq!(g.count, 1000);
        assert_eq!((g.p50_ms, g.p99_ms), (20, 20));
        assert_eq!(g.p999_ms, 45);
        assert_eq!(g.max_ms, (GAP_BINS - 1) as u64);
        assert_eq!((g.over_40ms, g.under_5ms), (5, 5));
        assert_eq!(gap_stats(&before, &after, Hist::Uac), None);
        // The same histogram twice: nothing happened in between.
        assert_eq!(gap_stats(&after, &after, Hist::Uas), None);
    }

    #[test]
    fn two_streams_on_one_socket_pair_exchange_every_packet() {
        // One thread: both ends are registered in the same turn, before any packet.
        let mut e = Engine::start("127.0.0.1".parse().unwrap(), 1, 1).unwrap();
        let (ua, aa) = e.pick(Side::Uac);
        let (ub, ab) = e.pick(Side::Uas);
        for call in 0..3u64 {
            let id = format!("c{call}");
            let (sa, sb) = (ssrc_for(&id, Side::Uac), ssrc_for(&id, Side::Uas));
            e.start_stream(Stream {
                key: call * 2,
                side: Side::Uac,
                sock: ua,
                remote: ab,
                ssrc: sa,
                peer_ssrc: sb,
                payload_type: PCMA,
            });
            e.start_stream(Stream {
                key: call * 2 + 1,
                side: Side::Uas,
                sock: ub,
                remote: aa,
                ssrc: sb,
                peer_ssrc: sa,
                payload_type: 0,
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        for call in 0..3u64 {
            e.stop_stream(ua, call * 2);
            e.stop_stream(ub, call * 2 + 1);
        }
        std::thread::sleep(LINGER);
        let gaps = e.gaps();
        let c = e.finish().unwrap();
        // Every packet but each stream's first closes a gap, of about 20 ms.
        let zero = [[0; GAP_BINS]; 3];
        let g = gap_stats(&zero, &gaps, Hist::Uas).unwrap();
        assert_eq!(g.count, c.recv_uas - 3, "{g:?} {c:?}");
        assert!((15..=25).contains(&g.p50_ms), "{g:?}");
        // Every 1 ms slot was served, mostly on time.
        let late = gap_stats(&zero, &gaps, Hist::SendLate).unwrap();
        assert!(late.count >= 300, "{late:?}");
        assert!(late.p50_ms <= 1, "{late:?}");
        assert_eq!(
            gap_stats(&zero, &gaps, Hist::Uac).unwrap().count,
            c.recv_uac - 3
        );
        // 3 streams a side at 50/s for about 0.3 s.
        assert!(c.sent_uac >= 30 && c.sent_uac <= 60, "{c:?}");
        assert_eq!(c.recv_uas, c.sent_uac, "{c:?}");
        assert_eq!(c.recv_uac, c.sent_uas, "{c:?}");
        assert_eq!(c.unknown, 0);
        assert_eq!(c.active_streams, 0);
    }
}
