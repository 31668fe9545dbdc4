//! Trunks at run time (issue 5): vpbx registers its dedicated trunks'
//! accounts at the provider and watches trunks with OPTIONS; `vpbx trunks`
//! shows both. The decisions are `pbx-trunk`'s pure machines
//! ([`pbx_trunk::Registration`], [`pbx_trunk::Qualify`]); this module
//! feeds them the platform file, the clock and the responses, and sends
//! what they ask for.
//!
//! - **Ownership**: each trunk lives in one shard, chosen by a hash of its
//!   name ([`crate::Ctx::shard_for`]). The shard sends the machines' requests
//!   through its own `sip-txn` endpoint, so the responses come back to it
//!   (its branches name it) and reach [`Shard::trunk_response`] /
//!   [`Shard::trunk_txn_failed`] from `calls.rs`.
//! - **Timing**: the shard's housekeeping tick ([`Shard::trunks_due`], every
//!   `[store] flush_interval_ms`, at most 1 s) fires the machines' timers
//!   and notices a new platform document (the config watcher swaps it within
//!   a poll of `vpbx platform apply`). New trunks start, removed ones
//!   unregister (`Expires: 0`), changed ones are handed their new config.
//! - **Contact**: `sip:tr-<10 hex>@our-ip:port`, the token being
//!   [`contact_user`]`(trunk name)` — stable across restarts (a binding the
//!   provider keeps still names the trunk) and mapped back by
//!   [`trunk_for_contact_user`] for inbound calls to it. Our ip:port are
//!   those of the UDP socket that reaches the trunk, as the peer sees them
//!   ([`crate::Ctx::advertised_ip`]: `external_ip` for peers outside
//!   `local_networks`).
//! - **Addresses**: an IP literal is used as is; a name is resolved with the
//!   system resolver on a blocking thread (never on the shard), kept for
//!   5 minutes and refreshed in the background; a trunk waits (`resolving
//!   host`) until its first answer.
//! - **Qualify timing**: the platform file has no per-trunk interval: trunks
//!   are probed every `[sip] qualify_interval_s` (60 s when it is 0), every
//!   `min(10 s, interval)` while Down, an answer awaited `min(5 s, interval)`,
//!   Down after 2 misses.
//! - **TCP**: a `transport: tcp` trunk's REGISTER, OPTIONS and INVITEs go over one
//!   connection vpbx opens to it ([`crate::transport::Transports::tcp_client`]),
//!   reused while open and reopened on demand; its Contact carries
//!   `;transport=tcp`. A trunk whose registrar is vpbx's own listen address is
//!   refused.
//! - **Shutdown**: [`unregister_all`] sends every binding's `Expires: 0` and
//!   waits (bounded) for the answers before the receive threads stop.
//! - **Metrics**: `vpbx_trunk_registered{trunk}`, `vpbx_trunk_up{trunk}`,
//!   `vpbx_trunk_registration_failures_total{trunk}`; one log line per
//!   status change.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pbx_dialplan::platform::TrunkTransport;
use pbx_dialplan::{Platform, Trunk};
use pbx_trunk::{
    Qualify, QualifyAction, QualifyConfig, QualifyStatus, Registration, RegistrationAction,
    RegistrationConfig, RegistrationStatus, SendTarget,
};
use sip_msg::{HeaderName, Request, Response, Transport};
use sip_txn::TxnKey;

use crate::Ctx;
use crate::shard::Shard;

/// How long a resolved trunk host is used before it is looked up again (in
/// the background; the old address serves meanwhile).
const RESOLVE_TTL: Duration = Duration::from_secs(300);
/// How long a failed lookup is remembered before it is tried again.
const RESOLVE_RETRY: Duration = Duration::from_secs(30);

/// The Contact user of a trunk's registration: `tr-` and 10 hex digits of
/// the FNV-1a hash of the trunk's name. Stable across restarts and
/// versions, so inbound requests to a binding the provider still holds find
/// the trunk ([`trunk_for_contact_user`]).
pub fn contact_user(trunk_name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in trunk_name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("tr-{:010x}", h >> 24)
}

/// The trunk whose registration Contact has `user` as its user part (the
/// Request-URI user of an inbound call the provider sends to that binding).
pub fn trunk_for_contact_user<'a>(platform: &'a Platform, user: &str) -> Option<&'a Trunk> {
    if !user.starts_with("tr-") {
        return None;
    }
    platform
        .config()
        .trunks
        .iter()
        .find(|t| contact_user(&t.name) == user)
}

