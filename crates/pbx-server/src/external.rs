//! Outside calls (issue 5): a user dials the tenant's outbound prefix and a number (or an
//! emergency number without it); the platform's directions decide
//! ([`pbx_dialplan::decide`]); the fraud caps and trunk call limits are checked; the call
//! rings the trunks of the decision one after the other ([`pbx_call::TrunkFork`]).
//!
//! Safe by default: without a platform file, a number bound to the tenant, a direction
//! that allows the class, and room under every cap, the caller gets 403 and nothing
//! reaches a trunk. Emergency calls need no direction row and bypass the user's classes,
//! the tenant's `max_calls`, the fraud caps and the trunks' call limits.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use pbx_call::{ForkTarget, RingTarget, TrunkFork};
use pbx_core::TenantConfig;
use pbx_dialplan::{CallerOutbound, Class, Decision, Platform, Route, Routed, TenantOutbound};

use crate::shard::Shard;

/// How long an outside call may ring before the caller gets 480.
const EXTERNAL_RING: Duration = Duration::from_secs(120);
/// `failover_timeout` 0 in the platform file means this.
const DEFAULT_FAILOVER: Duration = Duration::from_secs(5);
/// An hour, for the hourly caps.
const HOUR_MS: u64 = 3_600_000;

/// A request from a provider trunk: which trunk, and the tenant's number it is for.
/// (Recognised by the contact a registering trunk registered, a shared trunk's
/// `sources`, or a dedicated trunk's `host` and `port`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkInbound {
    pub trunk: String,
    /// E.164, bound to the tenant by the platform file.
    pub number: String,
}

/// Dispatch step 3: the trunk a request comes from and the number it is for. A trunk is
/// recognised by its source address: a shared carrier trunk by its `sources`, a
/// dedicated one by its `host` (an address, or a name `host_ip` knows the address of)
/// and `port` (phones behind the same address as a provider are not taken for it). The
/// number is read as the trunk's `did_from` says.
/// `Err(trunk)`: from a trunk, but for no number bound on it.
pub fn trunk_of(
    platform: &Platform,
    req: &sip_msg::Request,
    source: SocketAddr,
    host_ip: impl Fn(&str) -> Option<IpAddr>,
) -> Option<Result<TrunkInbound, String>> {
    let ip = source.ip();
    let mut from_trunk: Option<String> = None;
    let ruri_user = req.uri.user.clone().unwrap_or_default();
    // A registering trunk's calls come to the contact it registered (`tr-…`), from
    // wherever the provider sends them.
    let by_contact = crate::trunks::trunk_for_contact_user(platform, &ruri_user);
    let by_source = platform.trunks_from(ip);
    let by_host = platform.config().trunks.iter().filter(|t| {
        t.sources.is_none() && t.port == source.port() && host_ip(&t.host).is_some_and(|h| h == ip)
    });
    for t in by_contact.into_iter().chain(by_source).chain(by_host) {
        let to_user = || {
            req.headers
                .to()
                .and_then(|to| to.uri.user)
                .unwrap_or_default()
        };
        let called = match t.did_from {
            // The contact token names the trunk, not the number: the To user says it.
            pbx_dialplan::platform::DidFrom::Ruri if ruri_user.starts_with("tr-") => to_user(),
            pbx_dialplan::platform::DidFrom::Ruri => ruri_user.clone(),
            pbx_dialplan::platform::DidFrom::To => to_user(),
            pbx_dialplan::platform::DidFrom::Fixed => String::new(),
        };
        if let Some(n) = platform.inbound_number(&t.name, &called) {
            return Some(Ok(TrunkInbound {
                trunk: t.name.clone(),
                number: n.number.clone(),
            }));
        }
        from_trunk.get_or_insert_with(|| t.name.clone());
    }
    from_trunk.map(Err)
}

/// Why an outside call was refused before anything left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The decision's reason (`denied: …`).
    Denied(String),
    /// A fraud cap: what was hit.
    Cap(String),
}

