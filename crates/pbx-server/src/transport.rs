//! SIP over UDP and TCP: receive loops and the send side.
//!
//! Receive loops parse and classify (see [`crate::dispatch`]) and handle each
//! message in the shard that owns it, on the receiving thread. UDP is
//! received by plain threads on the socket (one waits in `recvfrom`, the
//! others help only while it falls behind; see [`UdpReceivers`]): no event
//! loop, no hand-over between threads. While datagrams are queued, the
//! answers a receive thread produces wait in its outbox and leave together in
//! one `sendmmsg` when the queue runs empty or [`UDP_SEND_BATCH`] are waiting:
//! the peer is woken (and preempts us) once per batch instead of once per
//! answer. Shards send with [`Transports::send`]:
//! UDP answers go from the socket the request came in on to the packet's
//! source address and port (even without `rport`); TCP answers go over the
//! connection the request came on, and requests to a TCP-registered phone
//! reuse its connection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::net::RecvFlags;
use sip_msg::{Framed, StreamFramer};
use std::net::UdpSocket;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::Ctx;
use crate::dispatch::{self, Arrival};
use crate::metrics::Drop;

/// Transport of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tp {
    Udp,
    Tcp,
}

impl Tp {
    pub fn as_str(self) -> &'static str {
        match self {
            Tp::Udp => "udp",
            Tp::Tcp => "tcp",
        }
    }
}

/// Where a message came from and how to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub tp: Tp,
    /// For UDP: index of the local socket; for TCP: the connection id.
    pub id: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Most messages a TCP connection may have waiting to be written; past it
/// further messages are dropped (and counted) rather than queued.
const TCP_OUT_QUEUE: usize = 256;
/// A TCP connection that sends nothing for this long is closed (phones send
/// CRLF keep-alives or re-REGISTER well within it).
const TCP_IDLE: Duration = Duration::from_secs(300);
/// How long opening a connection to a trunk may take.
const TCP_CONNECT: Duration = Duration::from_secs(5);

/// Most UDP answers a receive thread holds before it sends them (see the module docs).
pub const UDP_SEND_BATCH: usize = 32;

/// A UDP datagram waiting in a receive thread's outbox.
#[derive(Debug)]
struct Outgoing {
    flow: Flow,
    data: Bytes,
}

thread_local! {
    /// The outbox of a UDP receive thread; `None` on every other thread, which sends at once.
    static OUTBOX: RefCell<Option<Vec<Outgoing>>> = const { RefCell::new(None) };
}

/// Gives this thread an outbox: its UDP sends wait for [`Transports::flush_outbox`].
fn open_outbox() {
    OUTBOX.with(|o| *o.borrow_mut() = Some(Vec::with_capacity(UDP_SEND_BATCH)));
}

/// Puts a datagram in this thread's outbox: `Ok(true)` when the outbox is now full,
/// `Err(data)` back when the thread has none.
fn outbox_push(flow: &Flow, data: Bytes) -> Result<bool, Bytes> {
    OUTBOX.with(|o| match o.borrow_mut().as_mut() {
        Some(outbox) => {
            outbox.push(Outgoing { flow: *flow, data });
            Ok(outbox.len() >= UDP_SEND_BATCH)
        }
        None => Err(data),
    })
}

/// Empties this thread's outbox into the returned vector (`None` without an outbox).
fn outbox_take() -> Option<Vec<Outgoing>> {
    OUTBOX.with(|o| o.borrow_mut().as_mut().map(std::mem::take))
}

/// Hands an emptied vector back to the outbox, so that its capacity is reused.
fn outbox_give_back(mut items: Vec<Outgoing>) {
    items.clear();
    OUTBOX.with(|o| {
        if let Some(outbox) = o.borrow_mut().as_mut()
            && outbox.is_empty()
        {
            *outbox = items;
        }
    });
}