/// What `vpbx trunks` shows for one trunk (`GET /api/v1/trunks`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TrunkInfo {
    pub name: String,
    /// The owning tenant's domain; `None` for a shared trunk.
    pub tenant: Option<String>,
    pub host: String,
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// `off` (register: false), `waiting` (not started: see the summary),
    /// `unregistered`, `registering`, `registered`, `failed`.
    pub registration_state: String,
    /// One line: `registered, expires in 3591 s`, `failed: 401 credentials
    /// rejected, retry in 28 s`, `not registering`, …
    pub registration: String,
    /// The Contact user of the registration ([`contact_user`]).
    pub contact_user: Option<String>,
    /// Failed registration attempts since start.
    pub registration_failures: u64,
    /// `up`, `down`, `unknown`; `None` without `qualify: true` (or not run:
    /// see `qualify_note`).
    pub qualify: Option<String>,
    /// Why a trunk with `qualify: true` is not probed.
    pub qualify_note: Option<String>,
    /// Round-trip time of the last answered OPTIONS, while up.
    pub qualify_rtt_ms: Option<u64>,
    /// Since when it is down (Unix ms).
    pub qualify_down_since_ms: Option<u64>,
    /// Outside calls in progress on the trunk (filled by the HTTP handler from
    /// [`crate::external::ExternalCalls::trunk_calls`]).
    pub calls: u32,
}

/// A trunk's run-time status, as its owner shard last wrote it.
#[derive(Debug, Clone, Default)]
struct Row {
    /// `None`: no registration machine (see `reg_note`).
    registration: Option<RegistrationStatus>,
    /// Why a trunk with `register: true` has no machine.
    reg_note: Option<String>,
    qualify: Option<QualifyStatus>,
    qualify_note: Option<String>,
    reg_failures: u64,
}

#[derive(Debug, Clone)]
enum Resolved {
    Pending,
    Ready {
        ip: IpAddr,
        at: Instant,
        refreshing: bool,
    },
    Failed {
        error: String,
        at: Instant,
    },
}

/// Trunk status shared by the shards (writers, each for its own trunks),
/// HTTP and `/metrics` (readers), and the resolver cache.
#[derive(Debug, Default)]
pub struct TrunkBoard {
    rows: Mutex<HashMap<String, Row>>,
    resolved: Mutex<HashMap<String, Resolved>>,
    /// Set at shutdown: no trunk starts any more.
    stopping: AtomicBool,
}

impl TrunkBoard {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<String, Row>> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with_row(&self, name: &str, f: impl FnOnce(&mut Row)) {
        f(self.rows().entry(name.to_owned()).or_default());
    }

    /// Whether the trunk's registration is in place (false when it does
    /// not register).
    pub fn is_registered(&self, name: &str) -> bool {
        self.rows()
            .get(name)
            .is_some_and(|r| matches!(r.registration, Some(RegistrationStatus::Registered { .. })))
    }

    /// Whether qualify lets calls use the trunk (Up, Unknown, or not
    /// qualified); false only while it is Down.
    pub fn is_usable(&self, name: &str) -> bool {
        !self
            .rows()
            .get(name)
            .is_some_and(|r| matches!(r.qualify, Some(QualifyStatus::Down { .. })))
    }

    /// Every trunk of `platform`, in file order, with its status.
    pub fn list(&self, platform: Option<&Platform>, now: Instant, wall_ms: u64) -> Vec<TrunkInfo> {
        let Some(p) = platform else {
            return Vec::new();
        };
        let rows = self.rows();
        p.config()
            .trunks
            .iter()
            .map(|t| {
                let row = rows.get(&t.name).cloned().unwrap_or_default();
                info(t, &row, now, wall_ms)
            })
            .collect()
    }

    /// Appends the trunk metrics (Prometheus text) for `platform`'s trunks.
    pub fn render(&self, platform: Option<&Platform>, out: &mut String) {
        let Some(p) = platform else {
            return;
        };
        let rows = self.rows();
        let trunks = &p.config().trunks;
        let _ = writeln!(
            out,
            "# HELP vpbx_trunk_registered 1 while the trunk's registration at the provider is in place.\n# TYPE vpbx_trunk_registered gauge"
        );
        for t in trunks.iter().filter(|t| t.register) {
            let on = rows.get(&t.name).is_some_and(|r| {
                matches!(r.registration, Some(RegistrationStatus::Registered { .. }))
            });
            let _ = writeln!(
                out,
                "vpbx_trunk_registered{{trunk=\"{}\"}} {}",
                label(&t.name),
                u8::from(on)
            );
        }
        let _ = writeln!(
            out,
            "# HELP vpbx_trunk_up 1 while the trunk answers OPTIONS.\n# TYPE vpbx_trunk_up gauge"
        );
        for t in trunks.iter().filter(|t| t.qualify) {
            let up = rows
                .get(&t.name)
                .is_some_and(|r| matches!(r.qualify, Some(QualifyStatus::Up { .. })));
            let _ = writeln!(
                out,
                "vpbx_trunk_up{{trunk=\"{}\"}} {}",
                label(&t.name),
                u8::from(up)
            );
        }
        let _ = writeln!(
            out,
            "# HELP vpbx_trunk_registration_failures_total Failed registration attempts.\n# TYPE vpbx_trunk_registration_failures_total counter"
        );
        for t in trunks.iter().filter(|t| t.register) {
            let n = rows.get(&t.name).map_or(0, |r| r.reg_failures);
            let _ = writeln!(
                out,
                "vpbx_trunk_registration_failures_total{{trunk=\"{}\"}} {n}",
                label(&t.name)
            );
        }
    }

