//! OPTIONS qualify (issue 3, item 6): every registered contact is asked
//! `OPTIONS` once per `[sip] qualify_interval_s` through the same path a
//! call would take (NAT-aware), which also keeps NAT bindings open. Any
//! response means reachable (with the round-trip time); no response before
//! Timer F means unreachable. The status lives with the binding, is
//! written to the store when it changes, and `vpbx registrations` shows it.
//! The schedule is the registrar's (pure); this module only sends.

use std::time::Instant;

use bytes::Bytes;
use pbx_registrar::{AorKey, Binding, Qualify};
use sip_msg::{HeaderName, Method, Request};
use sip_txn::TxnKey;

use crate::shard::Shard;

/// A qualify OPTIONS in flight.
#[derive(Debug)]
pub(crate) struct Probe {
    aor: AorKey,
    binding_key: String,
    sent: Instant,
}

impl Shard {
    /// Sends OPTIONS to every contact whose turn has come.
    pub(crate) fn qualify_due(&mut self) {
        let now_ms = self.ctx.wall_ms();
        if self.registrar.next_qualify().is_none_or(|t| t > now_ms) {
            return;
        }
        for (aor, b) in self.registrar.due_qualify(now_ms) {
            self.probe(aor, &b);
        }
    }

    fn probe(&mut self, aor: AorKey, b: &Binding) {
        let Some(tenant) = self.ctx.directory().by_id(aor.tenant).cloned() else {
            return;
        };
        let Some(user) = tenant.calls.get(&*aor.user).cloned() else {
            return;
        };
        let Some(t) = self.fork_target(b, &user) else {
            return;
        };
        let ep = &mut self.calls.ep;
        let mut req = Request {
            method: Method::Options,
            uri: t.uri.clone(),
            headers: Default::default(),
            body: Bytes::new(),
        };
        let h = &mut req.headers;
        h.push(
            HeaderName::Via,
            format!(
                "SIP/2.0/{} {};branch={};rport",
                t.local.transport,
                t.local.host_port,
                ep.new_branch()
            ),
        );
        h.push(HeaderName::MaxForwards, "70");
        h.push(
            HeaderName::From,
            format!("<sip:vpbx@{}>;tag={}", tenant.domain, ep.new_tag()),
        );
        h.push(HeaderName::To, format!("<{}>", t.uri));
        h.push(HeaderName::CallId, format!("{}@vpbx", ep.new_tag()));
        h.push(HeaderName::CSeq, "1 OPTIONS");
        h.push(HeaderName::UserAgent, "vpbx");
        let now = self.ctx.now();
        if let Ok(key) = self.calls.ep.send_request(now, t.target, req) {
            self.calls.probes.insert(
                key,
                Probe {
                    aor,
                    binding_key: b.key().into_owned(),
                    sent: now,
                },
            );
        }
    }

    /// The outcome of a probe: `true` = a response came.
    pub(crate) fn probe_done(&mut self, key: TxnKey, answered: bool) -> bool {
        let Some(p) = self.calls.probes.remove(&key) else {
            return false;
        };
        let q = if answered {
            let rtt = self.ctx.now().saturating_duration_since(p.sent);
            Qualify::Reachable {
                rtt_ms: u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX),
            }
        } else {
            Qualify::Unreachable
        };
        if !answered {
            tracing::info!(aor = %p.aor.user, tenant = p.aor.tenant, "contact did not answer OPTIONS");
        }
        let change = self
            .registrar
            .set_qualify(&p.aor, &p.binding_key, q, self.ctx.wall_ms());
        if let Some(c) = change {
            self.persist(vec![c]);
        }
        true
    }
}