/// Sends `run` from `sock` with `sendmmsg`, in order, and reports each datagram as
/// sent or not: one the kernel refuses (full buffer, bad address) is skipped and the
/// rest still go.
fn send_datagrams(sock: &UdpSocket, run: &[Outgoing], mut done: impl FnMut(&Outgoing, bool)) {
    use rustix::net::{MMsgHdr, SendAncillaryBuffer, SocketAddrAny};
    if let [one] = run {
        // The usual case at light load: one answer, no headers to build.
        let sent = rustix::net::sendto(
            sock,
            &one.data,
            rustix::net::SendFlags::DONTWAIT,
            &one.flow.remote,
        );
        done(one, sent.is_ok());
        return;
    }
    let addrs: Vec<SocketAddrAny> = run.iter().map(|o| o.flow.remote.into()).collect();
    let iovs: Vec<[std::io::IoSlice<'_>; 1]> = run
        .iter()
        .map(|o| [std::io::IoSlice::new(&o.data)])
        .collect();
    let mut controls: Vec<SendAncillaryBuffer<'_, '_, '_>> =
        run.iter().map(|_| SendAncillaryBuffer::default()).collect();
    let mut msgs: Vec<MMsgHdr<'_>> = addrs
        .iter()
        .zip(&iovs)
        .zip(controls.iter_mut())
        .map(|((addr, iov), control)| MMsgHdr::new_with_addr(addr, iov, control))
        .collect();
    let mut next = 0;
    while next < msgs.len() {
        match rustix::net::sendmmsg(sock, &mut msgs[next..], rustix::net::SendFlags::DONTWAIT) {
            Ok(sent) if sent > 0 => {
                for o in &run[next..next + sent] {
                    done(o, true);
                }
                next += sent;
            }
            // The first datagram was refused: sendmmsg reports it as the call's error.
            _ => {
                done(&run[next], false);
                next += 1;
            }
        }
    }
}

/// The send side, shared by all shards.
#[derive(Debug, Default)]
pub struct Transports {
    udp: Vec<Arc<UdpSocket>>,
    udp_local: Vec<SocketAddr>,
    tcp_local: Vec<SocketAddr>,
    tcp: Mutex<HashMap<u64, mpsc::Sender<Bytes>>>,
    /// Connections vpbx opened to trunks, by the trunk's address: reused while open.
    tcp_out: Mutex<HashMap<SocketAddr, u64>>,
    next_conn: AtomicU64,
}

impl Transports {
    /// Sends `data` on `flow`. Never blocks: a full socket buffer or a stuck
    /// TCP connection drops the message and counts it (SIP retransmits).
    pub fn send(&self, ctx: &Ctx, flow: &Flow, data: Bytes) {
        let data = if flow.tp == Tp::Udp {
            // On a receive thread: into its outbox, sent when full or when its queue is empty.
            match outbox_push(flow, data) {
                Ok(full) => {
                    if full {
                        self.flush_outbox(ctx);
                    }
                    return;
                }
                Err(data) => data,
            }
        } else {
            data
        };
        let ok = match flow.tp {
            Tp::Udp => match self.udp.get(flow.id as usize) {
                // The socket blocks for the receive threads; this send never does.
                Some(sock) => rustix::net::sendto(
                    &**sock,
                    &data,
                    rustix::net::SendFlags::DONTWAIT,
                    &flow.remote,
                )
                .is_ok(),
                None => false,
            },
            Tp::Tcp => {
                let tx = self
                    .tcp
                    .lock()
                    .expect("tcp table lock is never poisoned")
                    .get(&flow.id)
                    .cloned();
                tx.is_some_and(|tx| tx.try_send(data.clone()).is_ok())
            }
        };
        if ok {
            ctx.trace_out(flow, &data);
        } else {
            ctx.metrics.drop(Drop::SendFailed);
        }
    }

    /// Sends what waits in this thread's outbox, each run of answers from one socket
    /// with one `sendmmsg` (no-op on threads without an outbox).
    pub fn flush_outbox(&self, ctx: &Ctx) {
        let Some(items) = outbox_take() else {
            return;
        };
        let mut start = 0;
        while start < items.len() {
            let socket = items[start].flow.id;
            let end = items[start..]
                .iter()
                .position(|o| o.flow.id != socket)
                .map_or(items.len(), |n| start + n);
            let run = &items[start..end];
            match self.udp.get(socket as usize) {
                Some(sock) => send_datagrams(sock, run, |o, sent| {
                    if sent {
                        ctx.trace_out(&o.flow, &o.data);
                    } else {
                        ctx.metrics.drop(Drop::SendFailed);
                    }
                }),
                None => run.iter().for_each(|_| ctx.metrics.drop(Drop::SendFailed)),
            }
            start = end;
        }
        outbox_give_back(items);
    }

    /// The local address of UDP socket `id`.
    pub fn udp_local(&self, id: usize) -> Option<SocketAddr> {
        self.udp_local.get(id).copied()
    }

    /// Whether `addr` is one of our own SIP listen sockets (a wildcard bind
    /// matches the port on any local address).
    pub fn is_own_listen_addr(&self, addr: SocketAddr) -> bool {
        self.udp_local.iter().chain(self.tcp_local.iter()).any(|l| {
            l.port() == addr.port()
                && (l.ip() == addr.ip() || (l.ip().is_unspecified() && addr.ip().is_loopback()))
        })
    }

    /// Our TCP listen address (for Via/Contact on TCP flows).
    pub fn tcp_local(&self) -> Option<SocketAddr> {
        self.tcp_local.first().copied()
    }

    /// The UDP socket to send to `peer` from: same address family, loopback
    /// for loopback peers when we have one.
    pub fn udp_for(&self, peer: SocketAddr) -> Option<usize> {
        let same = |a: &SocketAddr| a.is_ipv4() == peer.is_ipv4();
        self.udp_local
            .iter()
            .position(|a| same(a) && a.ip().is_loopback() == peer.ip().is_loopback())
            .or_else(|| {
                self.udp_local
                    .iter()
                    .position(|a| same(a) && a.ip().is_unspecified())
            })
            .or_else(|| self.udp_local.iter().position(same))
    }

    /// A TCP connection to `remote` (a provider trunk): the open one, or a new one whose
    /// messages wait in its queue while it connects. A connection that cannot be made
    /// drops them (the transactions time out, and a call fails over to the next trunk).
    pub fn tcp_client(&self, ctx: &Arc<Ctx>, remote: SocketAddr) -> u64 {
        let mut out = self
            .tcp_out
            .lock()
            .expect("tcp client table lock is never poisoned");
        if let Some(&id) = out.get(&remote)
            && self.tcp_alive(id)
        {
            return id;
        }
        let (id, rx) = self.new_conn();
        out.insert(remote, id);
        drop(out);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let connected = tokio::time::timeout(TCP_CONNECT, TcpStream::connect(remote)).await;
            let stream = match connected {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::warn!(%remote, error = %e, "trunk TCP connection failed");
                    return ctx.transports.forget_client(id, remote);
                }
                Err(_) => {
                    tracing::warn!(%remote, "trunk TCP connection timed out");
                    return ctx.transports.forget_client(id, remote);
                }
            };
            let local = stream.local_addr().unwrap_or(remote);
            tracing::info!(%remote, %local, "trunk TCP connection open");
            let flow = open_flow(&ctx, id, local, remote);
            tcp_connection(ctx.clone(), stream, flow, rx, false).await;
            ctx.transports.forget_client(id, remote);
        });
        id
    }

    /// A new connection id and its send queue (registered: sends to it queue at once).
    fn new_conn(&self) -> (u64, mpsc::Receiver<Bytes>) {
        let id = self.next_conn.fetch_add(1, Relaxed) + 1;
        let (tx, rx) = mpsc::channel(TCP_OUT_QUEUE);
        self.tcp
            .lock()
            .expect("tcp table lock is never poisoned")
            .insert(id, tx);
        (id, rx)
    }

    fn forget_client(&self, id: u64, remote: SocketAddr) {
        self.tcp
            .lock()
            .expect("tcp table lock is never poisoned")
            .remove(&id);
        let mut out = self
            .tcp_out
            .lock()
            .expect("tcp client table lock is never poisoned");
        if out.get(&remote) == Some(&id) {
            out.remove(&remote);
        }
    }

    /// True when the TCP connection is still open.
    pub fn tcp_alive(&self, id: u64) -> bool {
        self.tcp
            .lock()
            .expect("tcp table lock is never poisoned")
            .contains_key(&id)
    }
}