    /// The address of `host` without looking anything up: an IP literal, or a name's
    /// cached address (looked up when the platform file was applied or reloaded).
    pub(crate) fn cached(&self, host: &str) -> Option<IpAddr> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Some(ip);
        }
        match self
            .resolved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(host)
        {
            Some(Resolved::Ready { ip, .. }) => Some(*ip),
            _ => None,
        }
    }

    /// The address of `host` if known: an IP literal at once; a name from
    /// the cache, else `Ok(None)` while a lookup runs (started here).
    pub(crate) fn resolve(&self, ctx: &Arc<Ctx>, host: &str) -> Result<Option<IpAddr>, String> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(Some(ip));
        }
        let now = Instant::now();
        let mut cache = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        let (answer, look_up) = match cache.get_mut(host) {
            None => (Ok(None), true),
            Some(Resolved::Pending) => (Ok(None), false),
            Some(Resolved::Ready { ip, at, refreshing }) => {
                let stale = now.saturating_duration_since(*at) > RESOLVE_TTL && !*refreshing;
                if stale {
                    *refreshing = true;
                }
                (Ok(Some(*ip)), stale)
            }
            Some(Resolved::Failed { error, at }) => {
                if now.saturating_duration_since(*at) > RESOLVE_RETRY {
                    (Ok(None), true)
                } else {
                    (Err(error.clone()), false)
                }
            }
        };
        if look_up {
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                return Err("no runtime to resolve the host on".to_owned());
            };
            if !matches!(cache.get(host), Some(Resolved::Ready { .. })) {
                cache.insert(host.to_owned(), Resolved::Pending);
            }
            let ctx = ctx.clone();
            let name = host.to_owned();
            rt.spawn_blocking(move || {
                let result = (name.as_str(), 0u16)
                    .to_socket_addrs()
                    .map_err(|e| e.to_string())
                    .and_then(|mut addrs| {
                        addrs
                            .next()
                            .map(|a| a.ip())
                            .ok_or_else(|| "no address".to_owned())
                    });
                let at = Instant::now();
                let mut cache = ctx
                    .trunks
                    .resolved
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match result {
                    Ok(ip) => {
                        cache.insert(
                            name,
                            Resolved::Ready {
                                ip,
                                at,
                                refreshing: false,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(host = %name, %error, "cannot resolve a trunk's host");
                        // A known address keeps serving until a lookup succeeds.
                        match cache.get_mut(&name) {
                            Some(Resolved::Ready { refreshing, .. }) => *refreshing = false,
                            _ => {
                                cache.insert(name, Resolved::Failed { error, at });
                            }
                        }
                    }
                }
            });
        }
        answer
    }
}

/// A Prometheus label value, escaped.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn info(t: &Trunk, row: &Row, now: Instant, wall_ms: u64) -> TrunkInfo {
    let (state, summary) = match (&row.registration, &row.reg_note) {
        (Some(s), _) => (
            match s {
                RegistrationStatus::Unregistered => "unregistered",
                RegistrationStatus::Registering => "registering",
                RegistrationStatus::Registered { .. } => "registered",
                RegistrationStatus::Failed { .. } => "failed",
            },
            s.summary(now),
        ),
        (None, Some(note)) if t.register => ("waiting", format!("not registering: {note}")),
        (None, _) if t.register => ("waiting", "starting".to_owned()),
        (None, _) => ("off", "not registering".to_owned()),
    };
    let (qualify, rtt, since) = match row.qualify {
        None => (None, None, None),
        Some(QualifyStatus::Unknown) => (Some("unknown"), None, None),
        Some(QualifyStatus::Up { rtt }) => (Some("up"), Some(rtt.as_millis() as u64), None),
        Some(QualifyStatus::Down { since }) => {
            let ago = now.saturating_duration_since(since).as_millis() as u64;
            (Some("down"), None, Some(wall_ms.saturating_sub(ago)))
        }
    };
    TrunkInfo {
        name: t.name.clone(),
        tenant: t.tenant.clone(),
        host: t.host.clone(),
        port: t.port,
        transport: t.transport.to_string(),
        registration_state: state.to_owned(),
        registration: summary,
        contact_user: t.register.then(|| contact_user(&t.name)),
        registration_failures: row.reg_failures,
        qualify: qualify.map(str::to_owned),
        qualify_note: if t.qualify && row.qualify.is_none() {
            Some(
                row.qualify_note
                    .clone()
                    .unwrap_or_else(|| "starting".to_owned()),
            )
        } else {
            None
        },
        qualify_rtt_ms: rtt,
        qualify_down_since_ms: since,
        calls: 0,
    }
}

