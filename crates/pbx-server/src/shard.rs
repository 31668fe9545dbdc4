//! A shard owns a slice of the registrations (by AOR) and of the
//! transactions and calls (by Call-ID). It lives in a [`ShardSlot`]: the
//! thread that received a SIP message handles it at once under the slot's
//! lock (no hand-over to another thread, no wake-up), while the shard's own
//! task runs its timers and takes the messages other shards and the relay
//! send through its bounded inbox. A full inbox answers 503 with Retry-After
//! instead of queueing without bound.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pbx_registrar::{AorKey, BindingChange, RegisterInput, Registrar, Source, SourceTransport};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sip_msg::{HeaderName, Method, Request, Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use crate::Ctx;
use crate::auth::{AuthOutcome, Authenticator};
use crate::metrics::TenantStats;
use crate::tenants::{Directory, TenantSnap};
use crate::transport::{Flow, Tp};
use crate::txn::{ServerTxns, TxnMatch};

/// A failed authentication's answer: 401 or 407 with these challenge values.
#[derive(Debug)]
pub(crate) struct Challenge {
    status: StatusCode,
    name: HeaderName,
    values: Vec<String>,
}

/// What a shard is asked to do.
#[derive(Debug)]
pub enum ShardMsg {
    Sip(Box<Inbound>),
    Response(Box<(Response, Flow)>),
    /// A new tenant directory (config changed).
    Tenants(Arc<Directory>),
    Stats(oneshot::Sender<ShardReport>),
    Shutdown(oneshot::Sender<()>),
    /// (To the AOR's shard.) A call in `reply_shard` wants the AOR's contacts.
    Lookup {
        aor: AorKey,
        reply_shard: usize,
        call: u64,
        hop: u32,
        /// For a ring group's stage ([`crate::groups`]), not a user.
        member: bool,
    },
    /// (Back to the call's shard.) The contacts asked for.
    Contacts {
        call: u64,
        ext: String,
        hop: u32,
        bindings: Vec<pbx_registrar::Binding>,
        member: bool,
    },
    /// The relay reports on a leg of one of this shard's calls.
    Media(pbx_relay::RelayEvent),
    /// (From the queues.) Ring these agents for the call waiting in `queue`.
    QueueRing {
        call: u64,
        queue: pbx_core::Ext,
        agents: Vec<pbx_core::Ext>,
        timeout_ms: u64,
    },
    /// (From the queues.) Take the call out of its queue: to `dest`, or hang up.
    QueueLeave {
        call: u64,
        dest: Option<pbx_core::Destination>,
        reason: &'static str,
    },
    /// Calls in progress of one tenant (`vpbx calls`).
    ListCalls(i64, oneshot::Sender<Vec<crate::calls::CallInfo>>),
    /// Attended transfer: give up the leg bridged with the dialog whose
    /// our-tag is `to_tag` to `call` in `reply_shard`.
    TakeLeg {
        to_tag: String,
        from_tag: String,
        reply_shard: usize,
        call: u64,
    },
    /// The leg asked for with `TakeLeg`.
    Adopt {
        call: u64,
        handover: Box<pbx_call::Handover>,
        from_shard: usize,
    },
    /// `TakeLeg` found no such dialog.
    AdoptFailed {
        call: u64,
    },
    /// Stop forwarding a handed-over leg (its new call ended).
    Unforward {
        tag: String,
        media: Option<u64>,
    },
    /// (To the user's shard.) The user's mailbox holds `counts` (new, old);
    /// `changed`: they changed (else read for a new subscription).
    Mwi {
        tenant: i64,
        ext: Box<str>,
        counts: (u32, u32),
        changed: bool,
    },
    /// The counts for a fetch (SUBSCRIBE with `Expires: 0`): one NOTIFY.
    MwiFetch {
        dialog: Box<crate::mwi::Dialog>,
        counts: (u32, u32),
    },
}

