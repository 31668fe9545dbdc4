//! Ring groups (`group:EXT`): the shard's side of [`pbx_call::group`].
//!
//! A call to a group rings it stage by stage ([`pbx_call::group::stages`]). When a
//! stage starts, members already in a call are skipped (`ringinuse=no`), and the
//! contacts of the others are gathered from the shards that own their registrations;
//! the stage then rings as one [`RingTarget`] whose forks carry their member. A stage
//! nobody answers comes back as [`pbx_call::Effect::Hunt`] and the next starts; after
//! the last, the call follows the group's `on_timeout` (or the caller gets 486 when
//! every member was busy, 480 otherwise). The member who answers owns the call
//! (`user:EXT` in its record) and is remembered for `rrmemory`, `leastrecent` and
//! `fewestcalls`.
//!
//! A member may be an outside number (`external:+79161234567`): when its stage starts it is
//! decided by the tenant's outbound rules ([`Shard::member_fork`]) and rung through a trunk
//! as one more fork of the stage, holding a trunk place and a fraud-cap place while it
//! rings; a refused one is skipped. When it answers, the call keeps those places
//! (`external:NUMBER` in its record, the trunk too) until it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use pbx_call::group::{GroupMemory, stages};
use pbx_call::{ForkTarget, Outcome, RingTarget};
use pbx_core::{Destination, Ext, GroupMember};
use pbx_registrar::{AorKey, Binding};

use crate::shard::{Shard, ShardMsg};
use crate::tenants::TenantSnap;

/// What every tenant group remembers between calls, shared by the shards (group
/// calls are rare next to packets: one lock per call and stage is cheap).
#[derive(Debug, Default)]
pub struct GroupMemories(Mutex<HashMap<(i64, Ext), GroupMemory>>);

impl GroupMemories {
    fn with<R>(&self, tenant: i64, group: &Ext, f: impl FnOnce(&mut GroupMemory) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry((tenant, group.clone())).or_default())
    }

    /// Forgets the groups of a tenant that is gone.
    pub fn forget_tenant(&self, tenant: i64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|(t, _), _| *t != tenant);
    }
}

/// A call's walk through one group.
#[derive(Debug)]
pub(crate) struct GroupRun {
    ext: Ext,
    name: String,
    ring_timeout: Duration,
    on_timeout: Option<Destination>,
    stages: VecDeque<Vec<GroupMember>>,
    hop: u32,
    /// A member was skipped as busy or said busy.
    any_busy: bool,
    /// Some stage rang a phone.
    rang: bool,
    /// The stage being gathered: lookups still out, contacts so far.
    pending: usize,
    contacts: Vec<ForkTarget>,
    /// A queue's attempt ([`crate::queues`]) rather than a group: it rings with
    /// [`pbx_call::Call::queue_ring`] and an attempt nobody could be rung for is
    /// reported to the queue as missed.
    queue: bool,
    /// The agents of a queue's attempt.
    agents: Vec<String>,
    /// The places the stage's outside members hold while they ring.
    held: Vec<crate::external::MemberHold>,
}

impl GroupRun {
    /// One attempt of a queue: ring `agents` for `ring_timeout`.
    pub(crate) fn for_queue(
        queue: &Ext,
        name: &str,
        agents: Vec<Ext>,
        ring_timeout: Duration,
    ) -> GroupRun {
        GroupRun {
            agents: agents.iter().map(ToString::to_string).collect(),
            ext: queue.clone(),
            name: name.to_owned(),
            ring_timeout,
            on_timeout: None,
            stages: VecDeque::from([agents.into_iter().map(GroupMember::User).collect()]),
            hop: 0,
            any_busy: false,
            rang: false,
            pending: 0,
            contacts: Vec::new(),
            queue: true,
            held: Vec::new(),
        }
    }

    /// The agents a queue's attempt rang.
    pub(crate) fn queue_agents(&self) -> Vec<String> {
        self.agents.clone()
    }
}