/// Sends every registered trunk's `Expires: 0` and waits up to `wait` for
/// the registrars to answer (challenges included). Call before the receive
/// threads stop. No trunk starts afterwards.
pub async fn unregister_all(ctx: &Arc<Ctx>, wait: Duration) {
    ctx.trunks.stopping.store(true, Relaxed);
    let slots = ctx.slots.load_full();
    for s in slots.iter() {
        s.lock().trunks_stop_all();
    }
    let end = Instant::now() + wait;
    loop {
        let busy = slots.iter().filter(|s| s.lock().trunks_busy()).count();
        if busy == 0 {
            return;
        }
        if Instant::now() >= end {
            tracing::warn!(
                shards = busy,
                "some trunks' unregistrations were not answered in time"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Retransmissions and guard timers of the unregistrations.
        for s in slots.iter() {
            let mut shard = s.lock();
            if shard.trunks_busy() {
                shard.on_call_timers();
                shard.trunks_tick(Instant::now());
            }
        }
    }
}

/// One trunk's machines in its owner shard.
#[derive(Debug)]
struct Runtime {
    trunk: Trunk,
    reg: Option<Registration>,
    qual: Option<Qualify>,
    /// Not started yet for want of an address: try again next tick.
    waiting: bool,
}

/// Which machine a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Reg(String),
    Qual(String),
    /// A removed trunk's registration, unregistering.
    Leaving(u64),
}

#[derive(Debug)]
struct Pending {
    owner: Owner,
    cseq: u32,
}

/// The trunks a shard owns.
#[derive(Debug, Default)]
pub(crate) struct ShardTrunks {
    /// The platform document last reconciled with.
    seen: Option<Arc<Platform>>,
    reconciled: bool,
    trunks: HashMap<String, Runtime>,
    leaving: HashMap<u64, (String, Registration)>,
    next_leaving: u64,
    txns: HashMap<TxnKey, Pending>,
}

/// What a trunk's config asks for, given what is known now.
enum Want<T> {
    Off,
    Run(T),
    /// Not possible (why).
    Refused(String),
    /// The host is being resolved.
    Wait,
}

enum Act {
    Reg(RegistrationAction),
    Qual(QualifyAction),
}

impl Shard {
    /// Housekeeping: a new platform document starts, stops and updates
    /// trunks; due timers fire.
    pub(crate) fn trunks_due(&mut self) {
        let now = self.ctx.now();
        if !self.ctx.trunks.stopping.load(Relaxed) {
            let platform = self.ctx.platform();
            let changed = !self.trunks.reconciled
                || match (&platform, &self.trunks.seen) {
                    (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
                    (None, None) => false,
                    _ => true,
                };
            if changed || self.trunks.trunks.values().any(|r| r.waiting) {
                self.trunks.reconciled = true;
                self.trunks.seen = platform.clone();
                self.reconcile(platform.as_deref(), now);
            }
        }
        self.trunks_tick(now);
    }

    /// Fires the machines' due timers.
    pub(crate) fn trunks_tick(&mut self, now: Instant) {
        let names: Vec<String> = self.trunks.trunks.keys().cloned().collect();
        for name in names {
            if let Some(rt) = self.trunks.trunks.get_mut(&name) {
                if let Some(r) = rt.reg.as_mut() {
                    r.tick(now);
                }
                if let Some(q) = rt.qual.as_mut() {
                    q.tick(now);
                }
                self.pump(&Owner::Reg(name.clone()));
                self.pump(&Owner::Qual(name));
            }
        }
        let ids: Vec<u64> = self.trunks.leaving.keys().copied().collect();
        for id in ids {
            if let Some((_, r)) = self.trunks.leaving.get_mut(&id) {
                r.tick(now);
            }
            self.pump(&Owner::Leaving(id));
        }
    }

    /// A response to a client transaction; false when it is none of the
    /// trunks'.
    pub(crate) fn trunk_response(&mut self, key: TxnKey, response: &Response) -> bool {
        let Some(p) = self.trunks.txns.get(&key) else {
            return false;
        };
        let owner = p.owner.clone();
        if !response.status.is_provisional() {
            self.trunks.txns.remove(&key);
        }
        let now = self.ctx.now();
        match &owner {
            Owner::Reg(n) => {
                if let Some(r) = self.trunks.trunks.get_mut(n).and_then(|r| r.reg.as_mut()) {
                    r.on_response(now, response);
                }
            }
            Owner::Qual(n) => {
                if let Some(q) = self.trunks.trunks.get_mut(n).and_then(|r| r.qual.as_mut()) {
                    q.on_response(now, response);
                }
            }
            Owner::Leaving(id) => {
                if let Some((_, r)) = self.trunks.leaving.get_mut(id) {
                    r.on_response(now, response);
                }
            }
        }
        self.pump(&owner);
        true
    }

    /// A client transaction failed (Timer F, transport error); false when
    /// it is none of the trunks'.
    pub(crate) fn trunk_txn_failed(&mut self, key: TxnKey) -> bool {
        let Some(p) = self.trunks.txns.remove(&key) else {
            return false;
        };
        self.machine_timeout(&p.owner, p.cseq);
        true
    }

    fn machine_timeout(&mut self, owner: &Owner, cseq: u32) {
        let now = self.ctx.now();
        match owner {
            Owner::Reg(n) => {
                if let Some(r) = self.trunks.trunks.get_mut(n).and_then(|r| r.reg.as_mut()) {
                    r.on_timeout(now, cseq);
                }
            }
            Owner::Qual(n) => {
                if let Some(q) = self.trunks.trunks.get_mut(n).and_then(|r| r.qual.as_mut()) {
                    q.on_timeout(now, cseq);
                }
            }
            Owner::Leaving(id) => {
                if let Some((_, r)) = self.trunks.leaving.get_mut(id) {
                    r.on_timeout(now, cseq);
                }
            }
        }
        self.pump(owner);
    }

    /// Shutdown: every registration unregisters, qualify stops.
    pub(crate) fn trunks_stop_all(&mut self) {
        let now = self.ctx.now();
        let names: Vec<String> = self.trunks.trunks.keys().cloned().collect();
        for name in names {
            self.stop_registration(&name, now);
            if let Some(q) = self
                .trunks
                .trunks
                .get_mut(&name)
                .and_then(|r| r.qual.as_mut())
            {
                q.stop();
            }
        }
    }

    /// Whether an unregistration is still in flight.
    pub(crate) fn trunks_busy(&self) -> bool {
        !self.trunks.leaving.is_empty()
    }

    fn reconcile(&mut self, platform: Option<&Platform>, now: Instant) {
        let mine: Vec<Trunk> = platform
            .map(|p| {
                p.config()
                    .trunks
                    .iter()
                    .filter(|t| self.ctx.shard_for(&*t.name) == self.id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let gone: Vec<String> = self
            .trunks
            .trunks
            .keys()
            .filter(|n| !mine.iter().any(|t| &t.name == *n))
            .cloned()
            .collect();
        for name in gone {
            self.stop_registration(&name, now);
            self.trunks.trunks.remove(&name);
            self.ctx.trunks.rows().remove(&name);
            tracing::info!(trunk = %name, "trunk removed");
        }
        for t in mine {
            // Outside calls read the host's address from the cache: look a name up now (at
            // apply or reload), not when the first call needs it.
            let _ = self.ctx.trunks.resolve(&self.ctx, &t.host);
            let same = self
                .trunks
                .trunks
                .get(&t.name)
                .is_some_and(|rt| rt.trunk == t && !rt.waiting);
            if !same {
                self.apply_trunk(t, now);
            }
        }
    }

    /// Starts or updates one trunk's machines to match `t`.
    fn apply_trunk(&mut self, t: Trunk, now: Instant) {
        let name = t.name.clone();
        let reg_want = self.registration_config(&t);
        let qual_want = self.qualify_config(&t);
        let rt = self
            .trunks
            .trunks
            .entry(name.clone())
            .or_insert_with(|| Runtime {
                trunk: t.clone(),
                reg: None,
                qual: None,
                waiting: false,
            });
        rt.trunk = t;
        rt.waiting = matches!(reg_want, Want::Wait) || matches!(qual_want, Want::Wait);

        let mut reg_note = None;
        match reg_want {
            Want::Run(cfg) => {
                let rt = self
                    .trunks
                    .trunks
                    .get_mut(&name)
                    .expect("inserted just above");
                match &mut rt.reg {
                    Some(r) => {
                        if r.config() != &cfg
                            && let Err(e) = r.config_changed(now, cfg)
                        {
                            tracing::warn!(trunk = %name, error = %e, "trunk registration config refused; the old one stays");
                        }
                    }
                    None => {
                        let seed = rand::Rng::random::<u64>(&mut self.rng);
                        match Registration::new(cfg, seed) {
                            Ok(mut r) => {
                                r.start(now);
                                rt.reg = Some(r);
                                tracing::info!(trunk = %name, contact = %contact_user(&name), "trunk registration started");
                            }
                            Err(e) => reg_note = Some(format!("bad configuration: {e}")),
                        }
                    }
                }
            }
            Want::Off => self.stop_registration(&name, now),
            Want::Refused(why) => {
                self.stop_registration(&name, now);
                reg_note = Some(why);
            }
            Want::Wait => reg_note = Some("resolving host".to_owned()),
        }
        if reg_note.is_some() {
            tracing::info!(trunk = %name, note = ?reg_note, "trunk does not register");
        }
        self.ctx
            .trunks
            .with_row(&name, |row| row.reg_note = reg_note);

        let mut qual_note = None;
        let rt = self
            .trunks
            .trunks
            .get_mut(&name)
            .expect("inserted just above");
        match qual_want {
            Want::Run(cfg) => match &mut rt.qual {
                Some(q) => {
                    if q.config() != &cfg
                        && let Err(e) = q.config_changed(cfg)
                    {
                        tracing::warn!(trunk = %name, error = %e, "trunk qualify config refused; the old one stays");
                    }
                }
                None => {
                    let seed = rand::Rng::random::<u64>(&mut self.rng);
                    match Qualify::new(cfg, seed) {
                        Ok(mut q) => {
                            q.start(now);
                            rt.qual = Some(q);
                        }
                        Err(e) => qual_note = Some(format!("bad configuration: {e}")),
                    }
                }
            },
            Want::Off => rt.qual = None,
            Want::Refused(why) => {
                rt.qual = None;
                qual_note = Some(why);
            }
            Want::Wait => qual_note = Some("resolving host".to_owned()),
        }
        let qual_status = rt.qual.as_ref().map(Qualify::status);
        self.ctx.trunks.with_row(&name, |row| {
            row.qualify_note = qual_note;
            row.qualify = qual_status;
        });
        self.pump(&Owner::Reg(name.clone()));
        self.pump(&Owner::Qual(name));
    }

    /// Takes the trunk's registration (if any) out: it unregisters as a
    /// leaving machine and the trunk shows no registration.
    fn stop_registration(&mut self, name: &str, now: Instant) {
        let Some(mut r) = self
            .trunks
            .trunks
            .get_mut(name)
            .and_then(|rt| rt.reg.take())
        else {
            return;
        };
        r.stop(now);
        let id = self.trunks.next_leaving;
        self.trunks.next_leaving += 1;
        self.trunks.leaving.insert(id, (name.to_owned(), r));
        self.ctx
            .trunks
            .with_row(name, |row| row.registration = None);
        self.pump(&Owner::Leaving(id));
    }

    /// The address and UDP socket for a request to `host:port`.
    fn trunk_route(&self, host: &str, port: u16) -> Want<(SocketAddr, usize)> {
        let addr = match self.trunk_addr(host, port) {
            Want::Run(a) => a,
            Want::Off => return Want::Off,
            Want::Wait => return Want::Wait,
            Want::Refused(why) => return Want::Refused(why),
        };
        match self.ctx.transports.udp_for(addr) {
            Some(i) => Want::Run((addr, i)),
            None => Want::Refused(format!("no UDP socket can reach {addr}")),
        }
    }

    /// The address of `host:port` (resolved, not our own).
    fn trunk_addr(&self, host: &str, port: u16) -> Want<SocketAddr> {
        let ip = match self.ctx.trunks.resolve(&self.ctx, host) {
            Ok(Some(ip)) => ip,
            Ok(None) => return Want::Wait,
            Err(e) => return Want::Refused(format!("cannot resolve {host}: {e}")),
        };
        let addr = SocketAddr::new(ip, port);
        if self.ctx.transports.is_own_listen_addr(addr) {
            return Want::Refused(format!("{addr} is vpbx's own address"));
        }
        Want::Run(addr)
    }

    /// Our address for a TCP trunk at `addr` (Contact of its registration): our TCP
    /// listen port when we have one, else the UDP one.
    fn our_tcp_address(&self, addr: SocketAddr) -> Option<SocketAddr> {
        self.tcp_local_sip(addr)?.host_port.parse().ok()
    }

    /// Our address as `addr` sees it on UDP socket `socket`.
    fn our_address(&self, socket: usize, addr: SocketAddr) -> Option<SocketAddr> {
        let local = self.ctx.transports.udp_local(socket)?;
        let ip = self.ctx.advertised_ip(local.ip(), addr.ip());
        Some(SocketAddr::new(ip, local.port()))
    }

    fn registration_config(&self, t: &Trunk) -> Want<RegistrationConfig> {
        let Some(r) = t.registration() else {
            return if t.register {
                Want::Refused("no reg_user/username or secret".to_owned())
            } else {
                Want::Off
            };
        };
        let contact = match t.transport {
            TrunkTransport::Udp => {
                let (addr, socket) = match self.trunk_route(r.host, r.port) {
                    Want::Run(x) => x,
                    Want::Off => return Want::Off,
                    Want::Wait => return Want::Wait,
                    Want::Refused(why) => return Want::Refused(why),
                };
                let Some(contact) = self.our_address(socket, addr) else {
                    return Want::Refused(format!("no UDP socket can reach {addr}"));
                };
                contact
            }
            TrunkTransport::Tcp => {
                let addr = match self.trunk_addr(r.host, r.port) {
                    Want::Run(x) => x,
                    Want::Off => return Want::Off,
                    Want::Wait => return Want::Wait,
                    Want::Refused(why) => return Want::Refused(why),
                };
                match self.our_tcp_address(addr) {
                    Some(a) => a,
                    None => return Want::Refused(format!("no local address can reach {addr}")),
                }
            }
        };
        Want::Run(RegistrationConfig {
            user: r.user.to_owned(),
            domain: r.domain.to_owned(),
            auth_user: r.auth_user.to_owned(),
            secret: r.secret.to_owned(),
            host: r.host.to_owned(),
            port: r.port,
            transport: transport_of(t.transport),
            expires: Duration::from_secs(u64::from(r.expires.max(1))),
            contact_user: contact_user(&t.name),
            contact_host_port: contact.to_string(),
            user_agent: "vpbx".to_owned(),
            backoff: pbx_trunk::Backoff::default(),
        })
    }

    fn qualify_config(&self, t: &Trunk) -> Want<QualifyConfig> {
        if !t.qualify {
            return Want::Off;
        }
        match self.trunk_addr(&t.host, t.port) {
            Want::Run(_) => {}
            Want::Off => return Want::Off,
            Want::Wait => return Want::Wait,
            Want::Refused(why) => return Want::Refused(why),
        }
        let interval = match self.ctx.call_settings.qualify_interval {
            d if d.is_zero() => Duration::from_secs(60),
            d => d,
        };
        Want::Run(QualifyConfig {
            host: t.host.clone(),
            port: t.port,
            transport: transport_of(t.transport),
            from_user: t
                .from_user
                .clone()
                .or_else(|| t.username.clone())
                .unwrap_or_else(|| "vpbx".to_owned()),
            from_domain: t.from_domain.clone().unwrap_or_default(),
            interval,
            interval_down: interval.min(Duration::from_secs(10)),
            timeout: interval.min(Duration::from_secs(5)),
            down_after: 2,
            user_agent: "vpbx".to_owned(),
        })
    }

    fn next_action(&mut self, owner: &Owner) -> Option<Act> {
        let t = &mut self.trunks;
        match owner {
            Owner::Reg(n) => t
                .trunks
                .get_mut(n)?
                .reg
                .as_mut()?
                .poll_action()
                .map(Act::Reg),
            Owner::Qual(n) => t
                .trunks
                .get_mut(n)?
                .qual
                .as_mut()?
                .poll_action()
                .map(Act::Qual),
            Owner::Leaving(id) => t.leaving.get_mut(id)?.1.poll_action().map(Act::Reg),
        }
    }

    /// Carries out what a machine asks for, then publishes its status.
    fn pump(&mut self, owner: &Owner) {
        while let Some(act) = self.next_action(owner) {
            match act {
                Act::Reg(RegistrationAction::Send {
                    request,
                    target,
                    cseq,
                })
                | Act::Qual(QualifyAction::Send {
                    request,
                    target,
                    cseq,
                }) => {
                    if !self.trunk_send(owner, *request, &target, cseq) {
                        self.machine_timeout(owner, cseq);
                    }
                }
                Act::Reg(RegistrationAction::StatusChanged(s)) => self.reg_status(owner, &s),
                Act::Qual(QualifyAction::StatusChanged(s)) => {
                    if let Owner::Qual(name) = owner {
                        match s {
                            QualifyStatus::Up { rtt } => {
                                tracing::info!(trunk = %name, rtt_ms = rtt.as_millis() as u64, "trunk up");
                            }
                            QualifyStatus::Down { .. } => {
                                tracing::warn!(trunk = %name, "trunk down: no answer to OPTIONS");
                            }
                            QualifyStatus::Unknown => {}
                        }
                    }
                }
            }
        }
        match owner {
            Owner::Reg(n) => {
                let status = self
                    .trunks
                    .trunks
                    .get(n)
                    .and_then(|r| r.reg.as_ref())
                    .map(|r| r.status().clone());
                if let Some(s) = status {
                    self.ctx
                        .trunks
                        .with_row(n, |row| row.registration = Some(s));
                }
            }
            Owner::Qual(n) => {
                let status = self
                    .trunks
                    .trunks
                    .get(n)
                    .and_then(|r| r.qual.as_ref())
                    .map(Qualify::status);
                if let Some(s) = status {
                    self.ctx.trunks.with_row(n, |row| row.qualify = Some(s));
                }
            }
            Owner::Leaving(id) => {
                let done = self
                    .trunks
                    .leaving
                    .get(id)
                    .is_some_and(|(_, r)| *r.status() == RegistrationStatus::Unregistered);
                if done && let Some((name, _)) = self.trunks.leaving.remove(id) {
                    tracing::info!(trunk = %name, "trunk unregistered");
                }
            }
        }
        self.drain_calls();
    }

    fn reg_status(&mut self, owner: &Owner, s: &RegistrationStatus) {
        let name = match owner {
            Owner::Reg(n) => n.clone(),
            Owner::Leaving(id) => match self.trunks.leaving.get(id) {
                Some((n, _)) => n.clone(),
                None => return,
            },
            Owner::Qual(_) => return,
        };
        let now = self.ctx.now();
        let line = s.summary(now);
        match s {
            RegistrationStatus::Failed { .. } => {
                tracing::warn!(trunk = %name, status = %line, "trunk registration");
                if matches!(owner, Owner::Reg(_)) {
                    self.ctx.trunks.with_row(&name, |row| row.reg_failures += 1);
                }
            }
            _ => tracing::info!(trunk = %name, status = %line, "trunk registration"),
        }
    }

    /// Sends a machine's request as a client transaction of this shard's
    /// endpoint; false when it cannot go out.
    fn trunk_send(
        &mut self,
        owner: &Owner,
        mut request: Request,
        target: &SendTarget,
        cseq: u32,
    ) -> bool {
        let tp = if target.transport == Transport::Tcp {
            TrunkTransport::Tcp
        } else {
            TrunkTransport::Udp
        };
        let Want::Run(addr) = self.trunk_addr(&target.host, target.port) else {
            return false;
        };
        let Some((t, local)) = self.trunk_target(addr, tp) else {
            return false;
        };
        let branch = self.calls.ep.new_branch();
        request.headers.push_front(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={branch};rport",
                local.transport, local.host_port
            ),
        );
        let now = self.ctx.now();
        match self.calls.ep.send_request(now, t, request) {
            Ok(key) => {
                self.trunks.txns.insert(
                    key,
                    Pending {
                        owner: owner.clone(),
                        cseq,
                    },
                );
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "trunk request not sent");
                false
            }
        }
    }
}

/// The SIP transport of a trunk's `transport` setting.
fn transport_of(t: TrunkTransport) -> Transport {
    match t {
        TrunkTransport::Udp => Transport::Udp,
        TrunkTransport::Tcp => Transport::Tcp,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_contact_user_is_stable_short_and_finds_its_trunk() {
        let a = contact_user("newoperator");
        assert_eq!(a, contact_user("newoperator"));
        assert!(a.starts_with("tr-") && a.len() == 13, "{a}");
        assert_ne!(a, contact_user("newoperator2"));
        let p = Platform::from_yaml_str(
            "trunks:\n  - {name: a, host: 192.0.2.1, sources: [\"192.0.2.0/24\"]}\n  - {name: b, host: 192.0.2.2, sources: [\"192.0.2.0/24\"]}\n",
        )
        .unwrap();
        assert_eq!(
            trunk_for_contact_user(&p, &contact_user("b")).map(|t| t.name.as_str()),
            Some("b")
        );
        assert!(trunk_for_contact_user(&p, &contact_user("c")).is_none());
        assert!(trunk_for_contact_user(&p, "1001").is_none());
    }

    #[test]
    fn the_list_says_not_registering_failed_and_down_as_vpbx_trunks_prints_them() {
        let p = Platform::from_yaml_str(
            "trunks:\n  - {name: a, host: 192.0.2.1, sources: [\"192.0.2.0/24\"], qualify: false}\n  - {name: b, tenant: office.example, host: 192.0.2.2, register: true, username: u, secret: s}\n",
        )
        .unwrap();
        let board = TrunkBoard::default();
        let now = Instant::now();
        board.with_row("b", |r| {
            r.registration = Some(RegistrationStatus::Failed {
                reason: "403 Forbidden".into(),
                retry_at: now + Duration::from_secs(60),
            });
            r.qualify = Some(QualifyStatus::Down {
                since: now - Duration::from_secs(3),
            });
            r.reg_failures = 2;
        });
        let list = board.list(Some(&p), now, 1_000_000);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].registration, "not registering");
        assert_eq!(list[0].registration_state, "off");
        assert_eq!(list[0].qualify, None);
        assert_eq!(list[0].qualify_note, None);
        assert_eq!(list[1].registration, "failed: 403 Forbidden, retry in 60 s");
        assert_eq!(list[1].registration_state, "failed");
        assert_eq!(list[1].tenant.as_deref(), Some("office.example"));
        assert_eq!(list[1].contact_user, Some(contact_user("b")));
        assert_eq!(list[1].qualify.as_deref(), Some("down"));
        assert_eq!(list[1].qualify_down_since_ms, Some(997_000));
        assert!(!board.is_usable("b") && board.is_usable("a") && !board.is_registered("b"));
        let mut text = String::new();
        board.render(Some(&p), &mut text);
        assert!(
            text.contains("vpbx_trunk_registered{trunk=\"b\"} 0"),
            "{text}"
        );
        assert!(
            !text.contains("vpbx_trunk_registered{trunk=\"a\"}"),
            "{text}"
        );
        assert!(text.contains("vpbx_trunk_up{trunk=\"b\"} 0"), "{text}");
        assert!(
            text.contains("vpbx_trunk_registration_failures_total{trunk=\"b\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
