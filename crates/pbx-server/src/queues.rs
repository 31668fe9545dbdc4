//! Call queues (`queue:EXT`): the server's side of [`pbx_call::queue`].
//!
//! Every tenant queue has one [`QueueBook`], shared by the shards behind one lock
//! (queue events are per call, not per packet). A caller who reaches a queue is
//! answered and hears [`QueueWait`] (music, position and hold time) on its own shard;
//! the book decides which free agents ring for whom, and the orders go to the shard
//! that owns the waiting call as [`ShardMsg::QueueRing`] / [`ShardMsg::QueueLeave`].
//! The shard rings the agents' phones next to the waiting music
//! ([`pbx_call::Call::queue_ring`], contacts gathered like a group stage's), and
//! reports back: nobody answered ([`pbx_call::Effect::QueueMissed`]), an agent answered
//! ([`pbx_call::Effect::Joined`]), the call ended. A ticker (every 250 ms) applies
//! `retry`, wrap-up ends and `max_wait`.
//!
//! Agents log in, out, pause and resume with the service codes (`*45`…`*48`, alone for
//! every queue, or followed by a queue's extension); dynamic logins are stored and
//! restored at start-up. Every event goes to the queue log, from which `vpbx queue
//! stats` computes the figures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pbx_app::queue::{QueueSeat, QueueWait, QueueWaitSpec};
use pbx_app::{MediaApp, PromptRef};
use pbx_call::queue::{AgentError, CallKey, Join, LeaveReason, Order, QueueBook};
use pbx_core::{Destination, Ext, TenantConfig};
use pbx_store::{QueueAgentRow, QueueLogEntry, TenantId};
use tokio::sync::mpsc;

use crate::Ctx;
use crate::shard::ShardMsg;
use crate::tenants::TenantSnap;

/// What the queue writer stores (off the shards).
#[derive(Debug)]
pub enum QueueWrite {
    Log(QueueLogEntry),
    /// A dynamic agent's login state changed.
    Agent {
        tenant: i64,
        queue: String,
        agent: String,
        logged_in: bool,
        paused: bool,
    },
}

#[derive(Debug)]
struct Book {
    book: QueueBook,
    /// The tenant configuration the book was built from (rebuilt when it changes).
    config: Arc<TenantConfig>,
}

#[derive(Debug)]
struct Seat {
    tenant: i64,
    queue: Ext,
    seat: Arc<QueueSeat>,
    call_id: String,
    caller: String,
}

#[derive(Debug)]
struct Talk {
    tenant: i64,
    queue: Ext,
    agent: String,
    call_id: String,
    caller: String,
    connect_ms: u64,
    wait_s: u32,
}

#[derive(Debug, Default)]
struct Inner {
    books: HashMap<(i64, Ext), Book>,
    /// Logins read from the store at start-up, used when a book is first built.
    restored: HashMap<(i64, String), Vec<(Ext, bool)>>,
    seats: HashMap<CallKey, Seat>,
    talking: HashMap<CallKey, Talk>,
}

/// Every tenant's queues.
#[derive(Debug)]
pub struct Queues {
    inner: Mutex<Inner>,
    writes: mpsc::Sender<QueueWrite>,
    /// Queue log events since start, by event (`vpbx_queue_events_total`).
    events: Mutex<std::collections::BTreeMap<String, u64>>,
}

/// What a caller arriving at a queue gets.
pub(crate) enum Joined {
    /// Waiting: start this application on the call.
    Wait(Box<dyn MediaApp + Send>),
    /// Refused (full or empty): go here, or end with this outcome.
    Refused(Option<Destination>, pbx_call::Outcome),
    /// No such queue.
    Unknown,
}

/// A service code for queue agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentOp {
    Login,
    Logout,
    Pause,
    Unpause,
}