/// Outside calls in progress and started per hour, per tenant, user and trunk: the
/// fraud caps and trunk call limits, and what `vpbx trunks` and `/metrics` show.
#[derive(Debug, Default)]
pub struct ExternalCalls {
    state: Mutex<CapState>,
    /// Calls refused by the platform's rules.
    pub denied_total: AtomicU64,
    /// Calls refused by a fraud cap.
    pub capped_total: AtomicU64,
    /// Outside calls started (through a trunk).
    pub started_total: AtomicU64,
    /// Emergency calls started.
    pub emergency_total: AtomicU64,
}

#[derive(Debug, Default)]
struct CapState {
    tenant_active: HashMap<i64, u32>,
    user_active: HashMap<(i64, Box<str>), u32>,
    tenant_starts: HashMap<i64, VecDeque<u64>>,
    user_starts: HashMap<(i64, Box<str>), VecDeque<u64>>,
    trunk_active: HashMap<String, u32>,
}

/// The caps that apply to one call.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caps {
    pub tenant_active: Option<u32>,
    pub tenant_per_hour: Option<u32>,
    pub user_active: Option<u32>,
    pub user_per_hour: Option<u32>,
}

/// Counts `starts` within the last hour (dropping older ones) against `cap`.
fn hour_full(starts: &mut VecDeque<u64>, now_ms: u64, cap: Option<u32>) -> bool {
    while starts.front().is_some_and(|&t| t + HOUR_MS <= now_ms) {
        starts.pop_front();
    }
    cap.is_some_and(|c| starts.len() >= c as usize)
}

impl ExternalCalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, CapState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place under every cap, or says which cap is full (taking nothing).
    pub(crate) fn try_start(
        &self,
        tenant: i64,
        user: Option<&str>,
        caps: Caps,
        now_ms: u64,
    ) -> Result<(), String> {
        let mut st = self.lock();
        let st = &mut *st;
        let t_active = st.tenant_active.get(&tenant).copied().unwrap_or(0);
        if caps.tenant_active.is_some_and(|c| t_active >= c) {
            return Err(format!(
                "the tenant's {t_active} outside calls in progress (limits.max_external_calls)"
            ));
        }
        if hour_full(
            st.tenant_starts.entry(tenant).or_default(),
            now_ms,
            caps.tenant_per_hour,
        ) {
            return Err(
                "the tenant's outside calls this hour (limits.external_calls_per_hour)".into(),
            );
        }
        if let Some(u) = user {
            let key = (tenant, Box::<str>::from(u));
            let u_active = st.user_active.get(&key).copied().unwrap_or(0);
            if caps.user_active.is_some_and(|c| u_active >= c) {
                return Err(format!(
                    "user {u}'s {u_active} outside calls in progress (max_external_calls)"
                ));
            }
            if hour_full(
                st.user_starts.entry(key.clone()).or_default(),
                now_ms,
                caps.user_per_hour,
            ) {
                return Err(format!(
                    "user {u}'s outside calls this hour (external_calls_per_hour)"
                ));
            }
            *st.user_active.entry(key.clone()).or_default() += 1;
            st.user_starts.entry(key).or_default().push_back(now_ms);
        }
        *st.tenant_active.entry(tenant).or_default() += 1;
        st.tenant_starts
            .entry(tenant)
            .or_default()
            .push_back(now_ms);
        Ok(())
    }

    /// A call counted by [`ExternalCalls::try_start`] ended.
    pub(crate) fn end(&self, tenant: i64, user: Option<&str>) {
        let mut st = self.lock();
        if let Some(n) = st.tenant_active.get_mut(&tenant) {
            *n = n.saturating_sub(1);
        }
        if let Some(u) = user
            && let Some(n) = st.user_active.get_mut(&(tenant, Box::<str>::from(u)))
        {
            *n = n.saturating_sub(1);
        }
    }

    /// A place on `trunk` under its `call_limit` (emergency calls always get one).
    pub(crate) fn trunk_try_add(&self, trunk: &str, limit: Option<u32>, emergency: bool) -> bool {
        let mut st = self.lock();
        let n = st.trunk_active.entry(trunk.to_owned()).or_default();
        if !emergency && limit.is_some_and(|l| *n >= l) {
            return false;
        }
        *n += 1;
        true
    }

    pub(crate) fn trunk_remove(&self, trunk: &str) {
        if let Some(n) = self.lock().trunk_active.get_mut(trunk) {
            *n = n.saturating_sub(1);
        }
    }

    /// A run that never became a call gives back its fraud-cap place.
    pub(crate) fn forget(&self, run: ExternalRun) {
        if let Some((tenant, user)) = &run.counted {
            self.end(*tenant, user.as_deref());
        }
    }

    /// Outside calls in progress on `trunk`.
    pub fn trunk_calls(&self, trunk: &str) -> u32 {
        self.lock().trunk_active.get(trunk).copied().unwrap_or(0)
    }

    /// The counters and per-trunk gauges as Prometheus text.
    pub(crate) fn render(&self, o: &mut String) {
        for (name, help, v) in [
            (
                "vpbx_outbound_denied_total",
                "Outside calls refused by the platform's directions, classes or block-list.",
                &self.denied_total,
            ),
            (
                "vpbx_outbound_capped_total",
                "Outside calls refused by a fraud cap (calls in progress or per hour).",
                &self.capped_total,
            ),
            (
                "vpbx_outbound_started_total",
                "Outside calls sent to a trunk.",
                &self.started_total,
            ),
            (
                "vpbx_emergency_calls_total",
                "Emergency calls sent to a trunk.",
                &self.emergency_total,
            ),
        ] {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
        let st = self.lock();
        let _ = writeln!(
            o,
            "# HELP vpbx_trunk_calls Outside calls in progress per trunk.\n# TYPE vpbx_trunk_calls gauge"
        );
        let mut trunks: Vec<_> = st.trunk_active.iter().collect();
        trunks.sort();
        for (t, n) in trunks {
            let _ = writeln!(o, "vpbx_trunk_calls{{trunk=\"{t}\"}} {n}");
        }
    }
}