/// Binds every listen address. Done before the server reports ready so a
/// port in use is a start-up error, not a log line.
pub async fn bind(
    listen: &[(Tp, SocketAddr)],
) -> std::io::Result<(
    Transports,
    Vec<(usize, SocketAddr)>,
    Vec<(TcpListener, SocketAddr)>,
)> {
    let mut t = Transports::default();
    let mut udp_addrs = Vec::new();
    let mut tcp = Vec::new();
    for (tp, addr) in listen {
        match tp {
            Tp::Udp => {
                let sock = bind_udp(*addr)?;
                let local = sock.local_addr()?;
                udp_addrs.push((t.udp.len(), local));
                t.udp.push(Arc::new(sock));
                t.udp_local.push(local);
            }
            Tp::Tcp => {
                let l = TcpListener::bind(addr).await?;
                let local = l.local_addr()?;
                t.tcp_local.push(local);
                tcp.push((l, local));
            }
        }
    }
    Ok((t, udp_addrs, tcp))
}

/// Receive buffer asked for on SIP UDP sockets: bursts of REGISTERs (a
/// whole office re-registering after an outage) must not overflow it. The
/// kernel caps it at `net.core.rmem_max` (Debian: 208 KiB); raise that
/// sysctl on busy nodes.
const UDP_RCVBUF: usize = 8 << 20;

fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = sock.set_recv_buffer_size(UDP_RCVBUF);
    let _ = sock.set_send_buffer_size(UDP_RCVBUF / 2);
    sock.bind(&addr.into())?;
    // Blocking, with a read timeout so receive threads notice shutdown.
    sock.set_read_timeout(Some(UDP_STOP_CHECK))?;
    Ok(sock.into())
}

/// How often a UDP receive thread with nothing to read checks for shutdown.
const UDP_STOP_CHECK: Duration = Duration::from_millis(200);

/// The receive threads of one UDP socket. The first (the primary) always
/// waits on the socket; the others (helpers) sleep here until the primary
/// has found datagrams queued every time it came back for one for
/// [`WAKE_HELPER_AFTER`] (it is falling behind), and then read only while
/// datagrams are queued. At light load one
/// thread serves the socket: one wake-up per datagram and warm caches, where
/// threads all waiting on the socket would each be woken in turn (the kernel
/// wakes one waiter per datagram); under load every thread works.
#[derive(Debug, Default)]
pub struct UdpReceivers {
    /// Wake-ups granted to helpers and not yet taken.
    grants: Mutex<usize>,
    granted: Condvar,
    /// Helpers asleep on `granted`.
    asleep: AtomicUsize,
}

/// How long the primary must have found datagrams queued, without a break,
/// before it wakes a helper (and again for each further helper). A burst it
/// clears sooner (a phone's REGISTER and its retry, an office's phones
/// re-registering together) wakes no one.
const WAKE_HELPER_AFTER: Duration = Duration::from_millis(5);

/// The primary's measure of falling behind: since when every read found a
/// datagram queued.
#[derive(Debug, Default)]
struct Backlog {
    since: Option<Instant>,
}

impl Backlog {
    /// A read at `now` found a datagram queued: true when a helper is due
    /// (the queue has not been empty for [`WAKE_HELPER_AFTER`] since the last
    /// empty read or the last helper woken).
    fn queued(&mut self, now: Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) >= WAKE_HELPER_AFTER {
            self.since = Some(now);
            return true;
        }
        false
    }

    /// A read found the queue empty.
    fn empty(&mut self) {
        self.since = None;
    }
}

impl UdpReceivers {
    /// Wakes one sleeping helper, if any; true when one was.
    fn wake_helper(&self) -> bool {
        if self.asleep.load(Relaxed) == 0 {
            return false;
        }
        let mut grants = self.grants.lock().expect("receiver lock is never poisoned");
        // No more grants than sleepers: none is left over to wake a helper later for nothing.
        if *grants >= self.asleep.load(Relaxed) {
            return false;
        }
        *grants += 1;
        self.granted.notify_one();
        true
    }

