//! Classification: which owner a message goes to. The order is fixed and
//! documented in docs/architecture.md ("Classification"):
//!
//! 0. Gate: banned or over-rate sources are dropped before parsing; a
//!    message that fails to parse is answered (400/505/413/513 built from
//!    its raw lines) when it is a request we can answer, else dropped.
//!    A known scanner User-Agent bans its source and is dropped.
//! 1. A response → the shard named in its top Via branch (our branches
//!    carry the shard); a response to a branch we did not make is dropped.
//! 2. A request with a To tag → the shard named in the tag (our tags carry
//!    the shard); its transaction or dialog is looked up there.
//! 3. A request from a trunk (its registered contact token, a shared trunk's
//!    `sources`, a dedicated trunk's host and port) → the tenant owning the
//!    number it is for ([`from_trunk`]).
//! 4. The Request-URI host (for REGISTER, the To host) → the tenant with
//!    that domain.
//! 5. A Request-URI naming one of our own addresses → the own-IP policy:
//!    accepted when the user part (for REGISTER the To user) is an auth
//!    user of exactly one tenant, else answered 404 and logged.
//! 6. Anything else is dropped without an answer and counted
//!    (`vpbx_sip_dropped_total{reason="unknown_domain"}`).
//!
//! Out-of-dialog requests are sharded by Call-ID, REGISTER by AOR
//! (tenant + user), so each call and each registration has one owner;
//! SUBSCRIBE by the Request-URI's user, so MWI subscriptions live with the
//! user's bindings; an INVITE dialing a pickup code (and its CANCEL) by the
//! call it would pick ([`crate::pickup`]).

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip_msg::{HeaderName, Host, HostRef, Message, Method, Request, StatusCode};

use crate::metrics::Drop;
use crate::shard::{Inbound, ShardMsg};
use crate::tenants::TenantSnap;
use crate::transport::Flow;
use crate::{Ctx, OwnIpPolicy};

/// A parsed message and where it came from.
#[derive(Debug)]
pub struct Arrival {
    pub msg: Message,
    pub flow: Flow,
    /// The datagram, when the trace wants the exact bytes.
    pub raw: Option<Bytes>,
}

/// Entry point for one UDP datagram.
pub fn datagram(ctx: &Arc<Ctx>, data: &[u8], flow: Flow) {
    let now = ctx.now();
    match ctx.security.admit(flow.remote.ip(), now) {
        Ok(()) => {}
        Err(crate::security::Refusal::Banned) => return ctx.metrics.drop(Drop::Banned),
        Err(crate::security::Refusal::RateLimited) => return ctx.metrics.drop(Drop::RateLimited),
    }
    if data
        .iter()
        .all(|b| matches!(b, b'\r' | b'\n' | b'\0' | b' '))
    {
        // CRLF (or NUL) keep-alives some phones send over UDP: nothing to answer.
        return;
    }
    match sip_msg::parse_datagram(data, &ctx.limits) {
        Ok(msg) => message(
            ctx,
            Arrival {
                msg,
                flow,
                raw: ctx.trace.enabled().then(|| Bytes::copy_from_slice(data)),
            },
        ),
        Err(e) => {
            ctx.metrics.drop(Drop::Unparsable);
            ctx.trace_in_raw(&flow, data);
            // Never answer an ACK (RFC 3261 §17.2.1), even a broken one.
            if e.response_status().is_some()
                && !data.trim_ascii_start().starts_with(b"ACK ")
                && let Some(resp) = sip_msg::error_response(data, &e)
            {
                tracing::debug!(remote = %flow.remote, error = %e, "unparsable request answered");
                if let Some(code) = e.response_status() {
                    ctx.metrics.response_out(code.as_u16());
                }
                ctx.transports.send(ctx, &flow, Bytes::from(resp));
            }
        }
    }
}