impl AgentOp {
    fn event(self) -> &'static str {
        match self {
            AgentOp::Login => "AGENTLOGIN",
            AgentOp::Logout => "AGENTLOGOFF",
            AgentOp::Pause => "PAUSE",
            AgentOp::Unpause => "UNPAUSE",
        }
    }

    fn prompt(self) -> &'static str {
        match self {
            AgentOp::Login => pbx_app::prompts::AGENT_LOGINOK,
            AgentOp::Logout => pbx_app::prompts::AGENT_LOGGEDOFF,
            AgentOp::Pause => pbx_app::prompts::PAUSED,
            AgentOp::Unpause => pbx_app::prompts::AUTH_THANKYOU,
        }
    }
}

/// Live state of one queue (`GET /api/v1/queues/{domain}`, `vpbx queues`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QueueInfo {
    pub ext: String,
    pub name: String,
    pub strategy: String,
    pub agents: Vec<AgentInfo>,
    pub waiting: Vec<WaitingInfo>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AgentInfo {
    pub ext: String,
    #[serde(rename = "static")]
    pub is_static: bool,
    pub logged_in: bool,
    pub paused: bool,
    /// `free`, `ringing`, `talking`, `wrapup`, `busy` (in another call), `paused`,
    /// `logged_out`.
    pub state: String,
    pub answered: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WaitingInfo {
    pub position: u32,
    pub caller: String,
    pub wait_s: u64,
    pub ringing: Vec<String>,
}

fn secs(ms: u64) -> u32 {
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

impl Queues {
    pub fn new(writes: mpsc::Sender<QueueWrite>) -> Queues {
        Queues {
            inner: Mutex::new(Inner::default()),
            writes,
            events: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The dynamic agents logged in before the restart.
    pub fn restore(&self, rows: Vec<QueueAgentRow>) {
        let mut inner = self.lock();
        for r in rows {
            if let Some(e) = Ext::parse(&r.agent) {
                inner
                    .restored
                    .entry((r.tenant_id.0, r.queue))
                    .or_default()
                    .push((e, r.paused));
            }
        }
    }

    fn write(&self, w: QueueWrite) {
        if self.writes.try_send(w).is_err() {
            tracing::error!("queue log writer is behind; an event was dropped");
        }
    }

    fn log(&self, e: QueueLogEntry) {
        *self
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(e.event.clone())
            .or_default() += 1;
        tracing::debug!(tenant = e.tenant_id.0, queue = %e.queue, call_id = %e.call_id, event = %e.event, agent = ?e.agent, position = ?e.position, wait_s = ?e.wait_s, talk_s = ?e.talk_s, "queue log");
        self.write(QueueWrite::Log(e));
    }

    /// The book of `queue`, built or rebuilt from the tenant's current configuration.
    fn book<'a>(
        inner: &'a mut Inner,
        tenant: &TenantSnap,
        queue: &Ext,
    ) -> Option<&'a mut QueueBook> {
        let cfg = tenant.config.queue(queue.as_str())?;
        let key = (tenant.id, queue.clone());
        let restored = inner
            .restored
            .remove(&(tenant.id, queue.to_string()))
            .unwrap_or_default();
        let entry = inner.books.entry(key).or_insert_with(|| Book {
            book: QueueBook::new(cfg, &restored),
            config: tenant.config.clone(),
        });
        if !Arc::ptr_eq(&entry.config, &tenant.config) {
            entry.book.reconfigure(cfg);
            entry.config = tenant.config.clone();
        }
        Some(&mut entry.book)
    }

    /// A caller reaches `queue`.
    pub(crate) fn join(
        &self,
        ctx: &Ctx,
        tenant: &TenantSnap,
        queue: &Ext,
        key: CallKey,
        call_id: &str,
        caller: &str,
    ) -> Joined {
        let now = ctx.wall_ms();
        let mut inner = self.lock();
        let Some(book) = Self::book(&mut inner, tenant, queue) else {
            return Joined::Unknown;
        };
        let cfg = book.config().clone();
        match book.join(key, caller, now) {
            Join::Joined { position } => {
                let seat = Arc::new(QueueSeat::new(position, book.ewt_s(position)));
                inner.seats.insert(
                    key,
                    Seat {
                        tenant: tenant.id,
                        queue: queue.clone(),
                        seat: seat.clone(),
                        call_id: call_id.to_owned(),
                        caller: caller.to_owned(),
                    },
                );
                drop(inner);
                self.log(QueueLogEntry {
                    caller: Some(caller.to_owned()),
                    position: Some(position),
                    entry_position: Some(position),
                    ..entry(tenant.id, now, queue, call_id, "ENTER")
                });
                let spec = QueueWaitSpec {
                    moh_class: cfg.moh.clone().unwrap_or_default(),
                    announce_every_ms: u64::from(cfg.announce_frequency) * 1000,
                    position: cfg.announce_position,
                    holdtime: cfg.announce_holdtime,
                    lang: crate::apps::lang_of(&tenant.config),
                };
                Joined::Wait(Box::new(QueueWait::new(spec, seat)))
            }
            Join::Full => {
                drop(inner);
                self.log(QueueLogEntry {
                    caller: Some(caller.to_owned()),
                    ..entry(tenant.id, now, queue, call_id, "FULL")
                });
                Joined::Refused(cfg.on_full, pbx_call::Outcome::Busy)
            }
            Join::Empty => {
                drop(inner);
                self.log(QueueLogEntry {
                    caller: Some(caller.to_owned()),
                    ..entry(tenant.id, now, queue, call_id, "JOINEMPTY")
                });
                Joined::Refused(cfg.on_empty, pbx_call::Outcome::Unavailable)
            }
        }
    }

    /// Runs every book of `tenant`'s `queue` (or of every queue when `None`) at the
    /// current time and sends the orders to the shards.
    pub(crate) fn kick(&self, ctx: &Ctx, only: Option<(i64, &Ext)>) {
        let now = ctx.wall_ms();
        let random: u64 = rand::random();
        let mut sends: Vec<(usize, ShardMsg)> = Vec::new();
        let mut logs = Vec::new();
        {
            let mut inner = self.lock();
            let Inner { books, seats, .. } = &mut *inner;
            // One queue after an event; on the timer only the queues where callers wait
            // (an idle queue has nothing to decide).
            let keys: Vec<(i64, Ext)> = match only {
                Some((t, q)) => vec![(t, q.clone())],
                None => books
                    .iter()
                    .filter(|(_, b)| !b.book.waiting().is_empty())
                    .map(|(k, _)| k.clone())
                    .collect(),
            };
            for key in keys {
                let Some(b) = books.get_mut(&key) else {
                    continue;
                };
                let (tenant, qext) = (&key.0, &key.1);
                let busy = |ext: &str| ctx.presence.user_calls(*tenant, ext) > 0;
                let cfg = b.book.config().clone();
                for order in b.book.tick(now, &busy, random) {
                    match order {
                        Order::Ring {
                            key,
                            agents,
                            timeout_ms,
                        } => sends.push((
                            key.0,
                            ShardMsg::QueueRing {
                                call: key.1,
                                queue: qext.clone(),
                                agents,
                                timeout_ms,
                            },
                        )),
                        Order::Leave {
                            key,
                            reason,
                            position,
                            wait_ms,
                        } => {
                            let (dest, event, why) = match reason {
                                LeaveReason::Timeout => {
                                    (cfg.on_timeout.clone(), "TIMEOUT", "queue_timeout")
                                }
                                LeaveReason::Empty => {
                                    (cfg.on_empty.clone(), "LEAVEEMPTY", "queue_empty")
                                }
                            };
                            if let Some(s) = seats.remove(&key) {
                                logs.push((
                                    *tenant,
                                    qext.clone(),
                                    s.call_id,
                                    event,
                                    s.caller,
                                    position,
                                    secs(wait_ms),
                                ));
                            }
                            sends.push((
                                key.0,
                                ShardMsg::QueueLeave {
                                    call: key.1,
                                    dest,
                                    reason: why,
                                },
                            ));
                        }
                    }
                }
                // Positions and estimated waits for the announcements.
                for (i, w) in b.book.waiting().iter().enumerate() {
                    if let Some(s) = seats.get(&w.key) {
                        let pos = u32::try_from(i + 1).unwrap_or(u32::MAX);
                        s.seat.set(pos, b.book.ewt_s(pos));
                    }
                }
            }
        }
        for (tenant, q, call_id, event, caller, position, wait) in logs {
            self.log(QueueLogEntry {
                caller: Some(caller.clone()),
                position: Some(position),
                wait_s: Some(wait),
                ..entry(tenant, now, &q, &call_id, event)
            });
        }
        for (shard, msg) in sends {
            let Some(tx) = ctx.shards.get(shard) else {
                continue;
            };
            if let Err(e) = tx.try_send(msg) {
                // The shard is overloaded: a lost attempt counts as missed.
                if let ShardMsg::QueueRing { call, .. } = e.into_inner() {
                    let mut inner = self.lock();
                    for b in inner.books.values_mut() {
                        b.book.missed((shard, call), now);
                    }
                }
                tracing::warn!(shard, "queue order not delivered: the shard is overloaded");
            }
        }
    }

    fn queue_of(&self, key: CallKey) -> Option<(i64, Ext)> {
        let inner = self.lock();
        inner.seats.get(&key).map(|s| (s.tenant, s.queue.clone()))
    }

    /// The attempt for `key` ended unanswered (`agents` were rung).
    pub(crate) fn missed(&self, ctx: &Ctx, key: CallKey, agents: &[String]) {
        let now = ctx.wall_ms();
        let Some((tenant, q)) = self.queue_of(key) else {
            return;
        };
        let call_id = {
            let mut inner = self.lock();
            if let Some(b) = inner.books.get_mut(&(tenant, q.clone())) {
                b.book.missed(key, now);
            }
            inner
                .seats
                .get(&key)
                .map(|s| s.call_id.clone())
                .unwrap_or_default()
        };
        for a in agents {
            self.log(QueueLogEntry {
                agent: Some(a.to_owned()),
                ..entry(tenant, now, &q, &call_id, "RINGNOANSWER")
            });
        }
        self.kick(ctx, Some((tenant, &q)));
    }

    /// `agent` answered the waiting call `key`.
    pub(crate) fn connected(&self, ctx: &Ctx, key: CallKey, agent: &str) {
        let now = ctx.wall_ms();
        let Some((tenant, q)) = self.queue_of(key) else {
            return;
        };
        let mut inner = self.lock();
        let got = inner
            .books
            .get_mut(&(tenant, q.clone()))
            .and_then(|b| b.book.connected(key, agent, now));
        let seat = inner.seats.remove(&key);
        let (Some((position, wait_ms)), Some(seat)) = (got, seat) else {
            return;
        };
        inner.talking.insert(
            key,
            Talk {
                tenant,
                queue: q.clone(),
                agent: agent.to_owned(),
                call_id: seat.call_id.clone(),
                caller: seat.caller.clone(),
                connect_ms: now,
                wait_s: secs(wait_ms),
            },
        );
        drop(inner);
        self.log(QueueLogEntry {
            agent: Some(agent.to_owned()),
            caller: Some(seat.caller.clone()),
            position: Some(position),
            wait_s: Some(secs(wait_ms)),
            ..entry(tenant, now, &q, &seat.call_id, "CONNECT")
        });
        self.kick(ctx, Some((tenant, &q)));
    }

    /// Call `key` ended (or left the queue's hands): a waiting caller abandoned; an
    /// answered one completed (or was transferred).
    pub(crate) fn call_ended(&self, ctx: &Ctx, key: CallKey, transferred: bool) {
        let now = ctx.wall_ms();
        let mut inner = self.lock();
        if let Some(seat) = inner.seats.remove(&key) {
            let q = seat.queue.clone();
            let got = inner
                .books
                .get_mut(&(seat.tenant, q.clone()))
                .and_then(|b| b.book.abandon(key, now));
            drop(inner);
            if let Some((position, wait_ms)) = got {
                self.log(QueueLogEntry {
                    caller: Some(seat.caller.clone()),
                    position: Some(position),
                    wait_s: Some(secs(wait_ms)),
                    ..entry(seat.tenant, now, &q, &seat.call_id, "ABANDON")
                });
            }
            self.kick(ctx, Some((seat.tenant, &q)));
            return;
        }
        let Some(t) = inner.talking.remove(&key) else {
            return;
        };
        if let Some(b) = inner.books.get_mut(&(t.tenant, t.queue.clone())) {
            b.book.completed(&t.agent, key, now);
        }
        drop(inner);
        self.log(QueueLogEntry {
            agent: Some(t.agent.clone()),
            caller: Some(t.caller.clone()),
            wait_s: Some(t.wait_s),
            talk_s: Some(secs(now.saturating_sub(t.connect_ms))),
            ..entry(
                t.tenant,
                now,
                &t.queue,
                &t.call_id,
                if transferred { "TRANSFER" } else { "COMPLETE" },
            )
        });
        self.kick(ctx, Some((t.tenant, &t.queue)));
    }

    /// `agent` left the queue call `key` they answered (a transfer): logged as TRANSFER
    /// with their talk time, and their wrap-up starts.
    pub(crate) fn agent_left(&self, ctx: &Ctx, key: CallKey, agent: &str) {
        let answered_by_them = self
            .lock()
            .talking
            .get(&key)
            .is_some_and(|t| t.agent == agent);
        if answered_by_them {
            self.call_ended(ctx, key, true);
        }
    }

    /// An agent's service code: `queue` names one queue (the code was followed by its
    /// extension), else every queue the user belongs to. The prompt to play back.
    pub(crate) fn agent_code(
        &self,
        ctx: &Ctx,
        tenant: &TenantSnap,
        user: &str,
        op: AgentOp,
        queue: Option<&Ext>,
    ) -> &'static str {
        let now = ctx.wall_ms();
        let targets: Vec<Ext> = tenant
            .config
            .queues
            .iter()
            .filter(|q| queue.is_none_or(|e| *e == q.ext))
            .filter(|q| match op {
                AgentOp::Login | AgentOp::Logout => q.agents.iter().any(|a| a.as_str() == user),
                AgentOp::Pause | AgentOp::Unpause => q.is_member(user),
            })
            .map(|q| q.ext.clone())
            .collect();
        if targets.is_empty() {
            return pbx_app::prompts::AGENT_INCORRECT;
        }
        let mut changed = Vec::new();
        {
            let mut inner = self.lock();
            for q in &targets {
                let Some(book) = Self::book(&mut inner, tenant, q) else {
                    continue;
                };
                let r = match op {
                    AgentOp::Login => book.login(user),
                    AgentOp::Logout => book.logout(user),
                    AgentOp::Pause => book.pause(user, true),
                    AgentOp::Unpause => book.pause(user, false),
                };
                match r {
                    Ok(true) => {
                        let a = book.agents().iter().find(|a| a.ext.as_str() == user);
                        let (logged_in, paused, is_static) = a.map_or((false, false, false), |a| {
                            (a.logged_in, a.paused, a.is_static)
                        });
                        changed.push((q.clone(), logged_in, paused, is_static));
                    }
                    Ok(false) => {}
                    Err(AgentError::NotAgent | AgentError::Static) => {}
                }
            }
        }
        for (q, logged_in, paused, is_static) in &changed {
            self.log(QueueLogEntry {
                agent: Some(user.to_owned()),
                ..entry(tenant.id, now, q, "", op.event())
            });
            if !is_static {
                self.write(QueueWrite::Agent {
                    tenant: tenant.id,
                    queue: q.to_string(),
                    agent: user.to_owned(),
                    logged_in: *logged_in,
                    paused: *paused,
                });
            }
        }
        tracing::info!(tenant = %tenant.domain, user, op = op.event(), queues = targets.len(), changed = changed.len(), "queue agent");
        if !changed.is_empty() {
            for q in &targets {
                self.kick(ctx, Some((tenant.id, q)));
            }
        }
        op.prompt()
    }

    /// Prometheus lines: callers waiting and agents logged in per queue, queue log events
    /// by kind since start.
    pub(crate) fn render(&self, dir: &crate::tenants::Directory, o: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            o,
            "# HELP vpbx_queue_events_total Queue log events since start, by event.\n# TYPE vpbx_queue_events_total counter"
        );
        for (ev, n) in self.events.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(o, "vpbx_queue_events_total{{event=\"{ev}\"}} {n}");
        }
        let inner = self.lock();
        let mut rows: Vec<(String, String, usize, usize, usize)> = inner
            .books
            .iter()
            .filter_map(|((t, q), b)| {
                let domain = dir.by_id(*t)?.domain.to_string();
                let agents = b.book.agents();
                Some((
                    domain,
                    q.to_string(),
                    b.book.waiting().len(),
                    agents.iter().filter(|a| a.is_active()).count(),
                    agents.iter().filter(|a| a.talking.is_some()).count(),
                ))
            })
            .collect();
        drop(inner);
        rows.sort();
        for (name, help, idx) in [
            (
                "vpbx_queue_callers_waiting",
                "Callers waiting in the queue.",
                0,
            ),
            (
                "vpbx_queue_agents_active",
                "Agents logged in and not paused.",
                1,
            ),
            (
                "vpbx_queue_agents_talking",
                "Agents talking to a caller of the queue.",
                2,
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (t, q, w, a, k) in &rows {
                let v = [w, a, k][idx];
                let _ = writeln!(o, "{name}{{tenant=\"{t}\",queue=\"{q}\"}} {v}");
            }
        }
    }

    /// Live state of `tenant`'s queues.
    pub fn list(&self, ctx: &Ctx, tenant: &TenantSnap) -> Vec<QueueInfo> {
        let now = ctx.wall_ms();
        let mut inner = self.lock();
        let mut out = Vec::new();
        for q in &tenant.config.queues {
            let Some(book) = Self::book(&mut inner, tenant, &q.ext) else {
                continue;
            };
            let agents = book
                .agents()
                .iter()
                .map(|a| {
                    let state = if !a.logged_in {
                        "logged_out"
                    } else if a.talking.is_some() {
                        "talking"
                    } else if a.ringing_for.is_some() {
                        "ringing"
                    } else if a.paused {
                        "paused"
                    } else if ctx.presence.user_calls(tenant.id, a.ext.as_str()) > 0 {
                        "busy"
                    } else if now < a.wrapup_until_ms {
                        "wrapup"
                    } else {
                        "free"
                    };
                    AgentInfo {
                        ext: a.ext.to_string(),
                        is_static: a.is_static,
                        logged_in: a.logged_in,
                        paused: a.paused,
                        state: state.to_owned(),
                        answered: a.answered,
                    }
                })
                .collect();
            let waiting = book
                .waiting()
                .iter()
                .enumerate()
                .map(|(i, w)| WaitingInfo {
                    position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    caller: w.caller.clone(),
                    wait_s: now.saturating_sub(w.joined_ms) / 1000,
                    ringing: w.ringing.iter().map(ToString::to_string).collect(),
                })
                .collect();
            out.push(QueueInfo {
                ext: q.ext.to_string(),
                name: q.name.clone(),
                strategy: q.strategy.to_string(),
                agents,
                waiting,
            });
        }
        out
    }
}