    /// Sleeps until woken (true) or until `stopping` says so (false; asked
    /// every [`UDP_STOP_CHECK`]).
    fn sleep(&self, stopping: impl Fn() -> bool) -> bool {
        let mut grants = self.grants.lock().expect("receiver lock is never poisoned");
        self.asleep.fetch_add(1, Relaxed);
        while *grants == 0 {
            if stopping() {
                self.asleep.fetch_sub(1, Relaxed);
                return false;
            }
            grants = self
                .granted
                .wait_timeout(grants, UDP_STOP_CHECK)
                .expect("receiver lock is never poisoned")
                .0;
        }
        *grants -= 1;
        self.asleep.fetch_sub(1, Relaxed);
        true
    }
}

/// Starts receive thread `n` of UDP socket `index` (thread 0 is the primary;
/// see [`UdpReceivers`]). Each handles what it receives to the end (parse,
/// classify, the owning shard's work, the answer). They run inside the
/// runtime's context, so what a shard starts from them (timers, tasks) lands
/// in the runtime.
pub fn spawn_udp_receiver(
    ctx: Arc<Ctx>,
    index: usize,
    local: SocketAddr,
    n: usize,
    group: Arc<UdpReceivers>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name(format!("sip-udp-{index}-{n}"))
        .spawn(move || {
            let _rt = rt.enter();
            udp_loop(&ctx, index, local, n == 0, &group);
        })
}

/// The receive loop of one UDP thread.
fn udp_loop(ctx: &Arc<Ctx>, index: usize, local: SocketAddr, primary: bool, group: &UdpReceivers) {
    let Some(sock) = ctx.transports.udp.get(index).cloned() else {
        return;
    };
    let mut buf = vec![0u8; 65_536];
    let mut backlog = Backlog::default();
    open_outbox();
    if !primary && !group.sleep(|| ctx.is_stopping()) {
        return;
    }
    while !ctx.is_stopping() {
        // What is already queued first; only an empty queue makes the
        // primary wait on the socket and a helper go back to sleep.
        let received = match rustix::net::recvfrom(&*sock, &mut buf[..], RecvFlags::DONTWAIT) {
            Ok((n, _, addr)) => {
                if primary && backlog.queued(Instant::now()) && group.wake_helper() {
                    ctx.metrics.udp_helper_wakeups_total.fetch_add(1, Relaxed);
                }
                addr.and_then(|a| SocketAddr::try_from(a).ok())
                    .map(|remote| (n, remote))
            }
            Err(e) if e == rustix::io::Errno::AGAIN => {
                backlog.empty();
                ctx.transports.flush_outbox(ctx);
                if !primary {
                    if !group.sleep(|| ctx.is_stopping()) {
                        return;
                    }
                    continue;
                }
                match sock.recv_from(&mut buf) {
                    Ok(x) => Some(x),
                    Err(e) => {
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) {
                            // ICMP port unreachable from an earlier send shows up here on Linux.
                            tracing::debug!(error = %e, "udp recv");
                        }
                        None
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "udp recv");
                None
            }
        };
        let Some((n, remote)) = received else {
            continue;
        };
        let flow = Flow {
            tp: Tp::Udp,
            id: index as u64,
            local,
            remote,
        };
        dispatch::datagram(ctx, &buf[..n], flow);
    }
    ctx.transports.flush_outbox(ctx);
}

/// Accepts TCP connections on one listener.
pub async fn tcp_accept_loop(ctx: Arc<Ctx>, listener: TcpListener, local: SocketAddr) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let now = ctx.now();
        if ctx.security.admit(remote.ip(), now).is_err() {
            ctx.metrics.drop(Drop::Banned);
            continue;
        }
        let ip = remote.ip();
        if !ctx.security.is_trusted(ip) {
            let mut per_ip = ctx
                .tcp_per_ip
                .lock()
                .expect("tcp per-ip lock is never poisoned");
            let n = per_ip.entry(ip).or_insert(0);
            if *n >= crate::MAX_TCP_PER_IP {
                ctx.metrics.drop(Drop::RateLimited);
                continue;
            }
            *n += 1;
        }
        let (id, rx) = ctx.transports.new_conn();
        let flow = open_flow(&ctx, id, local, remote);
        tokio::spawn(tcp_connection(ctx.clone(), stream, flow, rx, true));
    }
}