/// A request routed to this shard.
#[derive(Debug)]
pub struct Inbound {
    pub req: Request,
    pub flow: Flow,
    pub tenant: Option<Arc<TenantSnap>>,
    /// A request from a provider trunk, and the number it is for.
    pub trunk: Option<Box<crate::external::TrunkInbound>>,
}

/// What a shard reports to `/metrics`.
#[derive(Debug, Default)]
pub struct ShardReport {
    pub tenants: HashMap<i64, TenantStats>,
    pub transactions: usize,
    pub calls: usize,
}

/// The methods we answer; `Allow` lists them.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, SUBSCRIBE";

/// Option tags (RFC 3261 §19.2) we support; a Require naming another gets 420.
pub const SUPPORTED: &[&str] = &["100rel", "timer"];

pub struct Shard {
    pub(crate) id: usize,
    pub(crate) ctx: Arc<Ctx>,
    dir: Arc<Directory>,
    pub(crate) registrar: Registrar,
    pub(crate) txns: ServerTxns,
    auth: Authenticator,
    pub(crate) stats: HashMap<i64, TenantStats>,
    pub(crate) calls: crate::calls::Calls,
    pub(crate) rng: StdRng,
    /// Message-waiting subscriptions and NOTIFYs in flight.
    pub(crate) mwi: crate::mwi::MwiState,
    /// Bindings changed since the last hand-over to the write-behind writer, by id:
    /// the AOR of one to write, `None` for one to delete. Rows are built from the
    /// registrar's copy at hand-over, in one go off the receive path.
    dirty: HashMap<u64, Option<AorKey>>,
    /// The call deadline the shard's task is sleeping toward (see [`ShardSlot::deliver`]).
    armed: Option<Instant>,
    /// The trunks this shard registers and qualifies ([`crate::trunks`]).
    pub(crate) trunks: crate::trunks::ShardTrunks,
    /// The `Date` of the last 200 OK to a REGISTER and its second: formatted
    /// once a second, not for every answer.
    date: (u64, String),
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A shard and the means to reach it: any thread may handle a message for
/// it under the lock ([`ShardSlot::deliver`]); its task sleeps until the
/// next timer, the next inbox message or a [`ShardSlot::deliver`] that made
/// a timer due earlier.
#[derive(Debug)]
pub struct ShardSlot {
    state: Mutex<Shard>,
    wake: tokio::sync::Notify,
}

impl ShardSlot {
    pub fn new(shard: Shard) -> ShardSlot {
        ShardSlot {
            state: Mutex::new(shard),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// The shard, locked. A panic while it was held (a bug) does not stop
    /// the shard: its state is taken as it was left.
    pub fn lock(&self) -> MutexGuard<'_, Shard> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Handles `m` on the calling thread, and wakes the shard's task when
    /// `m` armed a call timer earlier than the one it sleeps toward.
    pub fn deliver(&self, m: ShardMsg) {
        let mut shard = self.lock();
        shard.handle(m);
        let armed = shard.armed;
        let next = shard.next_call_deadline();
        drop(shard);
        if next.is_some_and(|n| armed.is_none_or(|a| n < a)) {
            self.wake.notify_one();
        }
    }
}

impl Shard {
    pub fn new(id: usize, ctx: Arc<Ctx>, seed: u64) -> Shard {
        let dir = ctx.directory();
        let mut registrar = Registrar::new(ctx.registrar_cfg);
        let qualify_ms = ctx.call_settings.qualify_interval.as_millis() as u64;
        registrar.set_qualify_interval(ctx.wall_ms(), qualify_ms);
        let auth = Authenticator::new(ctx.nonce_key, ctx.nonce_ttl, ctx.replay_guard.clone());
        let t1 = ctx.t1;
        let ctx_limits = ctx.mwi_limits;
        Shard {
            id,
            ctx,
            dir,
            registrar,
            txns: ServerTxns::new(t1),
            calls: crate::calls::Calls::new(id, t1, seed ^ 0xca11),
            auth,
            stats: HashMap::new(),
            rng: StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            dirty: HashMap::new(),
            armed: None,
            mwi: crate::mwi::MwiState::new(ctx_limits),
            trunks: Default::default(),
            date: (u64::MAX, String::new()),
        }
    }

    /// Puts back a binding read from the store (at start); a duplicate row it
    /// replaces is deleted with the next write-behind batch.
    pub(crate) fn restore(&mut self, now_ms: u64, key: AorKey, binding: pbx_registrar::Binding) {
        if let Some(duplicate) = self.registrar.restore(now_ms, key, binding) {
            self.mark_dirty(vec![duplicate]);
        }
    }

    /// Gives the registrar the ids of block `block` (see `Store::take_binding_id_block`).
    pub(crate) fn set_binding_id_block(&mut self, block: u64) {
        let bits = pbx_store::BINDING_ID_BLOCK_BITS;
        self.registrar
            .set_id_range(block << bits..(block + 1) << bits);
    }

    /// [`httpdate`] of `now_ms`, formatted at most once a second.
    fn http_date(&mut self, now_ms: u64) -> String {
        let secs = now_ms / 1000;
        if self.date.0 != secs {
            self.date = (secs, httpdate(now_ms));
        }
        self.date.1.clone()
    }

    /// The shard's task: its inbox, a housekeeping tick every
    /// `[store] flush_interval_ms` (expiry sweep, binding hand-over) and the
    /// calls' timers. Each step takes the slot's lock for that step only.
    pub async fn run(slot: Arc<ShardSlot>, mut inbox: mpsc::Receiver<ShardMsg>) {
        let interval = slot.lock().ctx.flush_interval;
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = {
                let mut shard = slot.lock();
                let d = shard.next_call_deadline();
                shard.armed = d;
                d
            };
            let wake = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                m = inbox.recv() => match m {
                    Some(ShardMsg::Shutdown(done)) => {
                        // Hand the last changes to the writer before saying done.
                        let (batch, ctx) = {
                            let mut shard = slot.lock();
                            shard.hang_up_all();
                            (shard.dirty_batch(), shard.ctx.clone())
                        };
                        if !batch.is_empty() {
                            let _ = ctx.bindings.send(batch).await;
                        }
                        let _ = done.send(());
                        return;
                    }
                    Some(m) => slot.lock().handle(m),
                    None => return,
                },
                _ = tick.tick() => slot.lock().housekeeping(),
                () = wake => slot.lock().on_call_timers(),
                () = slot.wake.notified() => {}
            }
        }
    }