/// Which agent service code `dialed` is, and the queue extension after it, if any.
pub(crate) fn agent_code_of(cfg: &TenantConfig, dialed: &str) -> Option<(AgentOp, Option<Ext>)> {
    let codes = &cfg.service_codes;
    [
        (codes.agent_login.as_str(), AgentOp::Login),
        (codes.agent_logout.as_str(), AgentOp::Logout),
        (codes.agent_pause.as_str(), AgentOp::Pause),
        (codes.agent_unpause.as_str(), AgentOp::Unpause),
    ]
    .into_iter()
    .find_map(|(code, op)| {
        let rest = dialed.strip_prefix(code)?;
        if rest.is_empty() {
            return Some((op, None));
        }
        let q = cfg.queue(rest)?;
        Some((op, Some(q.ext.clone())))
    })
}

/// The announcement an agent code answers with.
pub(crate) fn agent_feedback(prompt: &'static str) -> Box<dyn MediaApp + Send> {
    Box::new(pbx_app::announce::Announce::new(
        vec![PromptRef::System(prompt)],
        None,
    ))
}

/// Stores queue log events and agent logins as they come (batched, retried).
pub(crate) async fn write_queue_events(
    store: Arc<pbx_store::Store>,
    mut rx: mpsc::Receiver<QueueWrite>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut logs = Vec::new();
        for w in batch.drain(..) {
            match w {
                QueueWrite::Log(e) => logs.push(e),
                QueueWrite::Agent {
                    tenant,
                    queue,
                    agent,
                    logged_in,
                    paused,
                } => {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    if let Err(e) = store
                        .set_queue_agent(TenantId(tenant), &queue, &agent, logged_in, paused, now)
                        .await
                    {
                        tracing::error!(error = %e, queue, agent, "queue agent login not stored");
                    }
                }
            }
        }
        let mut delay = std::time::Duration::from_millis(100);
        for _ in 0..8 {
            match store.insert_queue_log(&logs).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, events = logs.len(), "writing the queue log failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
    }
}

