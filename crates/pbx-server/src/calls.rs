//! Calls inside a shard: the glue between the transaction endpoint
//! (`sip-txn`), the call engine (`pbx-call`), the RTP relay, the registrar
//! (possibly in another shard) and the call-record writer. Decisions are the
//! call engine's; this module only moves messages.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use pbx_call::{
    Call, CallParams, CallRecord, CallTimer, Effect, Env, ForkTarget, Inbound as CallInbound,
    LocalSip, MediaControl, MediaLeg, MediaSetup, Outcome, RingTarget,
};
use pbx_registrar::{AorKey, Binding, SourceTransport};
use sip_msg::{HeaderName, Message, Method, Request, Response, StatusCode};
use sip_txn::{Endpoint, Event, Output, Related, Target, TxnKey};

use crate::shard::{Inbound, Shard, ShardMsg};
use crate::tenants::{TenantSnap, UserCall};
use crate::transport::{Flow, Tp};
use pbx_core::TenantConfig;

/// Call settings shared by every shard (from `[media]`, `[sip]`).
#[derive(Debug, Clone)]
pub struct CallSettings {
    pub codecs: Vec<pbx_sdp::Codec>,
    pub telephone_event_pt: u8,
    pub rtp_timeout: Duration,
    pub rtp_hold_timeout: Duration,
    /// SDP address for peers inside `[sip] local_networks` (and loopback):
    /// `[media] ip` when specific, else the SIP address the call came on.
    pub media_internal: Option<IpAddr>,
    /// SDP address for other peers (`[media] advertise_ip`, else `[sip]
    /// external_ip`); `None`: the internal one.
    pub media_external: Option<IpAddr>,
    pub max_hops: u32,
    /// `[sip] qualify_interval_s` (zero: no OPTIONS qualify).
    pub qualify_interval: Duration,
    /// `[features] blind_transfer` (empty: off).
    pub blind_transfer_code: String,
    /// `[features] attended_transfer` (empty: off).
    pub attended_transfer_code: String,
    /// RFC 4028 (`[sip] session_expires_s`, `min_se_s`); zero disables.
    pub session_expires: Duration,
    pub min_se: Duration,
}

impl Default for CallSettings {
    fn default() -> Self {
        CallSettings {
            codecs: vec![
                pbx_sdp::Codec {
                    pt: 8,
                    name: "PCMA".into(),
                    clock_rate: 8000,
                    channels: 1,
                    fmtp: None,
                },
                pbx_sdp::Codec {
                    pt: 0,
                    name: "PCMU".into(),
                    clock_rate: 8000,
                    channels: 1,
                    fmtp: None,
                },
            ],
            telephone_event_pt: 101,
            rtp_timeout: Duration::from_secs(60),
            rtp_hold_timeout: Duration::from_secs(300),
            media_internal: None,
            media_external: None,
            max_hops: 8,
            qualify_interval: Duration::from_secs(60),
            blind_transfer_code: "##".into(),
            attended_transfer_code: "*2".into(),
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
        }
    }
}

/// Calls in progress per user and per tenant, for `busy_level`,
/// `call_limit` and `limits.max_calls`. Shared by the shards; one short lock
/// per call start and end (never on a packet path).
#[derive(Debug, Default)]
pub struct Presence {
    users: std::sync::Mutex<HashMap<(i64, Box<str>), u32>>,
    tenants: std::sync::Mutex<HashMap<i64, u32>>,
}

impl Presence {
    pub fn user_calls(&self, tenant: i64, ext: &str) -> u32 {
        let m = self.users.lock().expect("presence lock is never poisoned");
        m.get(&(tenant, Box::from(ext))).copied().unwrap_or(0)
    }

    fn user_add(&self, tenant: i64, ext: &str) {
        let mut m = self.users.lock().expect("presence lock is never poisoned");
        *m.entry((tenant, ext.into())).or_default() += 1;
    }

    fn user_remove(&self, tenant: i64, ext: &str) {
        let mut m = self.users.lock().expect("presence lock is never poisoned");
        let key = (tenant, Box::from(ext));
        if let Some(n) = m.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&key);
            }
        }
    }

    /// Takes one of the tenant's call slots unless `max` are taken.
    fn tenant_try_add(&self, tenant: i64, max: Option<u32>) -> bool {
        let mut m = self
            .tenants
            .lock()
            .expect("presence lock is never poisoned");
        let n = m.entry(tenant).or_default();
        if max.is_some_and(|max| *n >= max) {
            return false;
        }
        *n += 1;
        true
    }

    fn tenant_remove(&self, tenant: i64) {
        let mut m = self
            .tenants
            .lock()
            .expect("presence lock is never poisoned");
        if let Some(n) = m.get_mut(&tenant) {
            *n = n.saturating_sub(1);
        }
    }

    /// Calls in progress in the tenant.
    pub fn tenant_calls(&self, tenant: i64) -> u32 {
        let m = self
            .tenants
            .lock()
            .expect("presence lock is never poisoned");
        m.get(&tenant).copied().unwrap_or(0)
    }
}

/// One call and what the shard tracks for it.
#[derive(Debug)]
pub(crate) struct Slot {
    call: Call,
    tenant: Arc<TenantSnap>,
    /// Users whose presence this call holds (caller, the user being rung).
    users: Vec<Box<str>>,
    /// The user the walk rang last (also in `users`): no longer in the call once the
    /// walk moves on ([`Shard::release_rung`]).
    rung: Option<Box<str>>,
    tenant_slot: bool,
    tags: Vec<String>,
    txns: Vec<TxnKey>,
    /// Legs adopted from calls in other shards, which forward that leg's
    /// requests and relay events here until this call is gone:
    /// (shard, tag, relay leg).
    forwarded: Vec<(usize, String, Option<u64>)>,
    /// The calling user's extension (None for an outside caller).
    caller_user: Option<Box<str>>,
    /// The call's recording: its path relative to the tenant's directory once the writer
    /// created the file.
    recording: Option<Arc<std::sync::OnceLock<String>>>,
    /// The ring group the call is walking through.
    pub(crate) group: Option<Box<crate::groups::GroupRun>>,
    /// The outside call's trunks and what it holds.
    pub(crate) external: Option<Box<crate::external::ExternalRun>>,
    /// The provider trunk an inbound call came through (for its record).
    inbound_trunk: Option<String>,
    /// The queue the call waits in (or was answered from): its end goes to the queue log.
    pub(crate) queue: Option<pbx_core::Ext>,
    /// The users its phones ring for now, as [`crate::pickup::Pickups`] knows them.
    pickable: Vec<Box<str>>,
    /// The language of the prompts the call hears when not the tenant's: the `language`
    /// of the number an inbound call came in on.
    language: Option<Box<str>>,
}

impl Slot {
    /// The call.
    pub(crate) fn call_ref(&self) -> &Call {
        &self.call
    }
}

/// A call as `vpbx calls` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallInfo {
    pub call_id: String,
    pub caller: String,
    pub dialed: String,
    pub destination: String,
    pub state: String,
    pub start_ms: u64,
    pub answer_ms: Option<u64>,
    pub legs: Vec<LegInfo>,
    /// The provider trunk of an outside or inbound call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LegInfo {
    pub call_id: String,
    pub contact: String,
    pub state: String,
}

/// The per-shard call state.
#[derive(Debug)]
pub struct Calls {
    pub(crate) ep: Endpoint,
    slots: HashMap<u64, Slot>,
    txn_owner: HashMap<TxnKey, u64>,
    tag_owner: HashMap<String, u64>,
    timers: BinaryHeap<Reverse<(Instant, u64, CallTimer)>>,
    next_id: u64,
    shard: usize,
    /// The tenant of the request being fed to the endpoint.
    feeding: Option<Arc<TenantSnap>>,
    /// The provider trunk the request being fed came from (dispatch step 3).
    feeding_trunk: Option<Box<crate::external::TrunkInbound>>,
    /// The trunk of the inbound call being set up, for its slot.
    next_inbound_trunk: Option<String>,
    /// The language of the inbound call being set up (its number's), for its slot.
    next_language: Option<Box<str>>,
    /// Legs this shard's calls handed to calls in other shards (attended
    /// transfer): in-dialog requests by our tag go to that shard…
    forward_tags: HashMap<String, usize>,
    /// …and relay events for the leg to (shard, call).
    forward_media: HashMap<u64, (usize, u64)>,
    /// Qualify OPTIONS in flight.
    pub(crate) probes: HashMap<TxnKey, crate::qualify::Probe>,
    /// Media applications' per-leg and per-call state.
    pub(crate) apps: crate::apps::AppState,
}