/// Entry point for a parsed message (UDP after parsing, TCP after framing).
pub fn message(ctx: &Arc<Ctx>, arrival: Arrival) {
    let Arrival { msg, flow, raw } = arrival;
    ctx.trace_in(&flow, &msg, raw);
    let req = match msg {
        Message::Response(resp) => {
            ctx.metrics.response_in();
            let shard = resp
                .headers
                .top_via()
                .and_then(|v| v.branch)
                .and_then(|b| crate::ids::shard_of_branch(&b));
            match shard {
                Some(s) if s < ctx.shards.len() => {
                    ctx.deliver(s, ShardMsg::Response(Box::new((resp, flow))), None);
                }
                _ => ctx.metrics.drop(Drop::StrayResponse),
            }
            return;
        }
        Message::Request(r) => r,
    };
    ctx.metrics.request_in(&req.method);

    if let Some(ua) = req.headers.get(&HeaderName::UserAgent)
        && ctx.security.is_scanner(ua)
    {
        ctx.metrics.drop(Drop::Scanner);
        if ctx.security.ban(
            flow.remote.ip(),
            ctx.now(),
            ctx.wall_ms(),
            "scanner User-Agent",
        ) {
            ctx.metrics
                .bans_total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        return;
    }

    // 2. In-dialog (or a request answered with our tag, like the ACK of a
    //    407): the shard that made the tag owns it.
    if let Some(shard) = req.headers.to_tag().and_then(crate::ids::shard_of_tag)
        && shard < ctx.shards.len()
    {
        let tenant = tenant_of(ctx, &req);
        return ctx.deliver(
            shard,
            ShardMsg::Sip(Box::new(Inbound {
                req,
                flow,
                tenant,
                trunk: None,
            })),
            Some(flow),
        );
    }

    // A Request-URI scheme we never serve: 416 (RFC 3261 §8.2.2.1; RFC 4475
    // unkscm, novelsc). Not routed on To.
    if matches!(req.uri.scheme, sip_msg::Scheme::Other(_)) {
        let resp = crate::shard::simple_response(&req, StatusCode::UNSUPPORTED_URI_SCHEME, &flow);
        ctx.metrics.response_out(416);
        ctx.transports.send(ctx, &flow, resp);
        return;
    }

    // 3. Trunks: a request from a provider trunk's address.
    let Some(req) = from_trunk(ctx, req, flow) else {
        return;
    };

    // 4./5./6.
    let Some(tenant) = tenant_of(ctx, &req) else {
        if is_own_address(ctx, &req)
            && req.method != Method::Ack
            && ctx.own_ip_policy != OwnIpPolicy::Drop
        {
            tracing::info!(remote = %flow.remote, method = %req.method, "request to our own address matches no single tenant");
            let resp = crate::shard::simple_response(&req, StatusCode::NOT_FOUND, &flow);
            ctx.metrics.response_out(404);
            ctx.transports.send(ctx, &flow, resp);
            return;
        }
        ctx.metrics.drop(Drop::UnknownDomain);
        return;
    };
    let shard = if req.method == Method::Register {
        let user = req
            .headers
            .to_uri()
            .and_then(|t| t.user)
            .unwrap_or_default();
        ctx.shard_for(&(tenant.id, tenant.canonical_ext(user)))
    } else if req.method == Method::Subscribe {
        // MWI subscriptions live with the user's bindings (crate::mwi).
        let user = req.uri.user.clone().unwrap_or_default();
        ctx.shard_for(&(tenant.id, tenant.canonical_ext(&user)))
    } else if matches!(req.method, Method::Invite | Method::Cancel)
        && let Some(code) = crate::pickup::code_of(&tenant, &req)
    {
        // Call pickup: to the shard of the call it picks ([`crate::pickup`]).
        crate::pickup::shard_for(ctx, &tenant, &req, &code)
    } else {
        ctx.shard_for(&req.headers.call_id().unwrap_or_default())
    };
    ctx.deliver(
        shard,
        ShardMsg::Sip(Box::new(Inbound {
            req,
            flow,
            tenant: Some(tenant),
            trunk: None,
        })),
        Some(flow),
    );
}

/// Step 3: a request from a provider trunk's address. OPTIONS (the provider's keepalive)
/// gets 200; an INVITE (and its CANCEL) goes to the shard of its Call-ID with the tenant
/// that owns the number it is for, or gets 404 when the trunk carries no such number.
/// Other requests and other sources go on to the domain steps: the request comes back
/// (`None`: handled here).
fn from_trunk(ctx: &Ctx, req: Request, flow: Flow) -> Option<Request> {
    if !matches!(
        req.method,
        Method::Invite | Method::Options | Method::Cancel
    ) {
        return Some(req);
    }
    let Some(platform) = ctx.platform() else {
        return Some(req);
    };
    let Some(found) =
        crate::external::trunk_of(&platform, &req, flow.remote, |h| ctx.trunks.cached(h))
    else {
        return Some(req);
    };
    let answer = |status: StatusCode| {
        let resp = crate::shard::simple_response(&req, status, &flow);
        ctx.metrics.response_out(status.as_u16());
        ctx.transports.send(ctx, &flow, resp);
    };
    if req.method == Method::Options {
        answer(StatusCode::OK);
        return None;
    }
    let inbound = match found {
        Ok(i) => i,
        Err(trunk) => {
            tracing::info!(%trunk, ruri = %req.uri, "inbound call for no number bound on the trunk");
            answer(StatusCode::NOT_FOUND);
            return None;
        }
    };
    let number = platform.number(&inbound.number);
    let Some(tenant) = number.and_then(|n| ctx.directory().by_domain(&n.tenant)) else {
        tracing::warn!(trunk = %inbound.trunk, number = %inbound.number, "the number's tenant is not served here");
        answer(StatusCode::NOT_FOUND);
        return None;
    };
    let shard = ctx.shard_for(&req.headers.call_id().unwrap_or_default());
    ctx.deliver(
        shard,
        ShardMsg::Sip(Box::new(Inbound {
            req,
            flow,
            tenant: Some(tenant),
            trunk: Some(Box::new(inbound)),
        })),
        Some(flow),
    );
    None
}

/// Steps 4 and 5: the tenant by domain, or by the own-IP policy.
fn tenant_of(ctx: &Ctx, req: &Request) -> Option<Arc<TenantSnap>> {
    let dir = ctx.directory();
    let host = aor_host(req);
    match host {
        Some(HostRef::Domain(d)) => {
            if let Some(t) = dir.by_domain(d) {
                return Some(t);
            }
        }
        Some(HostRef::Ip(ip)) if dir.by_domain(&ip.to_string()).is_some() => {
            return dir.by_domain(&ip.to_string());
        }
        Some(HostRef::Ip(ip))
            if ctx.is_own_ip(ip) && ctx.own_ip_policy == OwnIpPolicy::UniqueAuthUser =>
        {
            // Own-IP policy: the user part must name an auth user of exactly one tenant.
            let user = if req.method == Method::Register {
                req.headers.to_uri().and_then(|t| t.user)
            } else {
                req.uri.user.as_deref()
            };
            if let Some(u) = user {
                return dir.by_unique_user(u);
            }
        }
        _ => {}
    }
    None
}

/// The host that names the tenant: the To host for REGISTER (the AOR's
/// domain), else the Request-URI host. A REGISTER whose To is not a SIP URI
/// falls back to the Request-URI, so the registrar can refuse it with 400.
/// Borrowed from the message: a domain as written (the directory's lookup
/// ignores case).
fn aor_host(req: &Request) -> Option<HostRef<'_>> {
    if req.method == Method::Register
        && let Some(to) = req.headers.to_uri()
        && to.sip
    {
        return to.host;
    }
    match req.uri.host.as_ref()? {
        Host::Domain(d) => Some(HostRef::Domain(d)),
        Host::Ip(ip) => Some(HostRef::Ip(*ip)),
    }
}

fn is_own_address(ctx: &Ctx, req: &Request) -> bool {
    let host = aor_host(req);
    matches!(host, Some(HostRef::Ip(ip)) if ctx.is_own_ip(ip))
}

/// True when `ip` is one of ours (a listen address, or external_ip).
pub fn own_ip(listen: &[IpAddr], external: Option<IpAddr>, ip: IpAddr) -> bool {
    external == Some(ip)
        || listen
            .iter()
            .any(|l| *l == ip || (l.is_unspecified() && ip.is_loopback()))
}
