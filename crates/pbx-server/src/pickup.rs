//! Call pickup (`service_codes.pickup`, `*8`; `directed_pickup`, `**EXT`): a user
//! answers, from their own phone, a call ringing a colleague of their pickup group
//! (`users[].pickup_group`).
//!
//! Calls live in the shard of their caller's Call-ID, the picker's INVITE in another.
//! [`Pickups`] is the map between them, shared by the shards: which users' phones each
//! call rings now ([`pbx_call::Call::ringing_users`], synced after every step of a call
//! that changes it). Dispatch sends an INVITE (and its CANCEL) dialing a pickup code to
//! the shard of the call it would pick ([`Pickups::route`], sticky per Call-ID so
//! retransmissions and the authenticated retry land in the same place). There the
//! picker is authenticated, the call is chosen again (now by the authenticated
//! extension) and [`pbx_call::Call::pickup`] makes the INVITE its answered party. With
//! nothing to pick the picker gets 480 "No Call To Pick Up".

use std::collections::HashMap;
use std::sync::Mutex;

use pbx_core::PickupCode;
use sip_msg::{Request, StatusCode};
use sip_txn::{Target, TxnKey};

use crate::Ctx;
use crate::shard::Shard;
use crate::tenants::TenantSnap;
use crate::transport::Flow;

/// How long a pickup INVITE's Call-ID keeps going to the shard first chosen for it
/// (Timer B, 64·T1 at the default T1).
const ROUTE_TTL_MS: u64 = 32_000;

/// One user rung by one call.
#[derive(Debug, Clone)]
struct Ringing {
    ext: Box<str>,
    shard: usize,
    call: u64,
    /// When the call started ringing this user (wall clock, ms).
    since_ms: u64,
    /// The calling user (a call cannot be picked up by its own caller).
    caller: Option<Box<str>>,
}

/// Which users' phones ring for which call, per tenant; and where pickup INVITEs went.
#[derive(Debug, Default)]
pub struct Pickups {
    ringing: Mutex<HashMap<i64, Vec<Ringing>>>,
    routes: Mutex<HashMap<Box<str>, (usize, u64)>>,
}

impl Pickups {
    /// Call `call` of shard `shard` rings `exts` now (nobody: it rings no more).
    /// A user rung before keeps their ringing time.
    pub(crate) fn update(
        &self,
        tenant: i64,
        (shard, call): (usize, u64),
        caller: Option<&str>,
        exts: &[Box<str>],
        now_ms: u64,
    ) {
        let mut map = self.ringing.lock().unwrap_or_else(|p| p.into_inner());
        let list = map.entry(tenant).or_default();
        let mut kept: Vec<Ringing> = Vec::with_capacity(exts.len());
        list.retain(|r| {
            if r.shard != shard || r.call != call {
                return true;
            }
            if exts.contains(&r.ext) {
                kept.push(r.clone());
            }
            false
        });
        for ext in exts {
            let since_ms = kept
                .iter()
                .find(|r| r.ext == *ext)
                .map_or(now_ms, |r| r.since_ms);
            list.push(Ringing {
                ext: ext.clone(),
                shard,
                call,
                since_ms,
                caller: caller.map(Box::from),
            });
        }
        if list.is_empty() {
            map.remove(&tenant);
        }
    }

