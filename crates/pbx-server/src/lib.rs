//! The vpbx runtime. Only I/O lives here: sockets, tasks, timers, the
//! database and HTTP. Decisions are made by the pure crates (sip-msg,
//! sip-auth, pbx-registrar, pbx-core).
//!
//! Task layout:
//! * one receive loop per UDP socket and per TCP connection: gate (bans,
//!   rate limit), parse, classify ([`dispatch`]) and hand over;
//! * N shards ([`shard::Shard`]), each owning its registrations (by AOR)
//!   and transactions (by Call-ID) behind a bounded inbox;
//! * a config watcher that reloads tenants within a second of `tenant apply`;
//! * the write-behind flusher for bindings, the ban persister, and HTTP
//!   (`/metrics`, `/api/v1/trace/{call_id}`).

pub mod apps;
pub mod auth;
pub mod calls;
pub mod dispatch;
pub mod external;
pub mod groups;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod mwi;
pub mod pickup;
pub mod prompts;
pub mod qualify;
pub mod queues;
pub(crate) mod recordings;
#[cfg(test)]
mod regbench;
pub mod security;
pub mod shard;
pub mod tenants;
pub mod trace;
pub mod transport;
pub mod trunks;
pub mod txn;

mod run;

pub use run::{
    PlatformBuilder, RetentionSettings, ServeError, Settings, SmtpSettings, TenantBuilder, serve,
};

/// Most TCP connections one source IP may hold open (trusted networks excepted).
pub const MAX_TCP_PER_IP: u32 = 64;

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use pbx_registrar::RegistrarConfig;
use sip_msg::{Limits, Message, Method, StatusCode};
use tokio::sync::mpsc;

use crate::metrics::{Drop, Metrics};
use crate::security::Security;
use crate::shard::ShardMsg;
use crate::tenants::Directory;
use crate::trace::{TraceEntry, TraceLog};
use crate::transport::{Flow, Transports};

/// State shared by every task. Read-mostly; what changes is behind atomics,
/// short locks, or an `ArcSwap` (the tenant directory).
#[derive(Debug)]
pub struct Ctx {
    pub limits: Limits,
    pub transports: Transports,
    pub security: Security,
    pub metrics: Metrics,
    pub trace: TraceLog,
    pub shards: Vec<mpsc::Sender<ShardMsg>>,
    /// The shards themselves, for handling a received message on the thread
    /// that received it. Emptied at shutdown (the shards hold the context).
    pub(crate) slots: ArcSwap<Vec<Arc<shard::ShardSlot>>>,
    directory: ArcSwap<Directory>,
    /// The operator's platform file (trunks, numbers, directions), `None` before one is
    /// applied.
    pub(crate) platform: arc_swap::ArcSwapOption<pbx_dialplan::Platform>,
    pub registrar_cfg: RegistrarConfig,
    pub t1: Duration,
    pub nonce_key: [u8; 32],
    pub nonce_ttl: u64,
    pub replay_guard: Arc<sip_auth::SharedReplayGuard>,
    own_ips: Vec<IpAddr>,
    external_ip: Option<IpAddr>,
    /// Batches of binding changes to the write-behind writer.
    pub(crate) bindings: mpsc::Sender<run::BindingBatch>,
    stopping: AtomicBool,
    retry_after_s: u32,
    pub own_ip_policy: OwnIpPolicy,
    pub flush_interval: Duration,
    pub write_behind: bool,
    /// Per-process random keys for shard hashing, so crafted Call-IDs cannot
    /// aim at one shard.
    hasher: std::hash::RandomState,
    /// Flips to true at shutdown; TCP connections watch it.
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    /// Open TCP connections per source IP.
    pub(crate) tcp_per_ip: std::sync::Mutex<std::collections::HashMap<IpAddr, u32>>,
    /// The RTP relay (`None` only when no `[media]` ports could be used).
    pub relay: Option<pbx_relay::Relay>,
    pub call_settings: calls::CallSettings,
    pub presence: calls::Presence,
    /// What ring groups remember between calls (`rrmemory`, `leastrecent`, `fewestcalls`).
    pub groups: groups::GroupMemories,
    /// Every tenant's call queues.
    pub queues: queues::Queues,
    /// Call pickup: whose phones ring for which call, across shards.
    pub pickups: pickup::Pickups,
    /// Outside calls: fraud caps, trunk call limits, counters.
    pub external: external::ExternalCalls,
    /// Prompts and music on hold, decoded once (`data_dir` and the system sounds).
    pub prompts: prompts::PromptLibrary,
    /// Per-tenant files: voicemail, greetings, recordings (`None`: `data_dir` unusable).
    pub vault: Option<pbx_vault::Vault>,
    /// Voicemail to e-mail (`None` without `[smtp] url`).
    pub outbox: Option<pbx_vault::Outbox>,
    /// The call recording writer (`None` without a usable data directory).
    pub(crate) recordings: Option<recordings::Recordings>,
    /// Ended calls' records to the durable writer.
    pub(crate) cdr: mpsc::Sender<pbx_call::CallRecord>,
    /// `[sip] local_networks`: peers inside get our own address, others `external_ip`.
    local_networks: Vec<(IpAddr, u8)>,
    /// MWI subscriptions per tenant, across shards.
    pub mwi_shared: mwi::MwiShared,
    /// Bounds and expiry of MWI subscriptions.
    pub mwi_limits: sip_event::subscription::Limits,
    /// Trunk registration and qualify status (written by the trunks' owner shards).
    pub trunks: trunks::TrunkBoard,
}