impl Shard {
    /// `group:EXT` reached through the destination graph or dialed.
    pub(crate) fn start_group(&mut self, id: u64, tenant: &TenantSnap, ext: &Ext, hop: u32) {
        let Some(g) = tenant.config.groups.iter().find(|g| g.ext == *ext) else {
            tracing::info!(tenant = %tenant.domain, group = %ext, "no such group; the call ends");
            return self.with_call(id, |c, env| c.goto_failed(env));
        };
        let random: u64 = rand::Rng::random(&mut self.rng);
        let order = self.ctx.groups.with(tenant.id, ext, |m| {
            m.retain_members(&g.members);
            stages(g.strategy, &g.members, m, random)
        });
        tracing::debug!(tenant = %tenant.domain, group = %ext, strategy = %g.strategy, stages = order.len(), "group");
        let run = GroupRun {
            ext: g.ext.clone(),
            name: g.name.clone(),
            ring_timeout: Duration::from_secs(u64::from(g.ring_timeout.max(1))),
            on_timeout: g.on_timeout.clone(),
            stages: order.into(),
            hop,
            any_busy: false,
            rang: false,
            pending: 0,
            contacts: Vec::new(),
            queue: false,
            agents: Vec::new(),
            held: Vec::new(),
        };
        let Some(slot) = self.call_slot_mut(id) else {
            return;
        };
        slot.group = Some(Box::new(run));
        self.next_stage(id);
    }

    /// Starts the group's next stage, or ends the walk through it.
    pub(crate) fn next_stage(&mut self, id: u64) {
        let Some(tenant) = self.calls_tenant(id) else {
            return;
        };
        let caller = self.calls_caller_user(id);
        // The last stage's outside members are not ringing any more.
        self.release_group_holds(id, None);
        loop {
            let Some(stage) = self
                .call_slot_mut(id)
                .and_then(|s| s.group.as_deref_mut())
                .map(|run| run.stages.pop_front())
            else {
                return;
            };
            let Some(stage) = stage else {
                return self.finish_group(id);
            };
            let mut ring = Vec::with_capacity(stage.len());
            let mut outside = Vec::new();
            let mut busy = false;
            for m in stage {
                let m = match m {
                    GroupMember::User(e) => e,
                    GroupMember::External(number) => {
                        outside.extend(self.member_fork(&tenant, &number));
                        continue;
                    }
                };
                if caller.as_deref() == Some(m.as_str()) {
                    continue;
                }
                if self.ctx.presence.user_calls(tenant.id, m.as_str()) > 0 {
                    busy = true;
                    continue;
                }
                ring.push(m);
            }
            let Some(run) = self.call_slot_mut(id).and_then(|s| s.group.as_deref_mut()) else {
                return;
            };
            run.any_busy |= busy;
            if ring.is_empty() && outside.is_empty() {
                continue;
            }
            run.pending = ring.len();
            run.contacts.clear();
            for (fork, hold) in outside {
                run.contacts.push(fork);
                run.held.push(hold);
            }
            if ring.is_empty() {
                return self.ring_stage(id);
            }
            let hop = run.hop;
            for m in ring {
                self.lookup_member(id, &tenant, m.as_str(), hop);
            }
            return;
        }
    }

    /// Asks the shard that owns a member's registrations for their contacts.
    fn lookup_member(&mut self, id: u64, tenant: &TenantSnap, ext: &str, hop: u32) {
        let aor = AorKey::new(tenant.id, ext);
        let owner = self.ctx.shard_for(&(tenant.id, ext));
        if owner == self.id {
            let bindings = self.registrar.bindings(&aor).to_vec();
            return self.on_member_contacts(id, ext.to_owned(), bindings);
        }
        let msg = ShardMsg::Lookup {
            aor,
            reply_shard: self.id,
            call: id,
            hop,
            member: true,
        };
        if self.ctx.shards[owner].try_send(msg).is_err() {
            // That shard is overloaded: this member is out of reach for this stage.
            self.on_member_contacts(id, ext.to_owned(), Vec::new());
        }
    }

    /// A member's contacts arrived; the stage rings once every member's are in.
    pub(crate) fn on_member_contacts(&mut self, id: u64, ext: String, bindings: Vec<Binding>) {
        let Some(tenant) = self.calls_tenant(id) else {
            return;
        };
        let now_ms = self.ctx.wall_ms();
        let targets: Vec<ForkTarget> = match tenant.calls.get(ext.as_str()) {
            Some(user) => bindings
                .iter()
                .filter(|b| b.expires_at_ms > now_ms)
                .filter_map(|b| self.fork_target(b, user))
                .map(|mut t| {
                    t.member = Some(ext.clone());
                    t
                })
                .collect(),
            None => Vec::new(),
        };
        let Some(run) = self.call_slot_mut(id).and_then(|s| s.group.as_deref_mut()) else {
            return;
        };
        if run.pending == 0 {
            return;
        }
        run.contacts.extend(targets);
        run.pending -= 1;
        if run.pending > 0 {
            return;
        }
        self.ring_stage(id);
    }

