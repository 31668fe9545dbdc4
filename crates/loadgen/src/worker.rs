//! One worker: one UDP socket, one thread, its share of the registrations.
//! Each registration is REGISTER → 401 → REGISTER with Authorization → 200,
//! with UDP retransmission (T1 doubling up to T2) and a bounded number of
//! attempts per request.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sip_auth::{ClientRequest, authorization_value, pick_challenge};
use socket2::{Domain, Protocol, Socket, Type};

use crate::msg::{self, Register};

/// What every worker shares.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) server: SocketAddr,
    pub(crate) domains: Vec<String>,
    pub(crate) users: u64,
    pub(crate) ext_base: u64,
    pub(crate) password_pattern: String,
    pub(crate) offset: u64,
    pub(crate) count: u64,
    pub(crate) workers: u64,
    /// Registrations started per second by this worker; 0 = as fast as the
    /// concurrency allows.
    pub(crate) rate_per_worker: f64,
    pub(crate) concurrency_per_worker: usize,
    pub(crate) expires: u32,
    pub(crate) t1: Duration,
    pub(crate) t2: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) run_id: String,
    pub(crate) time_limit: Duration,
}

impl Plan {
    /// Registration number `k` → (tenant index, extension).
    fn identity(&self, k: u64) -> (u64, u64) {
        let tenants = self.domains.len() as u64;
        let t = k % tenants;
        let u = (k / tenants) % self.users;
        (t, self.ext_base + u)
    }
}

/// What one worker measured.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) started: u64,
    pub(crate) ok: u64,
    pub(crate) timeouts: u64,
    pub(crate) failed_by_status: BTreeMap<u16, u64>,
    pub(crate) retransmissions: u64,
    pub(crate) stale: u64,
    pub(crate) late: u64,
    pub(crate) unfinished: u64,
    pub(crate) packets_out: u64,
    pub(crate) packets_in: u64,
    /// Microseconds from the first REGISTER to the 200, per success.
    pub(crate) latencies_us: Vec<u32>,
}

struct Txn {
    tenant: u64,
    ext: String,
    /// 1: waiting for the challenge; 2: waiting for the 200.
    cseq: u32,
    started: Instant,
    attempts: u32,
    generation: u32,
    msg: Vec<u8>,
}

struct Worker<'p> {
    plan: &'p Plan,
    index: u64,
    sock: UdpSocket,
    local: String,
    inflight: HashMap<u64, Txn>,
    timers: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    tally: Tally,
}

/// Opens a UDP socket on `bind` with large buffers.
pub(crate) fn open_socket(bind: SocketAddr) -> Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(bind), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.bind(&bind.into())
        .with_context(|| format!("cannot bind {bind}"))?;
    let sock: UdpSocket = s.into();
    sock.set_read_timeout(Some(Duration::from_millis(1)))?;
    Ok(sock)
}

/// Runs worker `index` to completion (or the time limit).
pub(crate) fn run(plan: &Plan, index: u64, sock: UdpSocket) -> Result<Tally> {
    let local = sock.local_addr()?.to_string();
    let mut w = Worker {
        plan,
        index,
        sock,
        local,
        inflight: HashMap::new(),
        timers: BinaryHeap::new(),
        tally: Tally::default(),
    };
    w.run()?;
    Ok(w.tally)
}