    pub(crate) fn handle(&mut self, m: ShardMsg) {
        match m {
            ShardMsg::Sip(inb) => self.on_request(*inb),
            ShardMsg::Response(b) => {
                let (resp, flow) = *b;
                self.on_call_response(resp, flow);
            }
            ShardMsg::Lookup {
                aor,
                reply_shard,
                call,
                hop,
                member,
            } => self.on_lookup(aor, reply_shard, call, hop, member),
            ShardMsg::Contacts {
                call,
                ext,
                hop,
                bindings,
                member: false,
            } => self.on_contacts(call, ext, hop, bindings),
            ShardMsg::Contacts {
                call,
                ext,
                bindings,
                member: true,
                ..
            } => self.on_member_contacts(call, ext, bindings),
            ShardMsg::Media(ev) => self.on_media_event(ev),
            ShardMsg::QueueRing {
                call,
                queue,
                agents,
                timeout_ms,
            } => self.queue_ring(call, queue, agents, timeout_ms),
            ShardMsg::QueueLeave { call, dest, reason } => {
                self.with_call(call, |c, env| c.leave_queue(dest, reason, env));
            }
            ShardMsg::ListCalls(tenant, tx) => {
                let _ = tx.send(self.list_calls(tenant));
            }
            ShardMsg::TakeLeg {
                to_tag,
                from_tag,
                reply_shard,
                call,
            } => self.on_take_leg(to_tag, from_tag, reply_shard, call),
            ShardMsg::Adopt {
                call,
                handover,
                from_shard,
            } => self.on_adopt(call, *handover, from_shard),
            ShardMsg::AdoptFailed { call } => self.replace_failed(call),
            ShardMsg::Unforward { tag, media } => self.on_unforward(&tag, media),
            ShardMsg::Mwi {
                tenant,
                ext,
                counts,
                changed,
            } => self.on_mwi(tenant, ext, counts, changed),
            ShardMsg::MwiFetch { dialog, counts } => self.on_mwi_fetch(*dialog, counts),
            ShardMsg::Tenants(dir) => self.on_directory(dir),
            ShardMsg::Stats(tx) => {
                let mut tenants = self.stats.clone();
                for t in tenants.values_mut() {
                    t.contacts = 0;
                }
                for (k, b) in self.registrar.iter() {
                    tenants.entry(k.tenant).or_default().contacts += b.len() as u64;
                }
                let _ = tx.send(ShardReport {
                    tenants,
                    transactions: self.txns.len() + self.calls.ep.len(),
                    calls: self.calls.len(),
                });
            }
            ShardMsg::Shutdown(_) => {}
        }
    }