/// A call's way out: the trunks still to try, and what it holds.
#[derive(Debug)]
pub(crate) struct ExternalRun {
    routes: VecDeque<Route>,
    caller_id: String,
    number: String,
    emergency: bool,
    /// The trunk the call is on (its call-limit place).
    trunk: Option<String>,
    /// Counted under the fraud caps: (tenant, calling user).
    counted: Option<(i64, Option<Box<str>>)>,
}

/// The platform's decision for a call of `caller` (a user's extension) to `digits`.
pub(crate) fn decide(
    platform: Option<&Platform>,
    cfg: &TenantConfig,
    caller: &str,
    digits: &str,
) -> Result<Routed, String> {
    let Some(p) = platform else {
        return Err("no platform file applied".into());
    };
    let user = cfg.user(caller);
    let classes: Option<Vec<Class>> = user.and_then(pbx_dialplan::user_classes);
    let tenant = TenantOutbound {
        domain: &cfg.domain,
        country: cfg.country.as_deref(),
        number: cfg.outbound.as_ref().and_then(|o| o.number.as_deref()),
    };
    let who = CallerOutbound {
        classes: classes.as_deref(),
        number: user.and_then(|u| u.outbound_number.as_deref()),
    };
    match pbx_dialplan::decide(p, &tenant, &who, digits) {
        Decision::Allowed(r) => Ok(r),
        Decision::Denied(reason) => Err(reason.to_string()),
    }
}

impl ExternalRun {
    pub(crate) fn new(routed: Routed, counted: Option<(i64, Option<Box<str>>)>) -> ExternalRun {
        ExternalRun {
            emergency: routed.class == Class::Emergency,
            routes: routed.routes.into(),
            caller_id: routed.caller_id,
            number: routed.number,
            trunk: None,
            counted,
        }
    }

    pub(crate) fn is_emergency(&self) -> bool {
        self.emergency
    }

    /// The trunk the call is on now.
    pub(crate) fn trunk(&self) -> Option<&str> {
        self.trunk.as_deref()
    }