    /// Every member's contacts of the stage are in: ring them, or on to the next stage
    /// when nobody of this one can be rung.
    fn ring_stage(&mut self, id: u64) {
        let Some(run) = self.call_slot_mut(id).and_then(|s| s.group.as_deref_mut()) else {
            return;
        };
        if run.contacts.is_empty() {
            // Nobody of this stage is registered: on to the next.
            return self.next_stage(id);
        }
        run.rang = true;
        let queue = run.queue;
        let target = RingTarget {
            ext: run.ext.as_str().to_owned(),
            name: run.name.clone(),
            ring_timeout: run.ring_timeout,
            contacts: std::mem::take(&mut run.contacts),
            on_busy: run.on_timeout.clone(),
            on_no_answer: run.on_timeout.clone(),
            on_unavailable: run.on_timeout.clone(),
            group: true,
            hunt: !run.stages.is_empty(),
            external: false,
            first_response: None,
        };
        if queue {
            let rung = self.with_call_ret(id, |c, env| c.queue_ring(target, env));
            if rung != Some(true) {
                // The caller is no longer waiting for this attempt.
                self.queue_attempt_failed(id);
            }
            return;
        }
        self.with_call(id, |c, env| c.ring(target, env));
    }

    /// A queue's attempt could not ring anyone (or the call is not waiting): the queue
    /// counts it as missed.
    fn queue_attempt_failed(&mut self, id: u64) {
        // Nobody's phone rang (not registered, or busy): no RINGNOANSWER to log.
        if let Some(s) = self.call_slot_mut(id) {
            s.group = None;
        }
        self.ctx.queues.missed(&self.ctx, (self.id, id), &[]);
    }

    /// A stage ended unanswered ([`pbx_call::Effect::Hunt`]).
    pub(crate) fn on_hunt(&mut self, id: u64, busy: bool) {
        if let Some(run) = self.call_slot_mut(id).and_then(|s| s.group.as_deref_mut()) {
            run.any_busy |= busy;
        }
        self.next_stage(id);
    }

    /// Every stage is done: the group's `on_timeout`, or the caller's final status.
    fn finish_group(&mut self, id: u64) {
        self.release_group_holds(id, None);
        if self
            .call_slot_mut(id)
            .and_then(|s| s.group.as_deref())
            .is_some_and(|g| g.queue)
        {
            return self.queue_attempt_failed(id);
        }
        let Some(run) = self.call_slot_mut(id).and_then(|s| s.group.take()) else {
            return;
        };
        let outcome = if run.rang {
            Outcome::NoAnswer
        } else if run.any_busy {
            Outcome::Busy
        } else {
            Outcome::Unavailable
        };
        let target = RingTarget {
            ext: run.ext.as_str().to_owned(),
            name: run.name,
            ring_timeout: run.ring_timeout,
            contacts: Vec::new(),
            on_busy: run.on_timeout.clone(),
            on_no_answer: run.on_timeout.clone(),
            on_unavailable: run.on_timeout,
            group: true,
            hunt: false,
            external: false,
            first_response: None,
        };
        let ext = run.ext.as_str().to_owned();
        self.with_call(id, |c, env| c.unreachable(&ext, Some(target), outcome, env));
    }

    /// Gives back the places the group's ringing outside members hold, except `keep`'s
    /// (returned).
    pub(crate) fn release_group_holds(
        &mut self,
        id: u64,
        keep: Option<&str>,
    ) -> Option<crate::external::MemberHold> {
        let held = self
            .call_slot_mut(id)
            .and_then(|s| s.group.as_deref_mut())
            .map(|run| std::mem::take(&mut run.held))
            .unwrap_or_default();
        let mut kept = None;
        for h in held {
            if kept.is_none() && keep == Some(h.member.as_str()) {
                kept = Some(h);
            } else {
                self.release_member(h);
            }
        }
        kept
    }

    /// A member answered the group's call: remembered for the strategies.
    pub(crate) fn group_answered(&mut self, id: u64, member: &str) {
        let Some(tenant) = self.calls_tenant(id) else {
            return;
        };
        // An outside member who answered keeps its places with the call; the others go.
        let kept = self.release_group_holds(id, Some(member));
        if let Some(hold) = kept
            && let Some(slot) = self.call_slot_mut(id)
        {
            slot.external = Some(Box::new(crate::external::ExternalRun::of_member(hold)));
        }
        let Some(run) = self.call_slot_mut(id).and_then(|s| s.group.take()) else {
            return;
        };
        if run.queue {
            // The queue's book remembers its agents' answers.
            return;
        }
        let Some(member) = GroupMember::parse(member) else {
            return;
        };
        let now = self.ctx.wall_ms();
        self.ctx
            .groups
            .with(tenant.id, &run.ext, |m| m.answered(&member, now));
    }
}