    fn housekeeping(&mut self) {
        let now_ms = self.ctx.wall_ms();
        let changes = self.registrar.sweep(now_ms);
        self.persist(changes);
        self.hand_over_bindings();
        self.txns.expire(self.ctx.now());
        self.qualify_due();
        self.mwi_housekeeping();
        self.trunks_due();
        self.drain_calls();
    }

    /// A new tenant directory: bindings of deleted tenants and removed users go.
    fn on_directory(&mut self, dir: Arc<Directory>) {
        let changes = self.registrar.remove_where(|k| match dir.by_id(k.tenant) {
            None => true,
            Some(t) => !t.has_aor(&k.user),
        });
        self.stats.retain(|id, _| dir.by_id(*id).is_some());
        self.mwi_directory(&dir);
        self.dir = dir;
        self.persist(changes);
    }

    pub(crate) fn persist(&mut self, changes: Vec<BindingChange>) {
        if !changes.is_empty() {
            self.mark_dirty(changes);
            if !self.ctx.write_behind {
                self.hand_over_bindings();
            }
        }
    }

    /// Notes which bindings changed; the last change of each wins.
    fn mark_dirty(&mut self, changes: Vec<BindingChange>) {
        for c in changes {
            match c {
                BindingChange::Upsert(aor, b) => self.dirty.insert(b.id, Some(aor)),
                BindingChange::Remove(_, b) => self.dirty.insert(b.id, None),
            };
        }
    }

    /// Hands the changed bindings to the writer if it can take them now;
    /// otherwise they stay noted here until the next tick. A binding noted for
    /// writing that the registrar no longer holds is deleted.
    fn hand_over_bindings(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let ctx = self.ctx.clone();
        let Ok(permit) = ctx.bindings.try_reserve() else {
            ctx.metrics.store_backlog_drops.fetch_add(1, Relaxed);
            return;
        };
        permit.send(self.dirty_batch());
    }

    /// The rows to write and the ids to delete for every changed binding.
    fn dirty_batch(&mut self) -> crate::run::BindingBatch {
        let mut batch = crate::run::BindingBatch::with_capacity(self.dirty.len());
        for (id, aor) in self.dirty.drain() {
            let row = aor.and_then(|aor| {
                let b = self.registrar.bindings(&aor).iter().find(|b| b.id == id)?;
                Some(crate::run::binding_to_store(&aor, b))
            });
            batch.insert(id as i64, row);
        }
        // A registration storm leaves the map at its peak size: give it back.
        if self.dirty.capacity() > 1024 {
            self.dirty.shrink_to(0);
        }
        batch
    }

    pub(crate) fn send_response(
        &mut self,
        flow: &Flow,
        resp: &Response,
        txn: Option<crate::txn::TxnKey>,
    ) {
        self.send_bytes(flow, resp.status, Bytes::from(resp.to_bytes()), txn);
    }