    /// The way out of a ring group's outside member who answered: the places it holds
    /// stay with the call until it ends.
    pub(crate) fn of_member(hold: MemberHold) -> ExternalRun {
        ExternalRun {
            routes: VecDeque::new(),
            caller_id: String::new(),
            number: hold.number,
            emergency: false,
            trunk: Some(hold.trunk),
            counted: hold.counted,
        }
    }
}

/// What ringing a ring group's outside member holds: a place on its trunk (under the
/// trunk's `call_limit`) and one under the tenant's fraud caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberHold {
    /// `external:NUMBER`, as the fork's member.
    pub(crate) member: String,
    number: String,
    trunk: String,
    counted: Option<(i64, Option<Box<str>>)>,
}

impl Shard {
    /// Decides an outside call of `caller` (a user's extension) to `digits` and takes its
    /// place under the fraud caps; a refusal is logged and counted, and nothing leaves.
    pub(crate) fn outside_call(
        &self,
        tenant: &crate::tenants::TenantSnap,
        caller: &str,
        digits: &str,
    ) -> Result<Box<ExternalRun>, Refusal> {
        let cfg = &tenant.config;
        let platform = self.ctx.platform();
        let mut routed = match decide(platform.as_deref(), cfg, caller, digits) {
            Ok(r) => r,
            Err(reason) => {
                self.ctx.external.denied_total.fetch_add(1, Relaxed);
                tracing::warn!(tenant = %tenant.domain, from = %caller, to = %digits, %reason, "outside call denied");
                return Err(Refusal::Denied(reason));
            }
        };
        // A trunk qualify says is down is tried last (stable: priority order otherwise).
        routed
            .routes
            .sort_by_key(|r| !self.ctx.trunks.is_usable(&r.trunk));
        if routed.class == Class::Emergency {
            tracing::warn!(tenant = %tenant.domain, from = %caller, to = %digits, "emergency call");
            return Ok(Box::new(ExternalRun::new(routed, None)));
        }
        let user = cfg.user(caller);
        let caps = Caps {
            tenant_active: cfg.limits.max_external_calls,
            tenant_per_hour: cfg.limits.external_calls_per_hour,
            user_active: user.and_then(|u| u.max_external_calls),
            user_per_hour: user.and_then(|u| u.external_calls_per_hour),
        };
        if let Err(cap) =
            self.ctx
                .external
                .try_start(tenant.id, Some(caller), caps, self.ctx.wall_ms())
        {
            self.ctx.external.capped_total.fetch_add(1, Relaxed);
            tracing::warn!(tenant = %tenant.domain, from = %caller, to = %digits, cap = %cap, "outside call refused: fraud cap reached");
            return Err(Refusal::Cap(cap));
        }
        Ok(Box::new(ExternalRun::new(
            routed,
            Some((tenant.id, Some(caller.into()))),
        )))
    }

