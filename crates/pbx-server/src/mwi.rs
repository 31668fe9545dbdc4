//! Message waiting: RFC 3842 `message-summary` over RFC 6665 subscriptions,
//! plus unsolicited NOTIFYs to phones that never subscribe.
//!
//! Decisions (expiry, bounds, who still has to be told what) live in the
//! pure `sip-event` crate; this module only moves messages.
//!
//! - A phone SUBSCRIBEs (`Event: message-summary`) to its own AOR. The
//!   dispatcher shards an initial SUBSCRIBE by the AOR, like REGISTER, so a
//!   user's subscriptions live in the shard that holds their bindings; a
//!   SUBSCRIBE in the dialog finds that shard by our To tag.
//! - Mailbox counts are read off the shard (`spawn_blocking`) and arrive as
//!   [`ShardMsg::Mwi`] at the user's shard, which NOTIFYs every
//!   subscription not yet told those counts, and — when they changed —
//!   sends an unsolicited NOTIFY to each registered contact that has no
//!   subscription (unless `options.unsolicited_mwi` / the user's
//!   `voicemail.unsolicited_mwi` turn that off).
//! - Counts change when a message is stored, when the mailbox menu reports
//!   new counts (`Action::SetMwi`), when the outbox deletes a mailed
//!   message, and when the retention purge deletes old ones: each of those
//!   calls [`Ctx::mwi_changed`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use pbx_call::LocalSip;
use pbx_registrar::{AorKey, Binding};
use sip_event::subscription::{
    Counts, EndReason, Ended, Refreshed, SubId, SubscribeError, SubscribeRequest, Subscriptions,
};
use sip_event::summary::MessageSummary;
use sip_event::{CONTENT_TYPE, EVENT_MESSAGE_SUMMARY};
use sip_msg::{HeaderName, Method, Request, Scheme, StatusCode, Uri};
use sip_txn::{Target, TxnKey};

use crate::Ctx;
use crate::shard::{Inbound, Shard, ShardMsg};
use crate::tenants::TenantSnap;

/// Our side of one subscription dialog (RFC 6665 §4.1.2).
#[derive(Debug, Clone)]
pub struct Dialog {
    call_id: String,
    /// Our tag (the To tag of our 200 to the SUBSCRIBE).
    local_tag: String,
    /// The To URI of the SUBSCRIBE: our From in NOTIFYs.
    local_uri: String,
    /// The From header of the SUBSCRIBE, tag included: the To of NOTIFYs.
    remote: String,
    /// The subscriber's Contact: the Request-URI of NOTIFYs.
    remote_target: String,
    /// Record-Route of the SUBSCRIBE, in order (our route set, RFC 3261 §12.1.1).
    route: Vec<String>,
    /// Where NOTIFYs go: the flow the SUBSCRIBE came on (NAT-safe).
    target: Target,
    local: LocalSip,
    /// `sip:EXT@DOMAIN` for `Message-Account`.
    account: String,
}

/// A NOTIFY in flight.
#[derive(Debug)]
enum Pending {
    Sub(SubId),
    Once,
}

/// The per-shard MWI state.
#[derive(Debug)]
pub(crate) struct MwiState {
    subs: Subscriptions<Dialog>,
    pending: HashMap<TxnKey, Pending>,
    /// The counts last learned per (tenant, ext).
    counts: HashMap<(i64, Box<str>), Counts>,
}

impl MwiState {
    pub(crate) fn new(limits: sip_event::subscription::Limits) -> MwiState {
        MwiState {
            subs: Subscriptions::new(limits),
            pending: HashMap::new(),
            counts: HashMap::new(),
        }
    }
}

/// Subscriptions per tenant across shards (for the per-tenant bound).
#[derive(Debug, Default)]
pub struct MwiShared {
    per_tenant: std::sync::Mutex<HashMap<i64, usize>>,
}

impl MwiShared {
    fn count(&self, tenant: i64) -> usize {
        let m = self.per_tenant.lock().expect("mwi lock is never poisoned");
        m.get(&tenant).copied().unwrap_or(0)
    }

    fn add(&self, tenant: i64, delta: isize) {
        let mut m = self.per_tenant.lock().expect("mwi lock is never poisoned");
        let n = m.entry(tenant).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            m.remove(&tenant);
        }
    }
}