impl crate::shard::Shard {
    /// `queue:EXT` reached through the destination graph or dialed.
    pub(crate) fn start_queue(&mut self, id: u64, tenant: &TenantSnap, ext: &Ext, hop: u32) {
        let (call_id, caller) = match self.call_slot_mut(id) {
            Some(s) => (
                s.call_ref().call_id().to_owned(),
                s.call_ref().caller().to_owned(),
            ),
            None => return,
        };
        let ctx = self.ctx.clone();
        match ctx
            .queues
            .join(&ctx, tenant, ext, (self.id, id), &call_id, &caller)
        {
            Joined::Wait(app) => {
                if let Some(s) = self.call_slot_mut(id) {
                    s.queue = Some(ext.clone());
                }
                let label = format!("queue:{ext}");
                let waiting = self
                    .with_call_ret(id, |c, env| {
                        c.set_destination(label);
                        c.enter_queue(app, env)
                    })
                    .unwrap_or(false);
                if waiting {
                    ctx.queues.kick(&ctx, Some((tenant.id, ext)));
                } else {
                    // The caller could not be answered (no common codec): out again.
                    ctx.queues.call_ended(&ctx, (self.id, id), false);
                }
            }
            Joined::Refused(Some(dest), _) => self.goto(id, dest, hop + 1),
            Joined::Refused(None, outcome) => {
                self.with_call(id, |c, env| c.refuse_outcome(outcome, env));
            }
            Joined::Unknown => {
                tracing::info!(tenant = %tenant.domain, queue = %ext, "no such queue; the call ends");
                self.with_call(id, |c, env| c.goto_failed(env));
            }
        }
    }