    /// Rings the next trunk of the call's way out; none left: the caller gets 503 (no
    /// trunk could take the call) unless a trunk already answered the caller's fate.
    pub(crate) fn ring_next_trunk(&mut self, id: u64) {
        let platform = self.ctx.platform();
        loop {
            let Some(slot) = self.call_slot_mut(id) else {
                return;
            };
            let Some(run) = slot.external.as_deref_mut() else {
                return;
            };
            if let Some(t) = run.trunk.take() {
                self.ctx.external.trunk_remove(&t);
            }
            let Some(slot) = self.call_slot_mut(id) else {
                return;
            };
            let Some(run) = slot.external.as_deref_mut() else {
                return;
            };
            let Some(route) = run.routes.pop_front() else {
                tracing::info!(call = id, number = %run.number, "no trunk left for the outside call");
                let number = run.number.clone();
                return self.with_call(id, |c, env| {
                    c.unreachable(&number, None, pbx_call::Outcome::Congestion, env)
                });
            };
            let emergency = run.emergency;
            let caller_id = run.caller_id.clone();
            let number = run.number.clone();
            let more = !run.routes.is_empty();
            let Some(trunk) = platform
                .as_ref()
                .and_then(|p| p.trunk(&route.trunk))
                .cloned()
            else {
                tracing::warn!(trunk = %route.trunk, "the trunk is gone from the platform file");
                continue;
            };
            let ext = &self.ctx.external;
            if !ext.trunk_try_add(&trunk.name, Some(trunk.call_limit), emergency) {
                tracing::info!(trunk = %trunk.name, limit = trunk.call_limit, "trunk at its call limit; next trunk");
                continue;
            }
            let Some(fork) = self.trunk_fork(&trunk, &route.digits, &caller_id) else {
                self.ctx.external.trunk_remove(&trunk.name);
                continue;
            };
            let counter = if emergency {
                &self.ctx.external.emergency_total
            } else {
                &self.ctx.external.started_total
            };
            counter.fetch_add(1, Relaxed);
            let Some(run) = self
                .call_slot_mut(id)
                .and_then(|s| s.external.as_deref_mut())
            else {
                self.ctx.external.trunk_remove(&trunk.name);
                return;
            };
            run.trunk = Some(trunk.name.clone());
            let failover = match trunk.failover_timeout {
                0 => DEFAULT_FAILOVER,
                s => Duration::from_secs(u64::from(s)),
            };
            let target = RingTarget {
                ext: number,
                name: String::new(),
                ring_timeout: EXTERNAL_RING,
                contacts: vec![fork],
                on_busy: None,
                on_no_answer: None,
                on_unavailable: None,
                group: false,
                hunt: more,
                external: true,
                first_response: Some(failover),
            };
            tracing::info!(call = id, trunk = %trunk.name, digits = %route.digits, "outside call");
            return self.with_call(id, |c, env| c.ring(target, env));
        }
    }

    /// The INVITE's target on `trunk` for `digits`: UDP or TCP to its host's address (a
    /// name is looked up when the platform file is applied or reloaded and refreshed in the
    /// background, [`crate::trunks::TrunkBoard::resolve`]; one not resolved yet or not
    /// resolvable is logged and the trunk skipped).
    fn trunk_fork(
        &self,
        trunk: &pbx_dialplan::Trunk,
        digits: &str,
        caller_id: &str,
    ) -> Option<ForkTarget> {
        let ip = match self.ctx.trunks.resolve(&self.ctx, &trunk.host) {
            Ok(Some(ip)) => ip,
            Ok(None) => {
                tracing::warn!(trunk = %trunk.name, host = %trunk.host, "trunk host not resolved yet; trunk skipped");
                return None;
            }
            Err(error) => {
                tracing::warn!(trunk = %trunk.name, host = %trunk.host, %error, "trunk host cannot be resolved; trunk skipped");
                return None;
            }
        };
        let addr = SocketAddr::new(ip, trunk.port);
        if self.ctx.transports.is_own_listen_addr(addr) {
            tracing::warn!(trunk = %trunk.name, %addr, "trunk address is vpbx's own; trunk skipped");
            return None;
        }
        let (target, local) = self.trunk_target(addr, trunk.transport)?;
        let tp = match trunk.transport {
            pbx_dialplan::TrunkTransport::Tcp => ";transport=tcp",
            pbx_dialplan::TrunkTransport::Udp => "",
        };
        let uri = sip_msg::Uri::parse(&format!("sip:{digits}@{addr}{tp}")).ok()?;
        let from_domain = trunk
            .from_domain
            .clone()
            .unwrap_or_else(|| trunk.host.clone());
        let (from_user, asserted) = match &trunk.from_user {
            Some(u) => (u.clone(), Some(format!("<sip:{caller_id}@{from_domain}>"))),
            None => (caller_id.to_owned(), None),
        };
        Some(ForkTarget {
            uri,
            target,
            local,
            member: None,
            trunk: Some(Box::new(TrunkFork {
                name: trunk.name.clone(),
                from_user,
                from_domain,
                asserted,
                username: trunk.username.clone().unwrap_or_default(),
                password: trunk.secret.clone().unwrap_or_default(),
                codecs: trunk
                    .codecs
                    .iter()
                    .map(|c| pbx_sdp::Codec::new(c.payload_type(), c.name(), 8000))
                    .collect(),
            })),
        })
    }