impl Calls {
    pub fn new(shard: usize, t1: Duration, seed: u64) -> Calls {
        let cfg = sip_txn::Config {
            t1,
            id_prefix: format!("vp{:02x}", shard & 0xff),
            rng_seed: seed,
            ..sip_txn::Config::default()
        };
        Calls {
            ep: Endpoint::new(cfg),
            slots: HashMap::new(),
            txn_owner: HashMap::new(),
            tag_owner: HashMap::new(),
            timers: BinaryHeap::new(),
            next_id: 1,
            shard,
            feeding: None,
            feeding_trunk: None,
            next_inbound_trunk: None,
            next_language: None,
            forward_tags: HashMap::new(),
            forward_media: HashMap::new(),
            probes: HashMap::new(),
            apps: crate::apps::AppState::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether an in-dialog request with this To tag is one of our calls'.
    pub fn owns_tag(&self, tag: &str) -> bool {
        self.tag_owner.contains_key(tag)
    }

    fn new_id(&mut self) -> u64 {
        let id = ((self.shard as u64 & 0xff) << 48) | (self.next_id & 0xffff_ffff_ffff);
        self.next_id += 1;
        id
    }

    /// The earliest call timer.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }
}

/// The shard whose call owns relay leg owner `owner`.
pub fn shard_of_owner(owner: u64) -> usize {
    (owner >> 48) as usize
}

/// Endpoint flows name our transport and socket/connection: the top bit
/// says TCP.
const TCP_BIT: u64 = 1 << 63;

pub fn target_of(flow: &Flow) -> Target {
    let code = match flow.tp {
        Tp::Udp => flow.id,
        Tp::Tcp => flow.id | TCP_BIT,
    };
    Target {
        flow: sip_txn::Flow(code),
        addr: flow.remote,
        reliable: flow.tp == Tp::Tcp,
    }
}

/// The relay behind [`MediaControl`].
#[derive(Debug)]
struct RelayMedia<'a> {
    relay: Option<&'a pbx_relay::Relay>,
    settings: &'a CallSettings,
    ctx: &'a crate::Ctx,
    sip_ip: IpAddr,
    tenant: Option<&'a TenantSnap>,
    /// The call's prompt language when not the tenant's.
    language: Option<&'a str>,
    apps: &'a mut crate::apps::AppState,
}

impl RelayMedia<'_> {
    fn app(&mut self) -> crate::apps::AppMedia<'_> {
        crate::apps::AppMedia {
            relay: self.relay,
            ctx: self.ctx,
            tenant: self.tenant,
            language: self.language,
            state: self.apps,
        }
    }
}

impl MediaControl for RelayMedia<'_> {
    fn allocate(&mut self, owner: u64, peer: IpAddr) -> Option<(MediaLeg, SocketAddr)> {
        let (leg, addr) = self.relay?.allocate(owner).ok()?;
        let internal = self.settings.media_internal.unwrap_or(self.sip_ip);
        let ip = match self.settings.media_external {
            Some(ext) if !self.ctx.is_local_peer(peer) => ext,
            _ => internal,
        };
        Some((MediaLeg(leg.0), SocketAddr::new(ip, addr.port())))
    }

    fn configure(&mut self, leg: MediaLeg, setup: &MediaSetup) {
        let Some(relay) = self.relay else { return };
        let n = &setup.negotiated;
        let codec = if n.codec.name.eq_ignore_ascii_case("PCMA") {
            pbx_relay::Codec::Pcma
        } else if n.codec.name.eq_ignore_ascii_case("PCMU") {
            pbx_relay::Codec::Pcmu
        } else if n.codec.name.eq_ignore_ascii_case("G722") {
            pbx_relay::Codec::G722
        } else {
            pbx_relay::Codec::Other(n.codec.pt)
        };
        relay.configure(
            pbx_relay::LegId(leg.0),
            pbx_relay::LegParams {
                remote: n.remote,
                remote_rtcp: n.remote_rtcp,
                rtcp_mux: n.rtcp_mux,
                codec,
                pt: n.codec.pt,
                dtmf_pt: n.telephone_event.as_ref().map(|c| c.pt),
                timeout: if setup.on_hold {
                    self.settings.rtp_hold_timeout
                } else {
                    self.settings.rtp_timeout
                },
            },
        );
    }

    fn connect(&mut self, a: MediaLeg, b: MediaLeg) {
        if let Some(r) = self.relay {
            r.connect(pbx_relay::LegId(a.0), pbx_relay::LegId(b.0));
        }
    }

    fn release(&mut self, leg: MediaLeg) {
        if let Some(r) = self.relay {
            r.release(pbx_relay::LegId(leg.0));
        }
    }

    fn watch_digits(&mut self, leg: MediaLeg, on: bool) {
        if let Some(r) = self.relay {
            r.watch_digits(pbx_relay::LegId(leg.0), on);
        }
    }

    fn send_digit(&mut self, leg: MediaLeg, digit: char, duration: Duration) -> bool {
        self.relay.is_some_and(|r| {
            r.send_digit(pbx_relay::LegId(leg.0), digit, duration)
                .is_ok()
        })
    }

    fn app_play(
        &mut self,
        leg: MediaLeg,
        id: u64,
        prompts: &[pbx_app::PromptRef],
        _barge_in: bool,
    ) -> bool {
        self.app().play(leg.0, id, prompts)
    }

    fn app_stop(&mut self, leg: MediaLeg) {
        self.app().stop(leg.0);
    }

    fn app_record(&mut self, leg: MediaLeg, max_ms: u64, silence_end_ms: u64, beep: bool) -> bool {
        self.app().record(leg.0, max_ms, silence_end_ms, beep)
    }

    fn app_stop_record(&mut self, leg: MediaLeg) -> bool {
        self.app().stop_record(leg.0)
    }

    fn app_tone(&mut self, leg: MediaLeg, kind: pbx_call::ToneKind) -> bool {
        self.app().tone(leg.0, kind)
    }

    fn app_moh(&mut self, leg: MediaLeg, class: &str) -> bool {
        tracing::debug!(
            leg = leg.0,
            class,
            tenant = self.tenant.is_some(),
            "app_moh"
        );
        self.app().moh(leg.0, class)
    }

    fn app_detach(&mut self, leg: MediaLeg) {
        self.app().detach(leg.0);
    }
}