    /// The queue's order to ring `agents` for waiting call `id`.
    pub(crate) fn queue_ring(&mut self, id: u64, queue: Ext, agents: Vec<Ext>, timeout_ms: u64) {
        let Some(tenant) = self.calls_tenant(id) else {
            // The call is gone: its end was reported; the attempt frees its agents.
            self.ctx.queues.missed(&self.ctx, (self.id, id), &[]);
            return;
        };
        let name = tenant
            .config
            .queue(queue.as_str())
            .map(|q| q.name.clone())
            .unwrap_or_default();
        let run = crate::groups::GroupRun::for_queue(
            &queue,
            &name,
            agents,
            std::time::Duration::from_millis(timeout_ms.max(1000)),
        );
        let Some(slot) = self.call_slot_mut(id) else {
            return;
        };
        slot.group = Some(Box::new(run));
        self.next_stage(id);
    }
}

/// A queue log event with no details yet (fill them with struct update syntax).
fn entry(tenant: i64, now_ms: u64, queue: &Ext, call_id: &str, event: &str) -> QueueLogEntry {
    QueueLogEntry {
        tenant_id: TenantId(tenant),
        ts_ms: i64::try_from(now_ms).unwrap_or(i64::MAX),
        queue: queue.to_string(),
        call_id: call_id.to_owned(),
        event: event.to_owned(),
        agent: None,
        caller: None,
        position: None,
        entry_position: None,
        wait_s: None,
        talk_s: None,
    }
}