    /// A ring group's outside member `number`: the tenant's outbound rules decide it as if
    /// dialled after the prefix, with the tenant's defaults (its outbound number as caller
    /// ID; no user's classes, a group is the tenant's), under the tenant's fraud caps and
    /// the trunks' call limits; the first trunk of the decision with room rings it (no
    /// failover to another trunk within the stage). `None`: refused (logged and counted
    /// like a refused outside call); the member is skipped.
    pub(crate) fn member_fork(
        &self,
        tenant: &crate::tenants::TenantSnap,
        number: &str,
    ) -> Option<(ForkTarget, MemberHold)> {
        let cfg = &tenant.config;
        let platform = self.ctx.platform();
        let mut routed = match decide(platform.as_deref(), cfg, "", number) {
            Ok(r) => r,
            Err(reason) => {
                self.ctx.external.denied_total.fetch_add(1, Relaxed);
                tracing::warn!(tenant = %tenant.domain, member = %number, %reason, "group member: outside number denied; skipped");
                return None;
            }
        };
        routed
            .routes
            .sort_by_key(|r| !self.ctx.trunks.is_usable(&r.trunk));
        let emergency = routed.class == Class::Emergency;
        let counted = if emergency {
            None
        } else {
            let caps = Caps {
                tenant_active: cfg.limits.max_external_calls,
                tenant_per_hour: cfg.limits.external_calls_per_hour,
                ..Caps::default()
            };
            if let Err(cap) = self
                .ctx
                .external
                .try_start(tenant.id, None, caps, self.ctx.wall_ms())
            {
                self.ctx.external.capped_total.fetch_add(1, Relaxed);
                tracing::warn!(tenant = %tenant.domain, member = %number, cap = %cap, "group member: fraud cap reached; skipped");
                return None;
            }
            Some((tenant.id, None))
        };
        for route in &routed.routes {
            let Some(trunk) = platform.as_ref().and_then(|p| p.trunk(&route.trunk)) else {
                continue;
            };
            if !self
                .ctx
                .external
                .trunk_try_add(&trunk.name, Some(trunk.call_limit), emergency)
            {
                continue;
            }
            let Some(mut fork) = self.trunk_fork(trunk, &route.digits, &routed.caller_id) else {
                self.ctx.external.trunk_remove(&trunk.name);
                continue;
            };
            let member = format!("external:{number}");
            fork.member = Some(member.clone());
            let counter = if emergency {
                &self.ctx.external.emergency_total
            } else {
                &self.ctx.external.started_total
            };
            counter.fetch_add(1, Relaxed);
            tracing::info!(tenant = %tenant.domain, member = %number, trunk = %trunk.name, digits = %route.digits, "group member: outside call");
            return Some((
                fork,
                MemberHold {
                    member,
                    number: routed.number.clone(),
                    trunk: trunk.name.clone(),
                    counted,
                },
            ));
        }
        tracing::info!(tenant = %tenant.domain, member = %number, "group member: no trunk could take the call; skipped");
        if let Some((t, _)) = counted {
            self.ctx.external.end(t, None);
        }
        None
    }

    /// Gives back what ringing an outside group member held.
    pub(crate) fn release_member(&self, hold: MemberHold) {
        self.ctx.external.trunk_remove(&hold.trunk);
        if let Some((t, u)) = &hold.counted {
            self.ctx.external.end(*t, u.as_deref());
        }
    }

    /// The call ended: its trunk place and its fraud-cap counts go.
    pub(crate) fn release_external(&mut self, id: u64) {
        let Some(run) = self.call_slot_mut(id).and_then(|s| s.external.take()) else {
            return;
        };
        if let Some(t) = &run.trunk {
            self.ctx.external.trunk_remove(t);
        }
        if let Some((tenant, user)) = &run.counted {
            self.ctx.external.end(*tenant, user.as_deref());
        }
    }
}