    /// The call `picker` may pick up with `code`: among the calls ringing a user of the
    /// picker's pickup group (for a directed pickup, that user), other than the picker
    /// and not placed by the picker, the one that has rung longest. `(shard, call)`.
    pub(crate) fn find(
        &self,
        tenant: &TenantSnap,
        picker: &str,
        code: &PickupCode,
    ) -> Option<(usize, u64)> {
        let cfg = &tenant.config;
        let group = cfg.user(picker)?.pickup_group.as_deref()?;
        let same_group =
            |ext: &str| cfg.user(ext).and_then(|u| u.pickup_group.as_deref()) == Some(group);
        let wanted = match code {
            PickupCode::Group => None,
            PickupCode::Directed(ext) => Some(tenant.canonical_ext(ext)),
        };
        let map = self.ringing.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&tenant.id)?
            .iter()
            .filter(|r| &*r.ext != picker && r.caller.as_deref() != Some(picker))
            .filter(|r| wanted.is_none_or(|w| w == &*r.ext))
            .filter(|r| same_group(&r.ext))
            .min_by_key(|r| (r.since_ms, r.call))
            .map(|r| (r.shard, r.call))
    }

    /// The shard for a pickup INVITE or CANCEL with `call_id`: the one chosen first
    /// for that Call-ID (within [`ROUTE_TTL_MS`]), else `choose()`.
    pub(crate) fn route(
        &self,
        call_id: &str,
        now_ms: u64,
        choose: impl FnOnce() -> usize,
    ) -> usize {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((shard, at)) = routes.get(call_id)
            && now_ms.saturating_sub(*at) < ROUTE_TTL_MS
        {
            return *shard;
        }
        if routes.len() >= 1024 {
            routes.retain(|_, (_, at)| now_ms.saturating_sub(*at) < ROUTE_TTL_MS);
        }
        let shard = choose();
        routes.insert(call_id.into(), (shard, now_ms));
        shard
    }
}

/// The pickup code `req` dials in `tenant`, if any (INVITE and CANCEL out of dialog).
pub(crate) fn code_of(tenant: &TenantSnap, req: &Request) -> Option<PickupCode> {
    let dialed = req
        .uri
        .user_unescaped()
        .and_then(|u| String::from_utf8(u).ok())?;
    tenant.config.service_codes.pickup_of(&dialed)
}

/// (Dispatch.) The shard a pickup INVITE or CANCEL goes to: the shard of the call the
/// From user would pick, else the Call-ID's own shard (which answers 480).
pub(crate) fn shard_for(ctx: &Ctx, tenant: &TenantSnap, req: &Request, code: &PickupCode) -> usize {
    let call_id = req.headers.call_id().unwrap_or_default();
    ctx.pickups.route(call_id, ctx.wall_ms(), || {
        let from = req
            .headers
            .from()
            .and_then(|f| f.uri.user)
            .unwrap_or_default();
        let picker = tenant
            .ext_of(&from)
            .unwrap_or_else(|| tenant.canonical_ext(&from));
        ctx.pickups
            .find(tenant, picker, code)
            .map(|(shard, _)| shard)
            .filter(|s| *s < ctx.shards.len())
            .unwrap_or_else(|| ctx.shard_for(&call_id))
    })
}