impl Worker<'_> {
    fn run(&mut self) -> Result<()> {
        let plan = self.plan;
        // This worker's registrations: offset + index, + workers, …
        let mine = if plan.count > self.index {
            (plan.count - self.index).div_ceil(plan.workers)
        } else {
            0
        };
        let start = Instant::now();
        let hard_stop = start + plan.time_limit;
        let mut next = 0u64;
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            if now >= hard_stop {
                break;
            }
            while self.inflight.len() < plan.concurrency_per_worker && next < mine {
                if plan.rate_per_worker > 0.0 {
                    let due = start + Duration::from_secs_f64(next as f64 / plan.rate_per_worker);
                    if due > now {
                        break;
                    }
                }
                let k = plan.offset + self.index + next * plan.workers;
                next += 1;
                self.begin(k, now)?;
            }
            if next >= mine && self.inflight.is_empty() {
                break;
            }
            self.fire_timers(now)?;
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if from == plan.server {
                        self.tally.packets_in += 1;
                        self.on_datagram(&buf[..n])?;
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e).context("recv"),
            }
        }
        self.tally.unfinished = self.inflight.len() as u64 + (mine - next);
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.tally.packets_out += 1;
        match self.sock.send_to(bytes, self.plan.server) {
            Ok(_) => Ok(()),
            // A full socket buffer or an ICMP error: the retransmission timer covers it.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::ConnectionRefused
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e).context("send"),
        }
    }

    fn call_id(&self, k: u64) -> String {
        format!("{}-{}@lg", self.plan.run_id, k)
    }

    fn begin(&mut self, k: u64, now: Instant) -> Result<()> {
        let (tenant, ext) = self.plan.identity(k);
        let ext = ext.to_string();
        let mut txn = Txn {
            tenant,
            ext,
            cseq: 1,
            started: now,
            attempts: 1,
            generation: 0,
            msg: Vec::new(),
        };
        self.write(k, &mut txn, None);
        self.tally.started += 1;
        let bytes = std::mem::take(&mut txn.msg);
        self.send(&bytes)?;
        txn.msg = bytes;
        self.timers
            .push(Reverse((now + self.plan.t1, k, txn.generation)));
        self.inflight.insert(k, txn);
        Ok(())
    }

    fn write(&self, k: u64, txn: &mut Txn, authorization: Option<&str>) {
        let call_id = self.call_id(k);
        let branch = format!("{}k{}c{}", self.plan.run_id, k, txn.generation);
        let tag = format!("lg{k}");
        let r = Register {
            domain: &self.plan.domains[txn.tenant as usize],
            ext: &txn.ext,
            local: &self.local,
            call_id: &call_id,
            from_tag: &tag,
            branch: &branch,
            cseq: txn.cseq,
            expires: self.plan.expires,
            authorization,
        };
        msg::write_register(&r, &mut txn.msg);
    }

    fn fire_timers(&mut self, now: Instant) -> Result<()> {
        while let Some(Reverse((at, k, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(txn) = self.inflight.get_mut(&k) else {
                continue;
            };
            if txn.generation != generation {
                continue;
            }
            if txn.attempts >= self.plan.max_attempts {
                self.inflight.remove(&k);
                self.tally.timeouts += 1;
                continue;
            }
            txn.attempts += 1;
            let interval = (self.plan.t1 * (1 << (txn.attempts - 1).min(16))).min(self.plan.t2);
            self.timers.push(Reverse((now + interval, k, generation)));
            let bytes = std::mem::take(&mut txn.msg);
            self.tally.retransmissions += 1;
            self.send(&bytes)?;
            if let Some(txn) = self.inflight.get_mut(&k) {
                txn.msg = bytes;
            }
        }
        Ok(())
    }

    fn key_of(&self, call_id: &str) -> Option<u64> {
        let rest = call_id
            .strip_prefix(self.plan.run_id.as_str())?
            .strip_prefix('-')?;
        rest.strip_suffix("@lg")?.parse().ok()
    }

    fn on_datagram(&mut self, buf: &[u8]) -> Result<()> {
        let Some(reply) = msg::parse_reply(buf) else {
            return Ok(());
        };
        let Some(k) = self.key_of(reply.call_id) else {
            return Ok(());
        };
        let Some(txn) = self.inflight.get(&k) else {
            self.tally.late += 1;
            return Ok(());
        };
        if reply.cseq != txn.cseq {
            self.tally.late += 1;
            return Ok(());
        }
        if reply.status < 200 {
            return Ok(());
        }
        let now = Instant::now();
        match (reply.status, txn.cseq) {
            (401, _) => {
                let Some(ch) = pick_challenge(reply.www_authenticate.iter().copied()) else {
                    return self.fail(k, 401);
                };
                if txn.cseq >= 2 && !ch.stale {
                    return self.fail(k, 401);
                }
                if txn.cseq >= 2 {
                    self.tally.stale += 1;
                }
                if txn.cseq >= 4 {
                    return self.fail(k, 401);
                }
                let plan = self.plan;
                let Some(mut txn) = self.inflight.remove(&k) else {
                    return Ok(());
                };
                let domain = &plan.domains[txn.tenant as usize];
                let password = msg::expand(
                    &plan.password_pattern,
                    txn.tenant,
                    txn.ext.parse().unwrap_or(0),
                    domain,
                );
                let uri = msg::request_uri(domain);
                let cnonce = format!("{k:x}g{}", txn.generation);
                let auth = authorization_value(
                    &ch,
                    &ClientRequest {
                        method: "REGISTER",
                        uri: &uri,
                        username: &txn.ext,
                        password: &password,
                        cnonce: &cnonce,
                        nc: 1,
                    },
                );
                txn.cseq += 1;
                txn.generation += 1;
                txn.attempts = 1;
                self.write(k, &mut txn, Some(&auth));
                let bytes = std::mem::take(&mut txn.msg);
                self.send(&bytes)?;
                txn.msg = bytes;
                self.timers
                    .push(Reverse((now + plan.t1, k, txn.generation)));
                self.inflight.insert(k, txn);
                Ok(())
            }
            (200..=299, c) if c >= 2 => {
                if let Some(txn) = self.inflight.remove(&k) {
                    self.tally.ok += 1;
                    let us = now.duration_since(txn.started).as_micros();
                    self.tally
                        .latencies_us
                        .push(u32::try_from(us).unwrap_or(u32::MAX));
                }
                Ok(())
            }
            (status, _) => self.fail(k, status),
        }
    }

    fn fail(&mut self, k: u64, status: u16) -> Result<()> {
        self.inflight.remove(&k);
        *self.tally.failed_by_status.entry(status).or_default() += 1;
        Ok(())
    }
}