    /// Sends a serialized response, keeping it for retransmissions of `txn`.
    fn send_bytes(
        &mut self,
        flow: &Flow,
        status: StatusCode,
        bytes: Bytes,
        txn: Option<crate::txn::TxnKey>,
    ) {
        self.ctx.metrics.response_out(status.as_u16());
        if let Some(key) = txn {
            self.txns
                .complete(key, bytes.clone(), *flow, self.ctx.now());
        }
        self.ctx.transports.send(&self.ctx, flow, bytes);
    }

    /// Builds a response with our To tag, received/rport, and Server.
    pub(crate) fn response(&mut self, req: &Request, status: StatusCode, flow: &Flow) -> Response {
        let mut r = req.make_response(status);
        if req.headers.to_tag().is_none() && status != StatusCode::TRYING {
            r.set_to_tag(&crate::ids::new_tag(self.id, &mut self.rng));
        }
        fix_top_via(&mut r, flow);
        r.headers.push(HeaderName::Server, "vpbx");
        r
    }

    /// Sends what [`Shard::response`] with `extra` pushed would send, written
    /// straight from the request ([`Request::write_response_to`]) rather than
    /// built header by header; the general path when that declines.
    pub(crate) fn send_answer(
        &mut self,
        req: &Request,
        status: StatusCode,
        flow: &Flow,
        extra: &[(HeaderName, &str)],
        txn: Option<crate::txn::TxnKey>,
    ) {
        let tag = (req.headers.to_tag().is_none() && status != StatusCode::TRYING)
            .then(|| crate::ids::new_tag(self.id, &mut self.rng));
        let top = req
            .headers
            .get(&HeaderName::Via)
            .map(|v| fixed_via(v.trim_matches([' ', '\t']), flow))
            .unwrap_or_default();
        let mut all: Vec<(HeaderName, &str)> = Vec::with_capacity(extra.len() + 1);
        all.push((HeaderName::Server, "vpbx"));
        all.extend(extra.iter().cloned());
        let mut out = Vec::new();
        if !req.write_response_to(status, &top, tag.as_deref(), &all, &mut out) {
            let mut r = req.make_response(status);
            if let Some(t) = &tag {
                r.set_to_tag(t);
            }
            fix_top_via(&mut r, flow);
            for (n, v) in all {
                r.headers.push(n, v);
            }
            out = r.to_bytes();
        }
        self.send_bytes(flow, status, Bytes::from(out), txn);
    }

    pub(crate) fn reply(
        &mut self,
        inb: &Inbound,
        status: StatusCode,
        txn: Option<crate::txn::TxnKey>,
    ) {
        let r = self.response(&inb.req, status, &inb.flow);
        self.send_response(&inb.flow, &r, txn);
    }

    fn on_request(&mut self, inb: Inbound) {
        if crate::calls::is_call_request(&inb.req) {
            return self.on_call_request(inb);
        }
        let now = self.ctx.now();
        // Transaction layer first: retransmissions and ACKs of our non-2xx.
        let key = match self.txns.lookup(&inb.req, now) {
            TxnMatch::Retransmission(Some((bytes, flow))) => {
                self.ctx.transports.send(&self.ctx, &flow, bytes);
                return;
            }
            TxnMatch::Retransmission(None) | TxnMatch::AckAbsorbed => return,
            TxnMatch::New(key) => key,
        };
        if inb.req.method == Method::Subscribe {
            return self.on_subscribe(inb, key);
        }
        if let Some(t) = &inb.tenant {
            self.stats.entry(t.id).or_default().requests += 1;
        }

        // Calls (INVITE, in-dialog requests, CANCEL, ACK) went to the
        // endpoint above; what is left is REGISTER, OPTIONS and the rest.
        let Some(tenant) = inb.tenant.clone() else {
            return self.reply(&inb, StatusCode::NOT_FOUND, key);
        };
        match &inb.req.method {
            Method::Options => {
                if self.require_ok(&inb, key) {
                    self.on_options(&inb, key);
                }
            }
            Method::Register => self.on_register(&inb, &tenant, key),
            // Methods we cannot serve are answered before authentication:
            // there is nothing to protect, and challenging them would only
            // invite a second request (501 for unknown methods, 405 for
            // known ones we do not serve; both with Allow).
            m => {
                let status = if matches!(m, Method::Other(_)) {
                    StatusCode::NOT_IMPLEMENTED
                } else {
                    StatusCode::METHOD_NOT_ALLOWED
                };
                let mut r = self.response(&inb.req, status, &inb.flow);
                r.headers.push(HeaderName::Allow, ALLOW);
                self.send_response(&inb.flow, &r, key);
            }
        }
    }