impl Shard {
    /// An authenticated user's INVITE dialing a pickup code: the call it picks must
    /// ring in this shard (dispatch sent it here); else, or when that call cannot be
    /// picked any more, 480.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_pickup(
        &mut self,
        key: TxnKey,
        req: Request,
        source: Target,
        flow: Flow,
        tenant: &TenantSnap,
        picker: &str,
        code: PickupCode,
    ) {
        if let Some(u) = tenant.calls.get(picker)
            && self.ctx.presence.user_calls(tenant.id, picker) >= u.call_limit
        {
            // The picker's own hard cap, as for any call they place.
            let mut r = self.response(&req, StatusCode::FORBIDDEN, &flow);
            r.reason = "Call Limit Reached".into();
            let now = self.ctx.now();
            let _ = self.calls.ep.send_response(now, key, r);
            return;
        }
        let found = self
            .ctx
            .pickups
            .find(tenant, picker, &code)
            .filter(|(shard, _)| *shard == self.id)
            .map(|(_, call)| call);
        tracing::info!(tenant = %tenant.domain, picker, ?code, found = found.is_some(), "call pickup");
        let Some(call) = found else {
            return self.refuse_pickup(key, &req, StatusCode::TEMPORARILY_UNAVAILABLE, &flow);
        };
        let inbound = pbx_call::Inbound {
            key,
            invite: req.clone(),
            source,
            local: self.local_sip(&flow),
        };
        let rung = self.calls_rung(call);
        match self.call_pickup(call, inbound, picker) {
            Some(Ok(())) => {
                // The user rung is no longer in the call; the picker is (Joined).
                if let Some(ext) = rung {
                    self.release_user(call, &ext);
                }
            }
            Some(Err(status)) => self.refuse_pickup(key, &req, status, &flow),
            None => self.refuse_pickup(key, &req, StatusCode::TEMPORARILY_UNAVAILABLE, &flow),
        }
    }

    fn refuse_pickup(&mut self, key: TxnKey, req: &Request, status: StatusCode, flow: &Flow) {
        let mut r = self.response(req, status, flow);
        if status == StatusCode::TEMPORARILY_UNAVAILABLE {
            r.reason = "No Call To Pick Up".into();
        }
        let now = self.ctx.now();
        let _ = self.calls.ep.send_response(now, key, r);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn office() -> TenantSnap {
        let yaml = "domain: p.test\nusers:\n\
            \x20 - {ext: \"1001\", name: A, secret: secret-1001-a, pickup_group: sales}\n\
            \x20 - {ext: \"1101\", name: B, secret: secret-1101-b, pickup_group: sales}\n\
            \x20 - {ext: \"1102\", name: C, secret: secret-1102-c, pickup_group: sales}\n\
            \x20 - {ext: \"1201\", name: D, secret: secret-1201-d, pickup_group: support}\n\
            \x20 - {ext: \"1301\", name: E, secret: secret-1301-e}\n";
        let cfg = pbx_core::TenantConfig::from_yaml_str(yaml).unwrap();
        crate::tenants::snapshot(1, 1, &cfg)
    }

    fn exts(list: &[&str]) -> Vec<Box<str>> {
        list.iter().map(|e| Box::from(*e)).collect()
    }

    #[test]
    fn group_pickup_takes_the_call_ringing_longest_for_a_group_mate() {
        let t = office();
        let p = Pickups::default();
        p.update(1, (0, 10), Some("1001"), &exts(&["1101"]), 1_000);
        p.update(1, (1, 20), None, &exts(&["1101"]), 500);
        p.update(1, (1, 30), None, &exts(&["1201"]), 100);
        assert_eq!(p.find(&t, "1102", &PickupCode::Group), Some((1, 20)));
        // Only 1201's own phone rings in support; a user without a group gets nothing.
        assert_eq!(p.find(&t, "1201", &PickupCode::Group), None);
        assert_eq!(p.find(&t, "1301", &PickupCode::Group), None);
        // The call ringing 1101 the longest ends: the other one is next.
        p.update(1, (1, 20), None, &[], 2_000);
        assert_eq!(p.find(&t, "1102", &PickupCode::Group), Some((0, 10)));
    }

    #[test]
    fn nobody_picks_up_their_own_call_or_their_own_ringing_phone() {
        let t = office();
        let p = Pickups::default();
        p.update(1, (0, 10), Some("1001"), &exts(&["1101"]), 1_000);
        assert_eq!(p.find(&t, "1001", &PickupCode::Group), None);
        assert_eq!(p.find(&t, "1101", &PickupCode::Group), None);
        assert_eq!(
            p.find(&t, "1001", &PickupCode::Directed("1101".into())),
            None
        );
    }

    #[test]
    fn directed_pickup_needs_the_extension_ringing_in_the_pickers_group() {
        let t = office();
        let p = Pickups::default();
        p.update(1, (0, 10), None, &exts(&["1101", "1201"]), 1_000);
        let d = |e: &str| PickupCode::Directed(e.into());
        assert_eq!(p.find(&t, "1102", &d("1101")), Some((0, 10)));
        assert_eq!(p.find(&t, "1102", &d("1201")), None, "another group");
        assert_eq!(p.find(&t, "1102", &d("1001")), None, "not ringing");
        // A user still rung keeps the time it started ringing.
        p.update(1, (0, 10), None, &exts(&["1101"]), 5_000);
        p.update(1, (0, 11), None, &exts(&["1101"]), 3_000);
        assert_eq!(p.find(&t, "1102", &d("1101")), Some((0, 10)));
    }

    #[test]
    fn a_pickup_call_id_keeps_its_shard_for_a_while() {
        let p = Pickups::default();
        assert_eq!(p.route("c1", 0, || 3), 3);
        assert_eq!(p.route("c1", 10_000, || 5), 3);
        assert_eq!(p.route("c1", 40_000, || 5), 5);
    }
}