impl Ctx {
    /// The mailbox of (`tenant`, `ext`) now holds `counts` (new, old): tell
    /// the user's shard. `changed`: the counts changed (not merely read for a
    /// new subscription), so phones without a subscription are told too.
    pub(crate) fn mwi_update(&self, tenant: i64, ext: &str, counts: Counts, changed: bool) {
        let shard = self.shard_for(&(tenant, ext));
        self.to_shard(
            shard,
            ShardMsg::Mwi {
                tenant,
                ext: ext.into(),
                counts,
                changed,
            },
            None,
        );
    }

    /// The mailbox `ext` of tenant `domain` changed to `counts` (storage,
    /// the outbox and the purge know tenants by domain).
    pub fn mwi_changed(&self, domain: &str, ext: &str, counts: pbx_vault::MessageCounts) {
        if let Some(t) = self.directory().by_domain(domain) {
            let ext = t.canonical_ext(ext).to_owned();
            self.mwi_update(t.id, &ext, (counts.new, counts.old), true);
        }
    }
}

/// `sip:EXT@DOMAIN`.
fn account(domain: &str, ext: &str) -> String {
    format!("sip:{ext}@{domain}")
}

/// Reads the mailbox's counts off the shard, then hands them to the user's
/// shard ([`ShardMsg::Mwi`]) or, for a fetch, sends the one NOTIFY.
fn read_counts(ctx: &Arc<Ctx>, tenant: &TenantSnap, ext: &str, fetch: Option<Dialog>) {
    let has_mailbox = tenant.config.user(ext).is_some_and(|u| u.voicemail.enabled);
    let vault = ctx.vault.clone().filter(|_| has_mailbox);
    let ctx = Arc::downgrade(ctx);
    let (id, domain, ext) = (tenant.id, tenant.domain.to_string(), ext.to_owned());
    tokio::task::spawn_blocking(move || {
        let counts = match vault.map(|v| v.mailbox(&domain, &ext).and_then(|m| m.counts())) {
            None => (0, 0),
            Some(Ok(c)) => (c.new, c.old),
            Some(Err(e)) => {
                tracing::warn!(tenant = %domain, mailbox = %ext, error = %e, "MWI: mailbox counts not read");
                (0, 0)
            }
        };
        let Some(ctx) = ctx.upgrade() else { return };
        match fetch {
            None => ctx.mwi_update(id, &ext, counts, false),
            Some(dialog) => {
                let shard = ctx.shard_for(&(id, ext.as_str()));
                ctx.to_shard(
                    shard,
                    ShardMsg::MwiFetch {
                        dialog: Box::new(dialog),
                        counts,
                    },
                    None,
                );
            }
        }
    });
}