    /// RFC 3261 §8.2.2.3: a Require naming an extension we do not support is
    /// answered 420 with Unsupported listing it. Returns true when all is well.
    pub(crate) fn require_ok(&mut self, inb: &Inbound, key: Option<crate::txn::TxnKey>) -> bool {
        match self.unsupported(&inb.req, &inb.flow) {
            None => true,
            Some(r) => {
                self.send_response(&inb.flow, &r, key);
                false
            }
        }
    }

    /// The 420 for a Require naming an extension we lack, if it does.
    pub(crate) fn unsupported(&mut self, req: &Request, flow: &Flow) -> Option<Response> {
        let unsupported: Vec<&str> = req
            .headers
            .get_all(&HeaderName::Require)
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty() && !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if unsupported.is_empty() {
            return None;
        }
        let mut r = self.response(req, StatusCode::BAD_EXTENSION, flow);
        r.headers
            .push(HeaderName::Unsupported, unsupported.join(", "));
        Some(r)
    }

    fn on_options(&mut self, inb: &Inbound, key: Option<crate::txn::TxnKey>) {
        let mut r = self.response(&inb.req, StatusCode::OK, &inb.flow);
        r.headers.push(HeaderName::Allow, ALLOW);
        r.headers
            .push(HeaderName::Other("Accept".into()), "application/sdp");
        self.send_response(&inb.flow, &r, key);
    }

    /// Digest authentication. On success returns the user's AOR name; else
    /// has already answered (challenge or refusal) and returns `None`.
    pub(crate) fn authenticate(
        &mut self,
        inb: &Inbound,
        tenant: &Arc<TenantSnap>,
        proxy: bool,
        key: Option<crate::txn::TxnKey>,
    ) -> Option<Box<str>> {
        match self.auth_or_challenge(&inb.req, &inb.flow, tenant, proxy) {
            Ok(user) => Some(user),
            Err(c) => {
                // A challenge carries no state: a retransmitted request is
                // simply challenged again, so it is not kept as a transaction.
                let _ = key;
                let extra: Vec<(HeaderName, &str)> = c
                    .values
                    .iter()
                    .map(|v| (c.name.clone(), v.as_str()))
                    .collect();
                self.send_answer(&inb.req, c.status, &inb.flow, &extra, None);
                None
            }
        }
    }

    /// Checks the request's digest credentials: the user, or the challenge
    /// to send (401 or, with `proxy`, 407).
    pub(crate) fn check_auth(
        &mut self,
        req: &Request,
        flow: &Flow,
        tenant: &Arc<TenantSnap>,
        proxy: bool,
    ) -> Result<Box<str>, Box<Response>> {
        self.auth_or_challenge(req, flow, tenant, proxy)
            .map_err(|c| {
                let mut r = self.response(req, c.status, flow);
                for v in c.values {
                    r.headers.push(c.name.clone(), v);
                }
                Box::new(r)
            })
    }