/// Where a new call goes first.
enum FirstHop {
    /// A user of the tenant: ring their phones.
    User(String),
    /// Another object with an internal number (a voice menu…).
    Dest(pbx_core::Destination),
    /// A service code's application (`*97`: the caller's own mailbox; `*45`: a queue
    /// agent's login, already done, with its spoken answer), and what it is for the record.
    App(Box<dyn pbx_app::MediaApp + Send>, &'static str),
    /// An outside number, decided and counted: ring its trunks.
    External(Box<crate::external::ExternalRun>),
    /// An outside call refused (this reason phrase with 403): the caller hears why in
    /// early media first ([`Shard::refuse_call`]).
    Refuse(&'static str),
}

/// Whether a request goes to the transaction endpoint and the calls
/// rather than the registrar's stateless path.
pub fn is_call_request(req: &Request) -> bool {
    // SUBSCRIBE, in a dialog or not, is the MWI notifier's (crate::mwi).
    req.method != Method::Subscribe && req.headers.to_tag().is_some()
        || matches!(
            req.method,
            Method::Invite
                | Method::Ack
                | Method::Cancel
                | Method::Bye
                | Method::Update
                | Method::Prack
                | Method::Info
                | Method::Refer
        )
}

impl Shard {
    /// A request for the endpoint (INVITE, in-dialog, CANCEL, ACK).
    pub(crate) fn on_call_request(&mut self, inb: Inbound) {
        if let Some(shard) = inb
            .req
            .headers
            .to_tag()
            .and_then(|t| self.calls.forward_tags.get(t).copied())
        {
            // A leg that moved to a call in another shard.
            let flow = inb.flow;
            return self
                .ctx
                .to_shard(shard, ShardMsg::Sip(Box::new(inb)), Some(flow));
        }
        let now = self.ctx.now();
        self.calls.feeding = inb.tenant.clone();
        self.calls.feeding_trunk = inb.trunk;
        let target = target_of(&inb.flow);
        self.calls
            .ep
            .handle_message(now, target, Message::Request(inb.req));
        self.drain();
        self.calls.feeding = None;
        self.calls.feeding_trunk = None;
    }

    /// A response: only the endpoint's client transactions can match.
    pub(crate) fn on_call_response(&mut self, resp: Response, flow: Flow) {
        let now = self.ctx.now();
        self.calls
            .ep
            .handle_message(now, target_of(&flow), Message::Response(resp));
        self.drain();
    }

    /// Fires due endpoint and call timers.
    pub(crate) fn on_call_timers(&mut self) {
        let now = self.ctx.now();
        self.calls.ep.handle_timeout(now);
        self.drain();
        while let Some(Reverse((at, id, t))) = self.calls.timers.peek().copied() {
            if at > now {
                break;
            }
            self.calls.timers.pop();
            self.with_call(id, |call, env| call.on_timer(t, env));
        }
    }

    /// The next instant the endpoint or a call needs waking.
    pub(crate) fn next_call_deadline(&mut self) -> Option<Instant> {
        let ep = loop {
            match self.calls.ep.poll_output() {
                Output::Timeout(at) => break Some(at),
                Output::Idle => break None,
                other => {
                    // Outputs produced outside drain() (none expected): handle them.
                    self.handle_output(other);
                }
            }
        };
        match (ep, self.calls.next_timer()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Carries out what the endpoint has to send and report.
    pub(crate) fn drain_calls(&mut self) {
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            match self.calls.ep.poll_output() {
                Output::Timeout(_) | Output::Idle => return,
                other => self.handle_output(other),
            }
        }
    }

    fn handle_output(&mut self, out: Output) {
        match out {
            Output::Transmit(t) => {
                let flow = self.flow_of(&t.target);
                if let Some(flow) = flow {
                    if let Some(code) = status_of(&t.data) {
                        self.ctx.metrics.response_out(code);
                    }
                    self.ctx.transports.send(&self.ctx, &flow, t.data);
                } else if let Some(k) = t.txn {
                    let now = self.ctx.now();
                    self.calls.ep.handle_send_failed(now, k);
                }
            }
            Output::Event(e) => self.on_event(e),
            Output::Timeout(_) | Output::Idle => {}
        }
    }

    pub(crate) fn flow_of(&self, t: &Target) -> Option<Flow> {
        let code = t.flow.0;
        if code & TCP_BIT != 0 {
            let id = code & !TCP_BIT;
            if !self.ctx.transports.tcp_alive(id) {
                return None;
            }
            Some(Flow {
                tp: Tp::Tcp,
                id,
                local: self.ctx.transports.tcp_local().unwrap_or(t.addr),
                remote: t.addr,
            })
        } else {
            Some(Flow {
                tp: Tp::Udp,
                id: code,
                local: self.ctx.transports.udp_local(code as usize)?,
                remote: t.addr,
            })
        }
    }

    fn on_event(&mut self, e: Event) {
        match e {
            Event::NewRequest {
                key,
                request,
                source,
                related,
            } => self.on_new_request(key, request, source, related),
            Event::AckReceived {
                invite, request, ..
            } => {
                let owner = invite
                    .and_then(|k| self.calls.txn_owner.get(&k).copied())
                    .or_else(|| {
                        request
                            .headers
                            .to_tag()
                            .and_then(|t| self.calls.tag_owner.get(t).copied())
                    });
                if let Some(id) = owner {
                    self.with_call(id, |call, env| call.on_ack(&request, env));
                }
            }
            Event::Response { key, response } => {
                if self.notify_done(key, Some(response.status.as_u16()))
                    || self.trunk_response(key, &response)
                {
                    return;
                }
                if self.probe_done(key, true) {
                    return;
                }
                if let Some(id) = self.calls.txn_owner.get(&key).copied() {
                    self.with_call(id, |call, env| call.on_response(key, response, env));
                }
            }
            Event::StrayResponse { .. } => {
                self.ctx.metrics.drop(crate::metrics::Drop::StrayResponse);
            }
            Event::TimedOut { key, .. } | Event::TransportError { key } => {
                if self.notify_done(key, None) || self.trunk_txn_failed(key) {
                    return;
                }
                if self.probe_done(key, false) {
                    return;
                }
                if let Some(id) = self.calls.txn_owner.get(&key).copied() {
                    self.with_call(id, |call, env| call.on_txn_failed(key, env));
                }
            }
            Event::AckTimedOut { invite } => {
                if let Some(id) = self.calls.txn_owner.get(&invite).copied() {
                    self.with_call(id, |call, env| call.on_ack_timeout(env));
                }
            }
            Event::ReliableProvisionalTimedOut { .. } => {}
            Event::Terminated { key } => {
                if let Some(id) = self.calls.txn_owner.remove(&key)
                    && let Some(s) = self.calls.slots.get_mut(&id)
                {
                    s.txns.retain(|k| *k != key);
                }
            }
        }
    }

    fn respond(&mut self, key: TxnKey, req: &Request, status: StatusCode, source: &Target) {
        let flow = self.flow_of(source);
        let mut r = match flow {
            Some(f) => self.response(req, status, &f),
            None => req.make_response(status),
        };
        if matches!(status.as_u16(), 405 | 501) {
            r.headers.push(HeaderName::Allow, crate::shard::ALLOW);
        }
        let now = self.ctx.now();
        let _ = self.calls.ep.send_response(now, key, r);
    }

    fn on_new_request(&mut self, key: TxnKey, req: Request, source: Target, related: Related) {
        if let Some(t) = &self.calls.feeding {
            self.stats.entry(t.id).or_default().requests += 1;
        }
        if req.method == Method::Cancel {
            let owner = match related {
                Related::Cancels(invite) => self
                    .calls
                    .txn_owner
                    .get(&invite)
                    .copied()
                    .map(|id| (id, invite)),
                _ => None,
            };
            return match owner {
                Some((id, invite))
                    if self
                        .calls
                        .slots
                        .get(&id)
                        .is_some_and(|s| s.call.inbound_key() != invite) =>
                {
                    // A picker's INVITE (call pickup): answered at once, too late to
                    // cancel (RFC 3261 §9.2).
                    self.respond(key, &req, StatusCode::OK, &source)
                }
                Some((id, _)) => self.with_call(id, |call, env| call.on_cancel(key, &req, env)),
                None => self.respond(
                    key,
                    &req,
                    StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                    &source,
                ),
            };
        }
        if req.method == Method::Prack {
            let (owner, matched) = match related {
                Related::Pracks { invite, .. } => {
                    (self.calls.txn_owner.get(&invite).copied(), true)
                }
                _ => (
                    req.headers
                        .to_tag()
                        .and_then(|t| self.calls.tag_owner.get(t).copied()),
                    false,
                ),
            };
            return match owner {
                Some(id) => self.with_call(id, |c, env| c.on_prack(key, &req, matched, env)),
                None => self.respond(
                    key,
                    &req,
                    StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                    &source,
                ),
            };
        }
        if let Some(tag) = req.headers.to_tag() {
            return match self.calls.tag_owner.get(tag).copied() {
                Some(id) => {
                    if matches!(req.method, Method::Invite) {
                        self.calls.txn_owner.insert(key, id);
                        if let Some(s) = self.calls.slots.get_mut(&id) {
                            s.txns.push(key);
                        }
                    }
                    self.with_call(id, |call, env| call.on_request(key, req, env));
                }
                None => self.respond(
                    key,
                    &req,
                    StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                    &source,
                ),
            };
        }
        let Some(tenant) = self.calls.feeding.clone() else {
            return self.respond(key, &req, StatusCode::NOT_FOUND, &source);
        };
        match req.method {
            Method::Invite => self.on_invite(key, req, source, tenant),
            Method::Bye | Method::Prack | Method::Update | Method::Info => self.respond(
                key,
                &req,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                &source,
            ),
            Method::Other(_) => self.respond(key, &req, StatusCode::NOT_IMPLEMENTED, &source),
            _ => self.respond(key, &req, StatusCode::METHOD_NOT_ALLOWED, &source),
        }
    }

    /// A new call: authenticate the caller, check limits, take the
    /// caller's leg, then ask the callee's shard for their contacts.
    fn on_invite(&mut self, key: TxnKey, req: Request, source: Target, tenant: Arc<TenantSnap>) {
        let Some(flow) = self.flow_of(&source) else {
            return;
        };
        if let Some(inbound) = self.calls.feeding_trunk.take() {
            // From a provider trunk (dispatch step 3): trusted by its source, no digest;
            // the number the operator bound to the tenant routes it.
            if let Some(r) = self.unsupported(&req, &flow) {
                let now = self.ctx.now();
                let _ = self.calls.ep.send_response(now, key, r);
                return;
            }
            let number = tenant
                .config
                .numbers
                .iter()
                .find(|n| n.number == inbound.number);
            let language = number.and_then(|n| n.language.as_deref()).map(Box::from);
            let route = number.map(|n| n.route.clone());
            let Some(route) = route else {
                tracing::info!(tenant = %tenant.domain, number = %inbound.number, trunk = %inbound.trunk, "inbound call for a number the tenant does not route");
                return self.respond(key, &req, StatusCode::NOT_FOUND, &source);
            };
            let from = req
                .headers
                .from()
                .and_then(|f| f.uri.user)
                .unwrap_or_else(|| "anonymous".into());
            tracing::info!(tenant = %tenant.domain, number = %inbound.number, trunk = %inbound.trunk, from = %from, to = %route, "inbound call");
            let name = tenant.config.phonebook_name(&from).map(str::to_owned);
            self.calls.next_inbound_trunk = Some(inbound.trunk.clone());
            self.calls.next_language = language;
            return self.start_call(
                key,
                req,
                source,
                flow,
                tenant,
                (from, name),
                None,
                inbound.number.clone(),
                FirstHop::Dest(route),
            );
        }
        let auth_user = match self.check_auth(&req, &flow, &tenant, true) {
            Ok(u) => u,
            Err(r) => {
                let now = self.ctx.now();
                let _ = self.calls.ep.send_response(now, key, *r);
                return;
            }
        };
        if let Some(r) = self.unsupported(&req, &flow) {
            let now = self.ctx.now();
            let _ = self.calls.ep.send_response(now, key, r);
            return;
        }
        let caller_ext = tenant.ext_of(&auth_user).unwrap_or(&auth_user).to_owned();
        let caller = tenant.calls.get(caller_ext.as_str()).cloned();
        let dialed = req
            .uri
            .user_unescaped()
            .and_then(|u| String::from_utf8(u).ok())
            .unwrap_or_default();
        if let Some(code) = tenant.config.service_codes.pickup_of(&dialed) {
            return self.on_pickup(key, req, source, flow, &tenant, &caller_ext, code);
        }
        let callee_ext = tenant.canonical_ext(&dialed).to_owned();
        let route = if let Some(u) = tenant.calls.get(callee_ext.as_str()) {
            FirstHop::User(u.ext.to_string())
        } else if let Some(app) = crate::apps::service_code(&tenant.config, &dialed, &caller_ext) {
            FirstHop::App(app, "voicemail:login")
        } else if let Some((op, queue)) = caller
            .as_ref()
            .and_then(|_| crate::queues::agent_code_of(&tenant.config, &dialed))
        {
            let prompt =
                self.ctx
                    .queues
                    .agent_code(&self.ctx, &tenant, &caller_ext, op, queue.as_ref());
            FirstHop::App(crate::queues::agent_feedback(prompt), "queue:agent")
        } else if let Some(d) = tenant.config.internal_number(&dialed) {
            FirstHop::Dest(d)
        } else if let Some(out) = caller
            .as_ref()
            .and_then(|_| pbx_dialplan::outside_dial(&tenant.config, &dialed))
        {
            match self.outside_call(&tenant, &caller_ext, out.digits) {
                Ok(run) => FirstHop::External(run),
                // Refused: an announcement as early media, then 403; nothing leaves.
                Err(refusal) => FirstHop::Refuse(match refusal {
                    crate::external::Refusal::Denied(_) => "Outbound Call Not Allowed",
                    crate::external::Refusal::Cap(_) => "Outbound Call Limit Reached",
                }),
            }
        } else {
            tracing::info!(tenant = %tenant.domain, from = %caller_ext, to = %dialed, "call to an unknown extension");
            return self.respond(key, &req, StatusCode::NOT_FOUND, &source);
        };
        self.start_call(
            key,
            req,
            source,
            flow,
            tenant,
            (caller_ext, None),
            caller,
            dialed,
            route,
        );
    }

    /// The caller's limits, then the call and its first hop.
    #[allow(clippy::too_many_arguments)]
    fn start_call(
        &mut self,
        key: TxnKey,
        req: Request,
        source: Target,
        flow: Flow,
        tenant: Arc<TenantSnap>,
        (caller_ext, outside_name): (String, Option<String>),
        caller: Option<UserCall>,
        dialed: String,
        route: FirstHop,
    ) {
        let _ = &source;
        let inbound_trunk = self.calls.next_inbound_trunk.take();
        let language = self.calls.next_language.take();
        // The caller's own hard cap.
        if let Some(c) = &caller
            && self.ctx.presence.user_calls(tenant.id, &c.ext) >= c.call_limit
        {
            let mut r = self.response(&req, StatusCode::FORBIDDEN, &flow);
            r.reason = "Call Limit Reached".into();
            let now = self.ctx.now();
            let _ = self.calls.ep.send_response(now, key, r);
            return;
        }
        let emergency = matches!(&route, FirstHop::External(run) if run.is_emergency());
        let max_calls = if emergency { None } else { tenant.max_calls };
        if !self.ctx.presence.tenant_try_add(tenant.id, max_calls) {
            match route {
                // Nothing left: give back its fraud-cap place.
                FirstHop::External(run) => self.ctx.external.forget(*run),
                // No room for the announcement: the refusal itself, at once.
                FirstHop::Refuse(reason) => {
                    let mut r = self.response(&req, StatusCode::FORBIDDEN, &flow);
                    r.reason = reason.into();
                    let now = self.ctx.now();
                    let _ = self.calls.ep.send_response(now, key, r);
                    return;
                }
                _ => {}
            }
            let mut r = self.response(&req, StatusCode::SERVICE_UNAVAILABLE, &flow);
            r.reason = "Tenant Call Limit Reached".into();
            r.headers.push(HeaderName::RetryAfter, "5");
            let now = self.ctx.now();
            let _ = self.calls.ep.send_response(now, key, r);
            return;
        }
        let id = self.calls.new_id();
        let params = CallParams {
            id,
            tenant_id: tenant.id,
            domain: tenant.domain.to_string(),
            caller: caller_ext.clone(),
            caller_name: caller
                .as_ref()
                .map(|c| c.name.to_string())
                .or(outside_name)
                .unwrap_or_default(),
            dialed,
            codecs: self.ctx.call_settings.codecs.clone(),
            telephone_event_pt: self.ctx.call_settings.telephone_event_pt,
            max_hops: self.ctx.call_settings.max_hops,
            user_agent: "vpbx".into(),
            session_expires: self.ctx.call_settings.session_expires,
            min_se: self.ctx.call_settings.min_se,
            blind_transfer_code: self.ctx.call_settings.blind_transfer_code.clone(),
            attended_transfer_code: self.ctx.call_settings.attended_transfer_code.clone(),
            digit_timeout: Duration::from_secs(3),
        };
        let inbound = CallInbound {
            key,
            invite: req,
            source,
            local: self.local_sip(&flow),
        };
        let mut users: Vec<Box<str>> = Vec::new();
        if caller.is_some() {
            self.ctx.presence.user_add(tenant.id, &caller_ext);
            users.push(caller_ext.as_str().into());
        }
        self.ctx.metrics.calls_total.fetch_add(1, Relaxed);
        let mut effects = Vec::new();
        let call = {
            let mut media = RelayMedia {
                relay: self.ctx.relay.as_ref(),
                settings: &self.ctx.call_settings,
                ctx: &self.ctx,
                sip_ip: self.ctx.advertised_ip(flow.local.ip(), flow.remote.ip()),
                tenant: Some(&tenant),
                language: language.as_deref(),
                apps: &mut self.calls.apps,
            };
            let mut env = Env {
                now: self.ctx.now(),
                wall_ms: self.ctx.wall_ms(),
                ep: &mut self.calls.ep,
                media: &mut media,
                effects: &mut effects,
            };
            let mut call = Call::new(params, inbound, &mut env);
            call.set_moh_class(tenant.config.moh.clone());
            call
        };
        self.calls.slots.insert(
            id,
            Slot {
                call,
                tenant: tenant.clone(),
                users,
                rung: None,
                tenant_slot: true,
                tags: Vec::new(),
                txns: Vec::new(),
                forwarded: Vec::new(),
                caller_user: caller.is_some().then(|| caller_ext.as_str().into()),
                recording: None,
                group: None,
                external: None,
                inbound_trunk,
                queue: None,
                pickable: Vec::new(),
                language,
            },
        );
        self.apply_effects(id, effects);
        if self
            .calls
            .slots
            .get(&id)
            .is_some_and(|s| s.call.state() == pbx_call::CallState::Routing)
        {
            match route {
                FirstHop::User(ext) => self.lookup(id, &tenant, &ext, 0),
                FirstHop::Dest(d) => self.goto(id, d, 0),
                FirstHop::App(app, label) => self.with_call(id, |c, env| {
                    c.set_destination(label);
                    c.run_app(app, env);
                }),
                FirstHop::External(run) => {
                    if let Some(s) = self.calls.slots.get_mut(&id) {
                        s.external = Some(run);
                    }
                    self.ring_next_trunk(id);
                }
                FirstHop::Refuse(reason) => self.refuse_call(id, reason),
            }
        }
    }

    /// An outside call that may not go out: 183 with an announcement that the call cannot
    /// be completed (early media, the caller's leg is never answered), then 403 with
    /// `reason`. Without a media engine or the prompt, the 403 comes at once.
    fn refuse_call(&mut self, id: u64, reason: &'static str) {
        let prompt = pbx_app::prompts::CANNOT_COMPLETE;
        let playable = self.ctx.relay.is_some()
            && self.calls.slots.get(&id).is_some_and(|s| {
                let cfg = &s.tenant.config;
                self.ctx
                    .prompts
                    .get(&cfg.domain, self.call_language(s), prompt)
                    .is_ok()
            });
        self.with_call(id, |c, env| {
            c.set_destination("refused");
            if playable {
                let app = pbx_app::announce::Announce::new(
                    vec![pbx_app::PromptRef::System(prompt)],
                    None,
                );
                c.run_early_app(Box::new(app), StatusCode::FORBIDDEN, reason, env);
            } else {
                c.refuse(StatusCode::FORBIDDEN, reason, env);
            }
        });
    }

    /// The language of the prompts call `slot` hears: its number's, else the tenant's.
    fn call_language<'s>(&self, slot: &'s Slot) -> &'s str {
        slot.language
            .as_deref()
            .unwrap_or(&slot.tenant.config.language)
    }

    /// The tenant's configuration as call `id` sees it: `language` is the call's (an
    /// inbound call's number may set it), so its applications speak that language.
    pub(crate) fn calls_config(&self, id: u64) -> Option<Arc<TenantConfig>> {
        let slot = self.calls.slots.get(&id)?;
        let cfg = &slot.tenant.config;
        Some(match &slot.language {
            Some(l) if **l != *cfg.language => {
                let mut c = TenantConfig::clone(cfg);
                c.language = l.to_string();
                Arc::new(c)
            }
            _ => cfg.clone(),
        })
    }

    /// The tenant of call `id`.
    pub(crate) fn calls_tenant(&self, id: u64) -> Option<Arc<TenantSnap>> {
        self.calls.slots.get(&id).map(|s| s.tenant.clone())
    }

    /// Who is calling in call `id`, for voicemail.
    /// The call walks on because the user it rang was busy (see
    /// [`Call::failover_was_busy`]).
    pub(crate) fn calls_failover_busy(&self, id: u64) -> bool {
        self.calls
            .slots
            .get(&id)
            .is_some_and(|s| s.call.failover_was_busy())
    }

    pub(crate) fn calls_caller(&self, id: u64) -> pbx_app::CallerId {
        self.calls
            .slots
            .get(&id)
            .map(|s| pbx_app::CallerId {
                number: Some(s.call.caller().to_owned()).filter(|c| !c.is_empty()),
                name: s
                    .tenant
                    .calls
                    .get(s.call.caller())
                    .map(|u| u.name.to_string())
                    .filter(|n| !n.is_empty()),
            })
            .unwrap_or_default()
    }

    /// The caller's relay leg in call `id`.
    pub(crate) fn calls_caller_leg(&self, id: u64) -> Option<u64> {
        self.calls
            .slots
            .get(&id)
            .and_then(|s| s.call.caller_media())
            .map(|m| m.0)
    }

    /// The user the walk rang last is no longer in the call (it walks on to another
    /// destination): their presence goes, so a group or a transfer may ring them again.
    pub(crate) fn release_rung(&mut self, id: u64) {
        let Some(s) = self.calls.slots.get_mut(&id) else {
            return;
        };
        let Some(prev) = s.rung.take() else {
            return;
        };
        if let Some(pos) = s.users.iter().rposition(|u| *u == prev) {
            s.users.remove(pos);
            self.ctx.presence.user_remove(s.tenant.id, &prev);
        }
    }

    /// `ext` is no longer in call `id` (a colleague picked up the call ringing them).
    pub(crate) fn release_user(&mut self, id: u64, ext: &str) {
        let Some(s) = self.calls.slots.get_mut(&id) else {
            return;
        };
        if let Some(pos) = s.users.iter().rposition(|u| **u == *ext) {
            s.users.remove(pos);
            self.ctx.presence.user_remove(s.tenant.id, ext);
        }
    }

    /// The user call `id` rang last, while it is not answered.
    pub(crate) fn calls_rung(&self, id: u64) -> Option<Box<str>> {
        self.calls.slots.get(&id)?.rung.clone()
    }

    /// [`Call::pickup`] on call `id` (`None`: no such call).
    pub(crate) fn call_pickup(
        &mut self,
        id: u64,
        picker: CallInbound,
        ext: &str,
    ) -> Option<Result<(), StatusCode>> {
        self.with_call_ret(id, |c, env| c.pickup(picker, ext, env))
    }

    /// Tells [`crate::pickup::Pickups`] whose phones call `id` rings now, when that
    /// changed.
    fn sync_pickup(&mut self, id: u64) {
        let Some(s) = self.calls.slots.get_mut(&id) else {
            return;
        };
        let now = s.call.ringing_users();
        if now.len() == s.pickable.len() && now.iter().zip(&s.pickable).all(|(a, b)| *a == &**b) {
            return;
        }
        s.pickable = now.into_iter().map(Box::from).collect();
        self.ctx.pickups.update(
            s.tenant.id,
            (self.id, id),
            s.caller_user.as_deref(),
            &s.pickable,
            self.ctx.wall_ms(),
        );
    }

    /// The call's slot.
    pub(crate) fn call_slot_mut(&mut self, id: u64) -> Option<&mut Slot> {
        self.calls.slots.get_mut(&id)
    }

    /// The calling user's extension (None for an outside caller).
    pub(crate) fn calls_caller_user(&self, id: u64) -> Option<Box<str>> {
        self.calls.slots.get(&id)?.caller_user.clone()
    }

    pub(crate) fn apps_state(&mut self) -> &mut crate::apps::AppState {
        &mut self.calls.apps
    }

    /// `user:EXT` reached through the destination graph: ring them (the
    /// user rung before is no longer in the call).
    pub(crate) fn lookup_user(&mut self, id: u64, tenant: &TenantSnap, ext: &str, hop: u32) {
        self.release_rung(id);
        if tenant.calls.contains_key(ext) {
            self.lookup(id, tenant, ext, hop);
        } else {
            self.with_call(id, |c, env| c.goto_failed(env));
        }
    }

    /// Asks the shard that owns `ext`'s registrations for its contacts.
    fn lookup(&mut self, call: u64, tenant: &TenantSnap, ext: &str, hop: u32) {
        let aor = AorKey::new(tenant.id, ext);
        let owner = self.ctx.shard_for(&(tenant.id, ext));
        if owner == self.id {
            let bindings = self.registrar.bindings(&aor).to_vec();
            self.on_contacts(call, ext.into(), hop, bindings);
        } else {
            let msg = ShardMsg::Lookup {
                aor,
                reply_shard: self.id,
                call,
                hop,
                member: false,
            };
            if self.ctx.shards[owner].try_send(msg).is_err() {
                // The other shard is overloaded: the callee is out of reach.
                self.with_call(call, |c, env| {
                    c.unreachable(ext, None, Outcome::Congestion, env)
                });
            }
        }
    }

    /// (In the AOR's shard.) Answers a lookup with the AOR's bindings.
    pub(crate) fn on_lookup(
        &mut self,
        aor: AorKey,
        reply_shard: usize,
        call: u64,
        hop: u32,
        member: bool,
    ) {
        let now_ms = self.ctx.wall_ms();
        let bindings: Vec<Binding> = self
            .registrar
            .bindings(&aor)
            .iter()
            .filter(|b| b.expires_at_ms > now_ms)
            .cloned()
            .collect();
        let msg = ShardMsg::Contacts {
            call,
            ext: aor.user.to_string(),
            hop,
            bindings,
            member,
        };
        if let Some(tx) = self.ctx.shards.get(reply_shard) {
            // A full inbox: the call's ring then fails as unreachable on its timer.
            let _ = tx.try_send(msg);
        }
    }

    /// The callee's contacts arrived: busy check, then ring.
    pub(crate) fn on_contacts(&mut self, call: u64, ext: String, hop: u32, bindings: Vec<Binding>) {
        let Some(slot) = self.calls.slots.get(&call) else {
            return;
        };
        let _ = hop;
        let tenant = slot.tenant.clone();
        let Some(user) = tenant.calls.get(ext.as_str()).cloned() else {
            return self.with_call(call, |c, env| {
                c.unreachable(&ext, None, Outcome::Failed(StatusCode::NOT_FOUND), env)
            });
        };
        let now_ms = self.ctx.wall_ms();
        let contacts: Vec<ForkTarget> = bindings
            .iter()
            .filter(|b| b.expires_at_ms > now_ms)
            .filter_map(|b| self.fork_target(b, &user))
            .collect();
        let in_use = self.ctx.presence.user_calls(tenant.id, &user.ext);
        let target = ring_target(&user, contacts);
        // `busy_level` 0 means only the hard `call_limit` counts.
        let busy = (user.busy_level > 0 && in_use >= user.busy_level) || in_use >= user.call_limit;
        if busy {
            return self.with_call(call, |c, env| {
                c.unreachable(&ext, Some(target), Outcome::Busy, env)
            });
        }
        if target.contacts.is_empty() {
            return self.with_call(call, |c, env| {
                c.unreachable(&ext, Some(target), Outcome::Unavailable, env)
            });
        }
        self.release_rung(call);
        self.ctx.presence.user_add(tenant.id, &user.ext);
        if let Some(s) = self.calls.slots.get_mut(&call) {
            s.users.push(user.ext.clone());
            s.rung = Some(user.ext.clone());
        }
        self.with_call(call, |c, env| c.ring(target, env));
    }

    /// Where to send requests for a binding: its Contact, or behind NAT the
    /// address (or TCP connection) the REGISTER came from
    /// ([`pbx_registrar::nat::reach`]). vpbx opens no TCP connections to
    /// phones yet: a TCP phone is reached over its own connection.
    pub(crate) fn fork_target(&self, b: &Binding, user: &UserCall) -> Option<ForkTarget> {
        use pbx_registrar::nat::Reach;
        let uri = sip_msg::Uri::parse(&b.contact).ok()?;
        let tcp_flow = match (b.source.transport, b.source.flow) {
            (SourceTransport::Tcp, Some(id)) if self.ctx.transports.tcp_alive(id) => Some(id),
            _ => None,
        };
        let (flow, addr) = match (pbx_registrar::nat::reach(b, user.nat), tcp_flow) {
            (_, Some(id)) => (sip_txn::Flow(id | TCP_BIT), b.source.addr),
            (_, None) if b.source.transport == SourceTransport::Tcp => return None,
            (Reach::Flow { .. }, None) => return None,
            (Reach::Received { addr, .. }, None) => (
                sip_txn::Flow(self.ctx.transports.udp_for(addr)? as u64),
                addr,
            ),
            (Reach::Contact, None) => {
                let addr = contact_addr(&uri)?;
                (
                    sip_txn::Flow(self.ctx.transports.udp_for(addr)? as u64),
                    addr,
                )
            }
        };
        if self.ctx.transports.is_own_listen_addr(addr) {
            // A contact pointing at vpbx itself would loop every INVITE back
            // to us (a misconfigured phone, or an attempt to make vpbx call
            // itself): such a contact cannot be rung.
            tracing::warn!(aor = %b.contact, "registered contact is vpbx's own address; not ringing it");
            return None;
        }
        let target = Target {
            flow,
            addr,
            reliable: flow.0 & TCP_BIT != 0,
        };
        let local = self.local_sip(&self.flow_of(&target)?);
        Some(ForkTarget {
            uri,
            target,
            local,
            member: None,
            trunk: None,
        })
    }

    /// Our Via/Contact address on `flow`: the external IP for peers
    /// outside our networks when one is configured.
    /// Where requests to a trunk at `addr` go: a UDP socket that reaches it, or (TCP) the
    /// connection vpbx keeps to it, opened now if needed. With our address as the trunk
    /// should see it in Via and Contact (on TCP: our TCP listen port when we have one, else
    /// the UDP one; the provider answers on the connection anyway).
    pub(crate) fn trunk_target(
        &self,
        addr: SocketAddr,
        transport: pbx_dialplan::TrunkTransport,
    ) -> Option<(Target, LocalSip)> {
        match transport {
            pbx_dialplan::TrunkTransport::Udp => {
                let flow = sip_txn::Flow(self.ctx.transports.udp_for(addr)? as u64);
                let target = Target {
                    flow,
                    addr,
                    reliable: false,
                };
                let local = self.local_sip(&self.flow_of(&target)?);
                Some((target, local))
            }
            pbx_dialplan::TrunkTransport::Tcp => {
                let local = self.tcp_local_sip(addr)?;
                let id = self.ctx.transports.tcp_client(&self.ctx, addr);
                let target = Target {
                    flow: sip_txn::Flow(id | TCP_BIT),
                    addr,
                    reliable: true,
                };
                Some((target, local))
            }
        }
    }

    /// Our TCP address as a trunk at `addr` should see it in Via and Contact: our TCP
    /// listen port when we have one, else the UDP one (the trunk answers on the
    /// connection anyway).
    pub(crate) fn tcp_local_sip(&self, addr: SocketAddr) -> Option<LocalSip> {
        let own = self.ctx.transports.tcp_local().or_else(|| {
            let udp = self.ctx.transports.udp_for(addr)?;
            self.ctx.transports.udp_local(udp)
        })?;
        let ip = self.ctx.advertised_ip(own.ip(), addr.ip());
        Some(LocalSip {
            transport: sip_msg::Transport::Tcp,
            host_port: SocketAddr::new(ip, own.port()).to_string(),
        })
    }

    pub(crate) fn local_sip(&self, flow: &Flow) -> LocalSip {
        let ip = self.ctx.advertised_ip(flow.local.ip(), flow.remote.ip());
        LocalSip {
            transport: match flow.tp {
                Tp::Udp => sip_msg::Transport::Udp,
                Tp::Tcp => sip_msg::Transport::Tcp,
            },
            host_port: SocketAddr::new(ip, flow.local.port()).to_string(),
        }
    }

    /// A relay event for one of our calls.
    pub(crate) fn on_media_event(&mut self, ev: pbx_relay::RelayEvent) {
        match ev {
            pbx_relay::RelayEvent::Timeout { leg, owner } => {
                if !self.calls.slots.contains_key(&owner)
                    && let Some(&(shard, call)) = self.calls.forward_media.get(&leg.0)
                {
                    let ev = pbx_relay::RelayEvent::Timeout { leg, owner: call };
                    if let Some(tx) = self.ctx.shards.get(shard) {
                        let _ = tx.try_send(ShardMsg::Media(ev));
                    }
                    return;
                }
                self.with_call(owner, |c, env| c.on_media_timeout(MediaLeg(leg.0), env));
            }
            pbx_relay::RelayEvent::Digit { leg, owner, digit } => {
                self.with_call(owner, |c, env| c.on_digit(MediaLeg(leg.0), digit, env));
            }
            pbx_relay::RelayEvent::App { leg, owner, event } => {
                self.on_app_event(owner, leg.0, event);
            }
        }
    }

    /// Attended transfer, in the shard of the call that holds the
    /// replaced dialog: hand its other leg to `call` in `reply_shard`.
    pub(crate) fn on_take_leg(
        &mut self,
        to_tag: String,
        from_tag: String,
        reply_shard: usize,
        call: u64,
    ) {
        let handover = self
            .calls
            .tag_owner
            .get(&to_tag)
            .copied()
            .and_then(|owner| {
                self.with_call_ret(owner, |c, env| c.hand_over(&to_tag, &from_tag, env))
            })
            .flatten();
        tracing::info!(
            from_shard = self.id,
            to_shard = reply_shard,
            found = handover.is_some(),
            "attended transfer: handing over the replaced dialog's other leg"
        );
        match handover {
            Some(h) if reply_shard == self.id => {
                self.with_call(call, |c, env| c.adopt(h, env));
            }
            Some(h) => {
                self.calls
                    .forward_tags
                    .insert(h.tag().to_owned(), reply_shard);
                if let Some(m) = h.media() {
                    self.calls.forward_media.insert(m.0, (reply_shard, call));
                }
                let msg = ShardMsg::Adopt {
                    call,
                    handover: Box::new(h),
                    from_shard: self.id,
                };
                if let Some(tx) = self.ctx.shards.get(reply_shard) {
                    let _ = tx.try_send(msg);
                }
            }
            None if reply_shard == self.id => {
                self.with_call(call, |c, env| c.replace_failed(env));
            }
            None => {
                if let Some(tx) = self.ctx.shards.get(reply_shard) {
                    let _ = tx.try_send(ShardMsg::AdoptFailed { call });
                }
            }
        }
    }

    pub(crate) fn replace_failed(&mut self, call: u64) {
        self.with_call(call, |c, env| c.replace_failed(env));
    }

    /// A leg handed over from a call in `from_shard`.
    pub(crate) fn on_adopt(&mut self, call: u64, h: pbx_call::Handover, from_shard: usize) {
        let entry = (from_shard, h.tag().to_owned(), h.media().map(|m| m.0));
        if let Some(s) = self.calls.slots.get_mut(&call) {
            s.forwarded.push(entry);
        } else {
            self.unforward(entry);
        }
        self.with_call(call, |c, env| c.adopt(h, env));
    }

    fn unforward(&self, (shard, tag, media): (usize, String, Option<u64>)) {
        if let Some(tx) = self.ctx.shards.get(shard) {
            let _ = tx.try_send(ShardMsg::Unforward { tag, media });
        }
    }

    /// The call that adopted a leg of ours is gone.
    pub(crate) fn on_unforward(&mut self, tag: &str, media: Option<u64>) {
        self.calls.forward_tags.remove(tag);
        if let Some(m) = media {
            self.calls.forward_media.remove(&m);
        }
    }

    /// Calls in progress in `tenant`, for `vpbx calls`.
    pub(crate) fn list_calls(&self, tenant: i64) -> Vec<CallInfo> {
        self.calls
            .slots
            .values()
            .filter(|s| s.tenant.id == tenant && s.call.state() != pbx_call::CallState::Ended)
            .map(|s| {
                let c = &s.call;
                let state = if c.state() == pbx_call::CallState::Answered && c.on_hold() {
                    "held"
                } else {
                    c.state().as_str()
                };
                CallInfo {
                    call_id: c.call_id().to_owned(),
                    caller: c.caller().to_owned(),
                    dialed: c.dialed().to_owned(),
                    destination: c.destination().to_owned(),
                    state: state.to_owned(),
                    start_ms: c.start_ms(),
                    answer_ms: c.answer_ms(),
                    legs: c
                        .legs()
                        .into_iter()
                        .map(|l| LegInfo {
                            call_id: l.call_id,
                            contact: l.contact,
                            state: l.state,
                        })
                        .collect(),
                    trunk: s
                        .external
                        .as_deref()
                        .and_then(crate::external::ExternalRun::trunk)
                        .map(str::to_owned)
                        .or_else(|| s.inbound_trunk.clone()),
                }
            })
            .collect()
    }

    /// Runs `f` on call `id` with an environment, then carries out its effects.
    pub(crate) fn with_call(&mut self, id: u64, f: impl FnOnce(&mut Call, &mut Env<'_>)) {
        let _ = self.with_call_ret(id, f);
    }

    /// [`Shard::with_call`] returning what `f` returns (`None`: no such call).
    pub(crate) fn with_call_ret<R>(
        &mut self,
        id: u64,
        f: impl FnOnce(&mut Call, &mut Env<'_>) -> R,
    ) -> Option<R> {
        let slot = self.calls.slots.get_mut(&id)?;
        let mut effects = Vec::new();
        let ret = {
            let sip_ip = self
                .ctx
                .transports
                .udp_local(0)
                .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
            let sip_ip = self.ctx.advertised_ip(sip_ip, IpAddr::from([127, 0, 0, 1]));
            let mut media = RelayMedia {
                relay: self.ctx.relay.as_ref(),
                settings: &self.ctx.call_settings,
                ctx: &self.ctx,
                sip_ip,
                tenant: Some(&slot.tenant),
                language: slot.language.as_deref(),
                apps: &mut self.calls.apps,
            };
            let mut env = Env {
                now: self.ctx.now(),
                wall_ms: self.ctx.wall_ms(),
                ep: &mut self.calls.ep,
                media: &mut media,
                effects: &mut effects,
            };
            f(&mut slot.call, &mut env)
        };
        self.apply_effects(id, effects);
        self.drain();
        self.sync_pickup(id);
        Some(ret)
    }

    fn apply_effects(&mut self, id: u64, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::OwnTxn(k) => {
                    self.calls.txn_owner.insert(k, id);
                    if let Some(s) = self.calls.slots.get_mut(&id) {
                        s.txns.push(k);
                    }
                }
                Effect::OwnTag(t) => {
                    self.calls.tag_owner.insert(t.clone(), id);
                    if let Some(s) = self.calls.slots.get_mut(&id) {
                        s.tags.push(t);
                    }
                }
                Effect::Timer(at, t) => self.calls.timers.push(Reverse((at, id, t))),
                Effect::Route { ext, hop } => {
                    let Some(s) = self.calls.slots.get_mut(&id) else {
                        continue;
                    };
                    let tenant = s.tenant.clone();
                    self.release_rung(id);
                    self.lookup(id, &tenant, &ext, hop);
                }
                Effect::Transfer { ext } => {
                    let Some(s) = self.calls.slots.get(&id) else {
                        continue;
                    };
                    let tenant = s.tenant.clone();
                    self.lookup(id, &tenant, &ext, 0);
                }
                Effect::Left { ext } => {
                    let mut queued = false;
                    if let Some(s) = self.calls.slots.get_mut(&id)
                        && let Some(pos) = s.users.iter().position(|u| **u == *ext)
                    {
                        s.users.remove(pos);
                        self.ctx.presence.user_remove(s.tenant.id, &ext);
                        queued = s.queue.is_some();
                    }
                    if queued {
                        // An agent transferred the queue call away: their part ends here.
                        self.ctx.queues.agent_left(&self.ctx, (self.id, id), &ext);
                    }
                }
                Effect::Joined { ext } => {
                    let mut queued = false;
                    // (An outside group member is nobody's presence.)
                    if pbx_core::Ext::parse(&ext).is_some()
                        && let Some(s) = self.calls.slots.get_mut(&id)
                    {
                        self.ctx.presence.user_add(s.tenant.id, &ext);
                        s.users.push(ext.as_str().into());
                        queued = s.queue.is_some();
                    }
                    self.group_answered(id, &ext);
                    if queued {
                        self.ctx.queues.connected(&self.ctx, (self.id, id), &ext);
                    }
                }
                Effect::QueueMissed { busy: _ } => {
                    let agents = self
                        .call_slot_mut(id)
                        .and_then(|s| s.group.take())
                        .map(|g| g.queue_agents())
                        .unwrap_or_default();
                    self.ctx.queues.missed(&self.ctx, (self.id, id), &agents);
                }
                Effect::Hunt { hop: _, busy } => {
                    if self
                        .calls
                        .slots
                        .get(&id)
                        .is_some_and(|s| s.external.is_some())
                    {
                        self.ring_next_trunk(id);
                    } else {
                        self.on_hunt(id, busy);
                    }
                }
                Effect::Replace {
                    call_id: _,
                    to_tag,
                    from_tag,
                } => {
                    let owner =
                        crate::ids::shard_of_tag(&to_tag).filter(|s| *s < self.ctx.shards.len());
                    match owner {
                        Some(s) if s != self.id => {
                            let msg = ShardMsg::TakeLeg {
                                to_tag,
                                from_tag,
                                reply_shard: self.id,
                                call: id,
                            };
                            if self.ctx.shards[s].try_send(msg).is_err() {
                                self.with_call(id, |c, env| c.replace_failed(env));
                            }
                        }
                        _ => self.on_take_leg(to_tag, from_tag, self.id, id),
                    }
                }
                Effect::Answered {
                    caller,
                    callee: _,
                    destination,
                } => {
                    // The answering user stays in the call until it ends (or leaves it).
                    if let Some(s) = self.calls.slots.get_mut(&id) {
                        s.rung = None;
                    }
                    self.maybe_record(id, caller, &destination);
                }
                Effect::Record(mut rec) => {
                    self.release_presence(id);
                    self.release_group_holds(id, None);
                    self.release_external(id);
                    if self.calls.slots.get(&id).is_some_and(|s| s.queue.is_some()) {
                        let transferred = !rec.transfers.is_empty();
                        self.ctx
                            .queues
                            .call_ended(&self.ctx, (self.id, id), transferred);
                    }
                    if let Some(s) = self.calls.slots.get(&id) {
                        rec.recording = s.recording.as_ref().and_then(|p| p.get().cloned());
                        if rec.trunk.is_none() {
                            rec.trunk.clone_from(&s.inbound_trunk);
                        }
                    }
                    self.write_record(*rec);
                }
                Effect::Goto { dest, hop } => self.goto(id, dest, hop),
                Effect::App(action) => self.on_app_action(id, action),
                Effect::Finished => self.finish(id),
            }
        }
    }

    fn release_presence(&mut self, id: u64) {
        if let Some(s) = self.calls.slots.get_mut(&id) {
            for u in s.users.drain(..) {
                self.ctx.presence.user_remove(s.tenant.id, &u);
            }
            if std::mem::take(&mut s.tenant_slot) {
                self.ctx.presence.tenant_remove(s.tenant.id);
            }
        }
    }

    /// Starts recording an answered call when the tenant or one of its users asks for it
    /// (once per call: the recording follows the caller's leg through transfers).
    fn maybe_record(&mut self, id: u64, caller: pbx_call::MediaLeg, destination: &str) {
        let (Some(relay), Some(writer)) = (self.ctx.relay.as_ref(), self.ctx.recordings.as_ref())
        else {
            return;
        };
        let Some(s) = self.calls.slots.get_mut(&id) else {
            return;
        };
        let cfg = &s.tenant.config;
        if s.recording.is_some() || !cfg.records_call(s.caller_user.as_deref(), destination) {
            return;
        }
        let req = crate::recordings::RecordingRequest {
            domain: cfg.domain.clone(),
            call_id: s.call.call_id().to_owned(),
            started: std::time::SystemTime::now(),
            quota_mb: cfg.limits.storage_mb,
        };
        if let Some(started) = writer.open(req) {
            relay.start_call_recording(pbx_relay::LegId(caller.0), started.sink);
            s.recording = Some(started.path);
        }
    }

    fn write_record(&mut self, rec: CallRecord) {
        self.ctx.metrics.calls_ended_total.fetch_add(1, Relaxed);
        if self.ctx.cdr.try_send(rec).is_err() {
            self.ctx.metrics.cdr_drops_total.fetch_add(1, Relaxed);
            tracing::error!("call record writer is behind; a record was dropped");
        }
    }

    fn finish(&mut self, id: u64) {
        self.release_presence(id);
        if let Some(s) = self.calls.slots.remove(&id) {
            if !s.pickable.is_empty() {
                let now = self.ctx.wall_ms();
                self.ctx
                    .pickups
                    .update(s.tenant.id, (self.id, id), None, &[], now);
            }
            let leg = s.call.caller_media().map(|m| m.0);
            self.calls.apps.forget_call(id, leg);
            for f in s.forwarded {
                self.unforward(f);
            }
            for t in s.tags {
                self.calls.tag_owner.remove(&t);
            }
            for k in s.txns {
                self.calls.txn_owner.remove(&k);
            }
        }
    }

    /// Ends every call (shutdown): BYE on answered legs, records written.
    pub(crate) fn hang_up_all(&mut self) {
        let ids: Vec<u64> = self.calls.slots.keys().copied().collect();
        for id in ids {
            self.with_call(id, |c, env| {
                c.hang_up(pbx_call::HangupBy::System, "shutdown", env)
            });
        }
    }
}

fn ring_target(user: &UserCall, contacts: Vec<ForkTarget>) -> RingTarget {
    RingTarget {
        ext: user.ext.to_string(),
        name: user.name.to_string(),
        ring_timeout: Duration::from_secs(u64::from(user.ring_timeout_s.max(1))),
        contacts,
        on_busy: user.on_busy.clone(),
        on_no_answer: user.on_no_answer.clone(),
        on_unavailable: user.on_unavailable.clone(),
        group: false,
        hunt: false,
        external: false,
        first_response: None,
    }
}

/// The status code of a serialized response (for metrics), `None` for a request.
fn status_of(data: &[u8]) -> Option<u16> {
    let rest = data.strip_prefix(b"SIP/2.0 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

/// The Contact's own IP address and port (a host name would need RFC 3263
/// resolution, which arrives with trunks).
fn contact_addr(uri: &sip_msg::Uri) -> Option<SocketAddr> {
    let ip = match uri.host.as_ref()? {
        sip_msg::Host::Ip(a) => *a,
        sip_msg::Host::Domain(_) => return None,
    };
    let default = if uri.scheme == sip_msg::Scheme::Sips {
        5061
    } else {
        5060
    };
    Some(SocketAddr::new(ip, uri.port.unwrap_or(default)))
}