/// What to do with a request addressed to one of our own IP addresses
/// instead of a tenant domain (`[sip] own_ip_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnIpPolicy {
    /// Serve it for the tenant whose user has that user part as digest
    /// username, when exactly one tenant has it; else 404 and a log line.
    UniqueAuthUser,
    /// Always 404.
    Reject,
    /// Never answer, like an unknown domain.
    Drop,
}

impl Ctx {
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Wall-clock ms since the Unix epoch (bindings, bans and CDRs outlive a restart).
    pub fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    pub fn directory(&self) -> Arc<Directory> {
        self.directory.load_full()
    }

    /// The applied platform file, compiled.
    pub fn platform(&self) -> Option<Arc<pbx_dialplan::Platform>> {
        self.platform.load_full()
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }

    /// Whether `peer` is inside our own networks (loopback or `[sip]
    /// local_networks`): it gets internal addresses, never `external_ip`.
    pub fn is_local_peer(&self, peer: IpAddr) -> bool {
        peer.is_loopback()
            || self
                .local_networks
                .iter()
                .any(|(n, l)| security::in_net(peer, *n, *l))
    }

    /// The address to advertise (Via, Contact) to `peer` on a socket bound
    /// to `local`: `external_ip` for peers outside `local_networks` when it
    /// is set; a wildcard bind advertises the first concrete own address.
    pub fn advertised_ip(&self, local: IpAddr, peer: IpAddr) -> IpAddr {
        if let Some(ext) = self.external_ip
            && !self.is_local_peer(peer)
        {
            return ext;
        }
        if !local.is_unspecified() {
            return local;
        }
        self.own_ips
            .iter()
            .copied()
            .find(|ip| !ip.is_unspecified() && ip.is_ipv4() == peer.is_ipv4())
            .unwrap_or(if peer.is_loopback() { peer } else { local })
    }

    pub fn is_own_ip(&self, ip: IpAddr) -> bool {
        dispatch::own_ip(&self.own_ips, self.external_ip, ip)
    }

    /// The shard that owns `key`.
    pub fn shard_for<K: Hash + ?Sized>(&self, key: &K) -> usize {
        let h = std::hash::BuildHasher::hash_one(&self.hasher, key);
        (h % self.shards.len() as u64) as usize
    }

    /// Handles a received SIP message on the calling thread in the shard
    /// that owns it; during start-up and shutdown (no slots) it goes to the
    /// shard's inbox instead.
    pub fn deliver(&self, shard: usize, msg: ShardMsg, reply: Option<Flow>) {
        let slots = self.slots.load();
        match slots.get(shard) {
            Some(slot) => slot.deliver(msg),
            None => self.to_shard(shard, msg, reply),
        }
    }

    /// Hands a message to a shard. A full inbox answers a request with 503
    /// and Retry-After (never an ACK), and drops anything else.
    pub fn to_shard(&self, shard: usize, msg: ShardMsg, reply: Option<Flow>) {
        match self.shards[shard].try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg))
            | Err(mpsc::error::TrySendError::Closed(msg)) => {
                self.metrics.drop(Drop::Overload);
                if let (ShardMsg::Sip(inb), Some(flow)) = (msg, reply)
                    && inb.req.method != Method::Ack
                {
                    let mut r = inb.req.make_response(StatusCode::SERVICE_UNAVAILABLE);
                    shard::fix_top_via(&mut r, &flow);
                    r.headers.push(
                        sip_msg::HeaderName::RetryAfter,
                        self.retry_after_s.to_string(),
                    );
                    self.metrics.response_out(503);
                    self.transports.send(self, &flow, Bytes::from(r.to_bytes()));
                }
            }
        }
    }

    pub(crate) fn trace_in(&self, flow: &Flow, msg: &Message, raw: Option<Bytes>) {
        if self.trace.enabled() {
            let data = raw.unwrap_or_else(|| Bytes::from(msg.to_bytes()));
            self.trace_record(
                flow,
                "in",
                msg.headers().call_id().unwrap_or_default().into(),
                data,
            );
        }
    }

    pub(crate) fn trace_in_raw(&self, flow: &Flow, data: &[u8]) {
        if self.trace.enabled() {
            let call_id = raw_call_id(data).unwrap_or_default().into();
            self.trace_record(flow, "in", call_id, Bytes::copy_from_slice(data));
        }
    }

    pub(crate) fn trace_out(&self, flow: &Flow, data: &Bytes) {
        if self.trace.enabled() && data.len() >= 8 {
            self.trace_record(
                flow,
                "out",
                raw_call_id(data).unwrap_or_default().into(),
                data.clone(),
            );
        }
    }

    fn trace_record(&self, flow: &Flow, direction: &'static str, call_id: Box<str>, data: Bytes) {
        self.trace.record(TraceEntry {
            at_us: self.wall_us(),
            direction,
            transport: flow.tp.as_str(),
            local: flow.local,
            remote: flow.remote,
            call_id,
            data,
        });
    }

    fn wall_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0)
    }
}

/// The Call-ID of raw message bytes (for tracing what did not parse, and
/// what we send), found by a line scan.
fn raw_call_id(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(&data[..data.len().min(8192)]).ok()?;
    for line in text.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("call-id") || name == "i" || name == "I" {
            return Some(value.trim());
        }
    }
    None
}