    /// [`Shard::check_auth`] with the challenge as its parts.
    fn auth_or_challenge(
        &mut self,
        req: &Request,
        flow: &Flow,
        tenant: &Arc<TenantSnap>,
        proxy: bool,
    ) -> Result<Box<str>, Challenge> {
        let now = self.ctx.now();
        let now_s = self.ctx.wall_ms() / 1000;
        let ip = flow.remote.ip();
        match self.auth.check(req, tenant, proxy, ip, now_s) {
            AuthOutcome::Authenticated(user) => Ok(user),
            AuthOutcome::Challenge {
                stale,
                failed,
                nonce,
            } => {
                if failed {
                    self.ctx.metrics.auth_failures_total.fetch_add(1, Relaxed);
                    self.stats.entry(tenant.id).or_default().auth_failures += 1;
                    tracing::info!(tenant = %tenant.domain, remote = %flow.remote, "authentication failed");
                    if self
                        .ctx
                        .security
                        .record_failure(ip, now, self.ctx.wall_ms())
                    {
                        self.ctx.metrics.bans_total.fetch_add(1, Relaxed);
                    }
                }
                self.ctx.metrics.auth_challenges_total.fetch_add(1, Relaxed);
                let status = if proxy {
                    StatusCode::PROXY_AUTHENTICATION_REQUIRED
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let name = if proxy {
                    HeaderName::ProxyAuthenticate
                } else {
                    HeaderName::WwwAuthenticate
                };
                let hint = if proxy {
                    req.headers.from_uri()
                } else {
                    req.headers.to_uri()
                };
                let hint = hint.and_then(|n| n.user);
                let values =
                    self.auth
                        .challenge_values(tenant, hint, ip, now_s, stale, nonce.as_deref());
                Err(Challenge {
                    status,
                    name,
                    values,
                })
            }
        }
    }

    fn on_register(
        &mut self,
        inb: &Inbound,
        tenant: &Arc<TenantSnap>,
        key: Option<crate::txn::TxnKey>,
    ) {
        // Optional per-tenant list of networks allowed to register (seed 003 FAQ 4.2).
        if !tenant.register_allowed(inb.flow.remote.ip()) {
            tracing::info!(tenant = %tenant.domain, remote = %inb.flow.remote, "REGISTER from a network the tenant does not allow");
            return self.reply(inb, StatusCode::FORBIDDEN, key);
        }
        // The AOR must be a sip/sips URI of the tenant (RFC 3261 §10.3 step 3; RFC 4475 unksm2).
        let to = match inb.req.headers.to_uri() {
            Some(to) if to.sip => to,
            _ => return self.reply(inb, StatusCode::BAD_REQUEST, key),
        };
        let Some(user) = self.authenticate(inb, tenant, false, key) else {
            return;
        };
        if !self.require_ok(inb, key) {
            return;
        }
        let aor_user = to.user.unwrap_or_default();
        if !tenant.may_register(&user, aor_user) {
            tracing::info!(tenant = %tenant.domain, %user, aor = %aor_user, "authenticated user may not register this AOR");
            return self.reply(inb, StatusCode::FORBIDDEN, key);
        }
        let Ok(contacts) = inb.req.headers.contacts() else {
            return self.reply(inb, StatusCode::BAD_REQUEST, key);
        };
        let Some(cseq) = inb.req.headers.cseq() else {
            return self.reply(inb, StatusCode::BAD_REQUEST, key);
        };
        let call_id = inb.req.headers.call_id().unwrap_or_default();
        let input = RegisterInput {
            contacts,
            expires_header: inb.req.headers.expires(),
            call_id,
            cseq: cseq.seq,
            source: Source {
                transport: match inb.flow.tp {
                    Tp::Udp => SourceTransport::Udp,
                    Tp::Tcp => SourceTransport::Tcp,
                },
                addr: inb.flow.remote,
                flow: (inb.flow.tp == Tp::Tcp).then_some(inb.flow.id),
            },
            user_agent: inb.req.headers.get(&HeaderName::UserAgent),
        };
        let mut cfg = self.ctx.registrar_cfg;
        if let Some(max) = tenant.max_contacts {
            cfg.max_contacts_per_aor = max;
        }
        self.registrar.set_config(cfg);
        let ext = tenant.ext_of(&user).unwrap_or(aor_user);
        let aor = AorKey {
            tenant: tenant.id,
            user: ext.into(),
        };
        let now_ms = self.ctx.wall_ms();
        match self.registrar.register(now_ms, aor, &input) {
            Ok(out) => {
                self.ctx.metrics.registrations_total.fetch_add(1, Relaxed);
                self.stats.entry(tenant.id).or_default().registrations += 1;
                let contacts: Vec<String> = out
                    .contacts
                    .iter()
                    .map(|(contact, secs)| {
                        let mut v = String::with_capacity(contact.len() + 20);
                        v.push('<');
                        v.push_str(contact);
                        v.push_str(">;expires=");
                        v.push_str(sip_msg::Decimal::new(u64::from(*secs)).as_str());
                        v
                    })
                    .collect();
                let date = self.http_date(now_ms);
                let mut extra: Vec<(HeaderName, &str)> = contacts
                    .iter()
                    .map(|c| (HeaderName::Contact, c.as_str()))
                    .collect();
                extra.push((HeaderName::Other("Date".into()), &date));
                self.send_answer(&inb.req, StatusCode::OK, &inb.flow, &extra, key);
                self.persist(out.changes);
            }
            Err(e) => {
                let status =
                    StatusCode::new(e.status()).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
                let mut r = self.response(&inb.req, status, &inb.flow);
                if let pbx_registrar::RegisterError::IntervalTooBrief { min, .. } = e {
                    r.headers.push(HeaderName::MinExpires, min.to_string());
                }
                self.send_response(&inb.flow, &r, key);
            }
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581: note where the request really came from in
/// the top Via of the response (`received`, and `rport` filled in when the
/// client asked for it). Over UDP the response goes to the packet's source
/// address and port in every case.
pub fn fix_top_via(r: &mut Response, flow: &Flow) {
    let Some(top) = r.headers.remove_first_value(&HeaderName::Via) else {
        return;
    };
    r.headers.push_front(HeaderName::Via, fixed_via(&top, flow));
}

/// The top Via value `top` with `received` and `rport` as [`fix_top_via`] writes them.
pub(crate) fn fixed_via(top: &str, flow: &Flow) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(top.len() + 48);
    let ip = flow.remote.ip();
    let mut has_received = false;
    let starts = |p: &str, prefix: &str| {
        p.len() >= prefix.len()
            && p.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    for (i, part) in top.split(';').enumerate() {
        let p = part.trim();
        if i > 0 {
            out.push(';');
        }
        if i > 0 && (p.eq_ignore_ascii_case("rport") || starts(p, "rport=")) {
            let _ = write!(out, "rport={}", flow.remote.port());
        } else if i > 0 && starts(p, "received=") {
            let _ = write!(out, "received={ip}");
            has_received = true;
        } else {
            out.push_str(if i == 0 { part.trim_end() } else { p });
        }
    }
    if !has_received {
        let _ = write!(out, ";received={ip}");
    }
    out
}

/// A response built outside any shard (own-IP policy 404).
pub fn simple_response(req: &Request, status: StatusCode, flow: &Flow) -> Bytes {
    let mut r = req.make_response(status);
    if req.headers.to_tag().is_none() {
        let mut rng = rand::rng();
        r.set_to_tag(&crate::ids::new_tag(0xff, &mut rng));
    }
    fix_top_via(&mut r, flow);
    r.headers.push(HeaderName::Server, "vpbx");
    Bytes::from(r.to_bytes())
}

/// RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn httpdate(now_ms: u64) -> String {
    let secs = now_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil-from-days (H. Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{weekday}, {d:02} {month} {y} {h:02}:{m:02}:{s:02} GMT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn httpdate_formats_the_rfc_7231_example() {
        assert_eq!(httpdate(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