/// The flow of connection `id`, now open (counted in the metrics).
fn open_flow(ctx: &Ctx, id: u64, local: SocketAddr, remote: SocketAddr) -> Flow {
    ctx.metrics.tcp_connections.fetch_add(1, Relaxed);
    ctx.metrics.tcp_connections_total.fetch_add(1, Relaxed);
    Flow {
        tp: Tp::Tcp,
        id,
        local,
        remote,
    }
}

/// Reads and writes one connection until it closes. `accepted`: a phone's connection
/// (counted per source address, closed when idle); else one vpbx opened to a trunk, which
/// stays open while calls through it may still need it.
async fn tcp_connection(
    ctx: Arc<Ctx>,
    stream: TcpStream,
    flow: Flow,
    mut rx: mpsc::Receiver<Bytes>,
    accepted: bool,
) {
    let idle = if accepted {
        TCP_IDLE
    } else {
        Duration::from_secs(u64::from(u32::MAX))
    };
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut framer = StreamFramer::new(ctx.limits);
    let mut buf = vec![0u8; 16 * 1024];
    let mut stop = ctx.stop.subscribe();
    'conn: loop {
        let n = tokio::select! {
            r = tokio::time::timeout(idle, rd.read(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => n,
            },
            _ = stop.changed() => break,
        };
        if ctx.security.admit(flow.remote.ip(), ctx.now()).is_err() {
            ctx.metrics.drop(Drop::Banned);
            break;
        }
        framer.push(&buf[..n]);
        loop {
            match framer.next_item() {
                Ok(None) => break,
                Ok(Some(Framed::KeepAlivePing)) => {
                    // RFC 5626 §4.4.1: answer a double CRLF with a single CRLF.
                    ctx.transports
                        .send(&ctx, &flow, Bytes::from_static(b"\r\n"));
                }
                Ok(Some(Framed::KeepAlivePong)) => {}
                Ok(Some(Framed::Message(msg))) => {
                    dispatch::message(
                        &ctx,
                        Arrival {
                            msg,
                            flow,
                            raw: None,
                        },
                    );
                }
                Err(e) => {
                    // A framing error on a stream cannot be recovered (RFC 3261 §18.3).
                    tracing::debug!(remote = %flow.remote, error = %e, "tcp framing error, closing");
                    ctx.metrics.drop(Drop::Unparsable);
                    break 'conn;
                }
            }
        }
        if framer.buffered() > ctx.limits.max_message * 2 {
            ctx.metrics.drop(Drop::TooLarge);
            break;
        }
    }
    ctx.transports
        .tcp
        .lock()
        .expect("tcp table lock is never poisoned")
        .remove(&flow.id);
    if accepted {
        let mut per_ip = ctx
            .tcp_per_ip
            .lock()
            .expect("tcp per-ip lock is never poisoned");
        if let Some(n) = per_ip.get_mut(&flow.remote.ip()) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&flow.remote.ip());
            }
        }
    }
    ctx.metrics.tcp_connections.fetch_sub(1, Relaxed);
    writer.abort();
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn udp_flow(remote: SocketAddr) -> Flow {
        Flow {
            tp: Tp::Udp,
            id: 0,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote,
        }
    }

    fn receiver() -> (UdpSocket, SocketAddr) {
        let r = UdpSocket::bind("127.0.0.1:0").unwrap();
        r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let addr = r.local_addr().unwrap();
        (r, addr)
    }

    #[test]
    fn without_an_outbox_a_thread_sends_at_once() {
        let flow = udp_flow("127.0.0.1:9".parse().unwrap());
        let back = std::thread::spawn(move || outbox_push(&flow, Bytes::from_static(b"x")))
            .join()
            .unwrap();
        assert_eq!(back, Err(Bytes::from_static(b"x")));
    }

    #[test]
    fn answers_wait_in_the_outbox_and_leave_together_in_order() {
        let (r, to) = receiver();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let flow = udp_flow(to);
        std::thread::spawn(move || {
            open_outbox();
            for i in 0..UDP_SEND_BATCH {
                let full = outbox_push(&flow, Bytes::from(format!("answer {i}"))).unwrap();
                assert_eq!(full, i + 1 == UDP_SEND_BATCH, "full only at the batch size");
            }
            r.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            assert!(
                r.recv_from(&mut buf).is_err(),
                "nothing leaves before the flush"
            );
            r.set_nonblocking(false).unwrap();

            let items = outbox_take().unwrap();
            let mut reported = Vec::new();
            send_datagrams(&sender, &items, |o, sent| {
                reported.push((o.data.clone(), sent))
            });
            assert!(reported.iter().all(|(_, sent)| *sent));
            for i in 0..UDP_SEND_BATCH {
                let (n, _) = r.recv_from(&mut buf).unwrap();
                assert_eq!(&buf[..n], format!("answer {i}").as_bytes());
            }
            let capacity = items.capacity();
            outbox_give_back(items);
            let again = outbox_take().unwrap();
            assert!(
                again.is_empty() && again.capacity() == capacity,
                "capacity is kept"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_refused_datagram_is_reported_and_the_rest_still_go() {
        let (r, to) = receiver();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        // Port 0 is not a destination: the kernel refuses that one datagram (EINVAL).
        let nowhere: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let items: Vec<Outgoing> = [(to, "a"), (nowhere, "b"), (to, "c"), (nowhere, "d")]
            .into_iter()
            .map(|(remote, text)| Outgoing {
                flow: udp_flow(remote),
                data: Bytes::from(text),
            })
            .collect();
        let mut reported = Vec::new();
        send_datagrams(&sender, &items, |o, sent| {
            reported.push((o.data.clone(), sent))
        });
        assert_eq!(
            reported,
            [
                (Bytes::from("a"), true),
                (Bytes::from("b"), false),
                (Bytes::from("c"), true),
                (Bytes::from("d"), false)
            ]
        );
        let mut buf = [0u8; 8];
        for want in ["a", "c"] {
            let (n, _) = r.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want.as_bytes());
        }
    }

    #[test]
    fn a_lone_answer_goes_with_sendto_and_a_refusal_is_reported() {
        let (r, to) = receiver();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (remote, want) in [(to, true), ("127.0.0.1:0".parse().unwrap(), false)] {
            let one = [Outgoing {
                flow: udp_flow(remote),
                data: Bytes::from_static(b"lone"),
            }];
            let mut reported = Vec::new();
            send_datagrams(&sender, &one, |_, sent| reported.push(sent));
            assert_eq!(reported, [want]);
        }
        let mut buf = [0u8; 8];
        let (n, _) = r.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"lone");
    }

    #[test]
    fn a_helper_is_due_only_after_the_queue_stayed_busy_for_the_whole_delay() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut b = Backlog::default();
        assert!(!b.queued(t0));
        assert!(!b.queued(t0 + ms(4)));
        // An empty read starts the measure again.
        b.empty();
        assert!(!b.queued(t0 + ms(6)));
        assert!(!b.queued(t0 + ms(10)));
        assert!(b.queued(t0 + ms(11)));
        // The next helper only after another full delay.
        assert!(!b.queued(t0 + ms(15)));
        assert!(b.queued(t0 + ms(16)));
    }

    #[test]
    fn a_sleeping_helper_wakes_once_per_grant_and_leaves_when_stopping() {
        let group = Arc::new(UdpReceivers::default());
        assert!(!group.wake_helper(), "no helper asleep: nothing to wake");
        let g = group.clone();
        let helper = std::thread::spawn(move || g.sleep(|| false));
        while group.asleep.load(Relaxed) == 0 {
            std::thread::yield_now();
        }
        assert!(group.wake_helper());
        assert!(helper.join().unwrap(), "woken, not stopped");
        assert_eq!(*group.grants.lock().unwrap(), 0);
        assert_eq!(group.asleep.load(Relaxed), 0);

        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (group.clone(), stop.clone());
        let helper = std::thread::spawn(move || g.sleep(|| s.load(Relaxed)));
        stop.store(true, Relaxed);
        assert!(!helper.join().unwrap(), "stopped, not woken");
        assert_eq!(group.asleep.load(Relaxed), 0);
    }
}