/// The event package of a SUBSCRIBE's `Event` header (parameters dropped).
fn event_package(req: &Request) -> Option<String> {
    let v = req.headers.get(&HeaderName::Event)?;
    Some(
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

impl Shard {
    /// A SUBSCRIBE, initial or in a dialog.
    pub(crate) fn on_subscribe(&mut self, inb: Inbound, key: Option<crate::txn::TxnKey>) {
        if event_package(&inb.req).as_deref() != Some(EVENT_MESSAGE_SUMMARY) {
            // RFC 6665 §4.2.1: 489 with the packages we do serve.
            let mut r = self.response(
                &inb.req,
                StatusCode::new(489).expect("489 is a status code"),
                &inb.flow,
            );
            r.reason = "Bad Event".into();
            r.headers.push(
                HeaderName::Other("Allow-Events".into()),
                EVENT_MESSAGE_SUMMARY,
            );
            return self.send_response(&inb.flow, &r, key);
        }
        if inb.req.headers.to_tag().is_some() {
            return self.on_resubscribe(inb, key);
        }
        let Some(tenant) = inb.tenant.clone() else {
            return self.reply(&inb, StatusCode::NOT_FOUND, key);
        };
        self.stats.entry(tenant.id).or_default().requests += 1;
        if !tenant.register_allowed(inb.flow.remote.ip()) {
            return self.reply(&inb, StatusCode::FORBIDDEN, key);
        }
        let Some(user) = self.authenticate(&inb, &tenant, false, key) else {
            return;
        };
        if !self.require_ok(&inb, key) {
            return;
        }
        // The mailbox watched is the Request-URI's user; only its owner may.
        let wanted = inb.req.uri.user.clone().unwrap_or_default();
        let wanted = tenant.canonical_ext(&wanted).to_owned();
        let own = tenant.ext_of(&user).unwrap_or(&user).to_owned();
        if wanted != own || !tenant.has_aor(&own) {
            tracing::info!(tenant = %tenant.domain, user = %own, mailbox = %wanted, "MWI SUBSCRIBE to another user's mailbox refused");
            return self.reply(&inb, StatusCode::FORBIDDEN, key);
        }
        let Some(dialog) = self.new_dialog(&inb, &tenant, &own) else {
            return self.reply(&inb, StatusCode::BAD_REQUEST, key);
        };
        let expires = inb.req.headers.expires();
        let now_ms = self.ctx.wall_ms();
        let elsewhere = self
            .ctx
            .mwi_shared
            .count(tenant.id)
            .saturating_sub(self.mwi.subs.tenant_count(tenant.id));
        let req = SubscribeRequest {
            tenant: tenant.id,
            user: own.clone(),
            expires,
        };
        let local_tag = dialog.local_tag.clone();
        let fetch = expires == Some(0);
        let granted = if fetch {
            Ok(0)
        } else {
            self.mwi
                .subs
                .subscribe(now_ms, req, elsewhere, dialog.clone())
                .map(|(_, g)| g)
        };
        match granted {
            Err(e) => self.refuse_subscribe(&inb, key, &e),
            Ok(granted) => {
                if !fetch {
                    self.ctx.mwi_shared.add(tenant.id, 1);
                    self.ctx.metrics.mwi_subscriptions.fetch_add(1, Relaxed);
                }
                tracing::info!(tenant = %tenant.domain, user = %own, expires = granted, remote = %inb.flow.remote, "MWI subscription");
                let mut r = self.response(&inb.req, StatusCode::OK, &inb.flow);
                r.set_to_tag(&local_tag);
                r.headers.push(HeaderName::Expires, granted.to_string());
                r.headers.push(HeaderName::Contact, contact(&dialog.local));
                self.send_response(&inb.flow, &r, key);
                read_counts(&self.ctx, &tenant, &own, fetch.then_some(dialog));
            }
        }
    }

    fn refuse_subscribe(
        &mut self,
        inb: &Inbound,
        key: Option<crate::txn::TxnKey>,
        e: &SubscribeError,
    ) {
        let status = StatusCode::new(e.status()).unwrap_or(StatusCode::FORBIDDEN);
        let mut r = self.response(&inb.req, status, &inb.flow);
        match e {
            SubscribeError::IntervalTooBrief { min } => {
                r.headers.push(HeaderName::MinExpires, min.to_string());
            }
            SubscribeError::TooManyForUser { .. } | SubscribeError::TooManyForTenant { .. } => {
                r.reason = "Too Many Subscriptions".into();
                tracing::info!(remote = %inb.flow.remote, error = %e, "MWI SUBSCRIBE refused");
            }
            _ => {}
        }
        self.send_response(&inb.flow, &r, key);
    }

    /// Our dialog state from an initial SUBSCRIBE.
    fn new_dialog(&mut self, inb: &Inbound, tenant: &TenantSnap, ext: &str) -> Option<Dialog> {
        let h = &inb.req.headers;
        let contact = h.contacts().ok()?.into_iter().find_map(|c| match c {
            sip_msg::ContactValue::Addr(a)
                if matches!(a.uri.scheme, Scheme::Sip | Scheme::Sips) =>
            {
                Some(a.uri.to_string())
            }
            _ => None,
        })?;
        h.from_tag()?;
        let to = h.to()?;
        let route = h
            .get_all(&HeaderName::RecordRoute)
            .flat_map(split_commas)
            .collect();
        Some(Dialog {
            call_id: h.call_id()?.to_owned(),
            local_tag: crate::ids::new_tag(self.id, &mut self.rng),
            local_uri: to.uri.to_string(),
            remote: h.get(&HeaderName::From)?.to_owned(),
            remote_target: contact,
            route,
            target: crate::calls::target_of(&inb.flow),
            local: self.local_sip(&inb.flow),
            account: account(&tenant.domain, ext),
        })
    }

    /// A SUBSCRIBE in a dialog: refresh, or with `Expires: 0` unsubscribe.
    fn on_resubscribe(&mut self, inb: Inbound, key: Option<crate::txn::TxnKey>) {
        let to_tag = inb.req.headers.to_tag().unwrap_or_default().to_owned();
        let call_id = inb.req.headers.call_id().unwrap_or_default().to_owned();
        let found = self
            .mwi
            .subs
            .find(|d| d.local_tag == to_tag && d.call_id == call_id);
        let Some((id, tenant)) = found.and_then(|id| {
            let (t, _, _) = self.mwi.subs.get(id)?;
            Some((id, self.ctx.directory().by_id(t).cloned()))
        }) else {
            return self.reply(&inb, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, key);
        };
        let Some(tenant) = tenant else {
            return self.reply(&inb, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, key);
        };
        self.stats.entry(tenant.id).or_default().requests += 1;
        if self.authenticate(&inb, &tenant, false, key).is_none() {
            return;
        }
        let now_ms = self.ctx.wall_ms();
        // The phone may have moved (new NAT binding): NOTIFYs follow it.
        let target = crate::calls::target_of(&inb.flow);
        let local = self.local_sip(&inb.flow);
        match self.mwi.subs.refresh(now_ms, id, inb.req.headers.expires()) {
            Err(e) => self.refuse_subscribe(&inb, key, &e),
            Ok(Refreshed::Active { granted }) => {
                if let Some(d) = self.mwi.subs.get_mut(id) {
                    d.target = target;
                    d.local = local.clone();
                }
                let mut r = self.response(&inb.req, StatusCode::OK, &inb.flow);
                r.headers.push(HeaderName::Expires, granted.to_string());
                r.headers.push(HeaderName::Contact, contact(&local));
                self.send_response(&inb.flow, &r, key);
                // RFC 6665 §4.2.1.2: a refresh is answered with a NOTIFY.
                let Some(ext) = self.mwi.subs.get(id).map(|(_, u, _)| u.to_owned()) else {
                    return;
                };
                match self.mwi.subs.last_sent(id) {
                    Some(c) => self.notify_sub(id, c),
                    None => read_counts(&self.ctx, &tenant, &ext, None),
                }
            }
            Ok(Refreshed::Ended(ended)) => {
                let mut r = self.response(&inb.req, StatusCode::OK, &inb.flow);
                r.headers.push(HeaderName::Expires, "0");
                r.headers.push(HeaderName::Contact, contact(&local));
                self.send_response(&inb.flow, &r, key);
                tracing::info!(tenant = %tenant.domain, user = %ended.user, "MWI subscription ended by the phone");
                self.close(ended);
            }
        }
    }

    /// A subscription ended: the final NOTIFY when its reason has one, and
    /// the counters.
    fn close(&mut self, ended: Ended<Dialog>) {
        self.ctx.mwi_shared.add(ended.tenant, -1);
        self.ctx.metrics.mwi_subscriptions.fetch_sub(1, Relaxed);
        let Some(state) = ended.reason.subscription_state() else {
            return;
        };
        let counts = ended
            .last_sent
            .or_else(|| {
                self.mwi
                    .counts
                    .get(&(ended.tenant, ended.user.as_str().into()))
                    .copied()
            })
            .unwrap_or((0, 0));
        self.send_in_dialog(&ended.data, ended.cseq, state, counts, Pending::Once);
    }

    /// New counts for a user (from storage, the menu, the outbox, the purge,
    /// or read for a new subscription).
    pub(crate) fn on_mwi(&mut self, tenant: i64, ext: Box<str>, counts: Counts, changed: bool) {
        let before = self.mwi.counts.insert((tenant, ext.clone()), counts);
        for id in self.mwi.subs.due(tenant, &ext, counts) {
            self.notify_sub(id, counts);
        }
        if changed && before != Some(counts) {
            self.unsolicited(tenant, &ext, counts);
        }
    }

    /// The one NOTIFY of a fetch (initial SUBSCRIBE with `Expires: 0`).
    pub(crate) fn on_mwi_fetch(&mut self, dialog: Dialog, counts: Counts) {
        self.send_in_dialog(
            &dialog,
            1,
            "terminated;reason=timeout",
            counts,
            Pending::Once,
        );
    }

    /// NOTIFY subscription `id` of `counts`. While an earlier NOTIFY of it
    /// is unanswered, nothing is sent: its answer sends the latest counts
    /// (one NOTIFY in flight per subscription, so they cannot overtake).
    fn notify_sub(&mut self, id: SubId, counts: Counts) {
        if self
            .mwi
            .pending
            .values()
            .any(|p| matches!(p, Pending::Sub(s) if *s == id))
        {
            return;
        }
        let now_ms = self.ctx.wall_ms();
        let (Some(state), Some(cseq)) = (
            self.mwi.subs.state_header(now_ms, id),
            self.mwi.subs.next_cseq(id),
        ) else {
            return;
        };
        let Some((_, _, d)) = self.mwi.subs.get(id) else {
            return;
        };
        let d = d.clone();
        self.mwi.subs.mark_sent(id, counts);
        self.send_in_dialog(&d, cseq, &state, counts, Pending::Sub(id));
    }

    fn send_in_dialog(&mut self, d: &Dialog, cseq: u32, state: &str, counts: Counts, p: Pending) {
        let Ok(uri) = Uri::parse(&d.remote_target) else {
            return;
        };
        let mut req = Request {
            method: Method::Notify,
            uri,
            headers: Default::default(),
            body: Bytes::from(MessageSummary::new(&d.account, counts.0, counts.1).to_body()),
        };
        let branch = self.calls.ep.new_branch();
        let h = &mut req.headers;
        h.push(HeaderName::Via, via(&d.local, &branch));
        for r in &d.route {
            h.push(HeaderName::Route, r.clone());
        }
        h.push(HeaderName::MaxForwards, "70");
        h.push(
            HeaderName::From,
            format!("<{}>;tag={}", d.local_uri, d.local_tag),
        );
        h.push(HeaderName::To, d.remote.clone());
        h.push(HeaderName::CallId, d.call_id.clone());
        h.push(HeaderName::CSeq, format!("{cseq} NOTIFY"));
        h.push(HeaderName::Contact, contact(&d.local));
        h.push(HeaderName::Event, EVENT_MESSAGE_SUMMARY);
        h.push(HeaderName::Other("Subscription-State".into()), state);
        h.push(HeaderName::ContentType, CONTENT_TYPE);
        h.push(HeaderName::UserAgent, "vpbx");
        self.send_notify(d.target, req, p);
    }

    fn send_notify(&mut self, target: Target, req: Request, p: Pending) {
        let now = self.ctx.now();
        match self.calls.ep.send_request(now, target, req) {
            Ok(key) => {
                self.ctx.metrics.mwi_notifies_total.fetch_add(1, Relaxed);
                self.mwi.pending.insert(key, p);
            }
            Err(e) => tracing::debug!(error = %e, "MWI NOTIFY not sent"),
        }
        self.drain_calls();
    }

    /// Unsolicited NOTIFY to each registered contact of the user that holds
    /// no subscription (desk phones configured for unsolicited MWI).
    fn unsolicited(&mut self, tenant: i64, ext: &str, counts: Counts) {
        let Some(t) = self.ctx.directory().by_id(tenant).cloned() else {
            return;
        };
        let on = t.config.options.unsolicited_mwi;
        if !t
            .config
            .user(ext)
            .is_some_and(|u| u.voicemail.unsolicited_mwi_or(on))
        {
            return;
        }
        let Some(user) = t.calls.get(ext).cloned() else {
            return;
        };
        let now_ms = self.ctx.wall_ms();
        let bindings: Vec<Binding> = self
            .registrar
            .bindings(&AorKey::new(tenant, ext))
            .iter()
            .filter(|b| b.expires_at_ms > now_ms)
            .cloned()
            .collect();
        let subscribed: Vec<SocketAddr> = self
            .mwi
            .subs
            .for_user(tenant, ext)
            .map(|(_, d)| d.target.addr)
            .collect();
        let acct = account(&t.domain, ext);
        let body = Bytes::from(MessageSummary::new(&acct, counts.0, counts.1).to_body());
        for b in bindings {
            if subscribed.contains(&b.source.addr) {
                continue; // this phone gets the NOTIFY of its subscription
            }
            let Some(ft) = self.fork_target(&b, &user) else {
                continue;
            };
            let ep = &mut self.calls.ep;
            let mut req = Request {
                method: Method::Notify,
                uri: ft.uri.clone(),
                headers: Default::default(),
                body: body.clone(),
            };
            let h = &mut req.headers;
            h.push(HeaderName::Via, via(&ft.local, &ep.new_branch()));
            h.push(HeaderName::MaxForwards, "70");
            h.push(HeaderName::From, format!("<{acct}>;tag={}", ep.new_tag()));
            h.push(HeaderName::To, format!("<{acct}>"));
            h.push(HeaderName::CallId, format!("{}@vpbx", ep.new_tag()));
            h.push(HeaderName::CSeq, "1 NOTIFY");
            h.push(HeaderName::Contact, contact(&ft.local));
            h.push(HeaderName::Event, EVENT_MESSAGE_SUMMARY);
            h.push(HeaderName::ContentType, CONTENT_TYPE);
            h.push(HeaderName::UserAgent, "vpbx");
            self.ctx.metrics.mwi_unsolicited_total.fetch_add(1, Relaxed);
            self.send_notify(ft.target, req, Pending::Once);
        }
    }

    /// A NOTIFY's outcome (`None`: no response). Returns false when `key`
    /// is no NOTIFY of ours.
    pub(crate) fn notify_done(&mut self, key: TxnKey, status: Option<u16>) -> bool {
        if !self.mwi.pending.contains_key(&key) {
            return false;
        }
        if status.is_some_and(|s| s < 200) {
            return true;
        }
        let Some(p) = self.mwi.pending.remove(&key) else {
            return true;
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        if !ok {
            self.ctx
                .metrics
                .mwi_notify_failures_total
                .fetch_add(1, Relaxed);
        }
        // RFC 6665 §4.2.2: a NOTIFY that fails (481, 408, a timeout, …) ends
        // the subscription; a challenge we cannot answer does not.
        let Pending::Sub(id) = p else {
            return true;
        };
        if !ok && !matches!(status, Some(401 | 407)) {
            if let Some(ended) = self.mwi.subs.remove(id, EndReason::NotifyFailed) {
                tracing::info!(tenant = ended.tenant, user = %ended.user, status = ?status, "MWI subscription ended: NOTIFY failed");
                self.close(ended);
            }
            return true;
        }
        // Counts that changed while this NOTIFY was in flight go now.
        if let Some((tenant, user, _)) = self.mwi.subs.get(id)
            && let Some(c) = self.mwi.counts.get(&(tenant, user.into())).copied()
            && self.mwi.subs.last_sent(id) != Some(c)
        {
            self.notify_sub(id, c);
        }
        true
    }

    /// Expired subscriptions (final NOTIFY), from the housekeeping tick.
    pub(crate) fn mwi_housekeeping(&mut self) {
        let now_ms = self.ctx.wall_ms();
        if self.mwi.subs.next_expiry().is_none_or(|t| t > now_ms) {
            return;
        }
        for ended in self.mwi.subs.expire(now_ms) {
            tracing::info!(tenant = ended.tenant, user = %ended.user, "MWI subscription expired");
            self.close(ended);
        }
    }

    /// Users or tenants that went away lose their subscriptions.
    pub(crate) fn mwi_directory(&mut self, dir: &crate::tenants::Directory) {
        let gone = self
            .mwi
            .subs
            .remove_where(|t, u| dir.by_id(t).is_none_or(|t| !t.has_aor(u)));
        self.mwi
            .counts
            .retain(|(t, u), _| dir.by_id(*t).is_some_and(|t| t.has_aor(u)));
        for ended in gone {
            self.close(ended);
        }
    }
}

fn via(local: &LocalSip, branch: &str) -> String {
    format!(
        "SIP/2.0/{} {};branch={branch};rport",
        local.transport, local.host_port
    )
}

fn contact(local: &LocalSip) -> String {
    match &local.transport {
        sip_msg::Transport::Udp => format!("<sip:vpbx@{}>", local.host_port),
        t => format!(
            "<sip:vpbx@{};transport={}>",
            local.host_port,
            t.to_string().to_ascii_lowercase()
        ),
    }
}

/// Header values split at top-level commas (outside `<…>` and quotes).
fn split_commas(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth -= 1,
            ',' if !quoted && depth <= 0 => {
                out.push(v[start..i].trim().to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim().to_owned());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_route_values_split_at_commas_outside_brackets() {
        assert_eq!(
            split_commas("<sip:a;lr>, \"x,y\" <sip:b;lr>,<sip:c>"),
            vec!["<sip:a;lr>", "\"x,y\" <sip:b;lr>", "<sip:c>"]
        );
    }
}
