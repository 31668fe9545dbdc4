//! Call queues: who waits, which agent rings for whom, and when a caller leaves.
//!
//! One [`QueueBook`] per tenant queue, owned by the server and fed with what happens
//! (a caller joins or hangs up, an attempt goes unanswered, an agent answers, a queue
//! call ends, agents log in, out, pause) and with the time. [`QueueBook::tick`] says
//! what to do next: ring these agents for this caller ([`Order::Ring`]), or take this
//! caller out of the queue ([`Order::Leave`]: waited too long, or the queue emptied).
//!
//! Callers are served in order of arrival; agents free while the first caller is being
//! rung go to the next callers (Asterisk's `autofill=yes`). An agent is free when
//! logged in (static members always are), not paused, past their wrap-up time, not
//! ringing for another caller and not in any call (`ringinuse=no`). The strategies are
//! the ring groups' ([`crate::group::stages`]): `ringall` rings every free agent at once,
//! the others one agent per attempt in their order; an attempt that nobody answers is
//! followed by the next after `retry` seconds, with the agents not yet tried first.

use std::collections::HashSet;

use pbx_core::Ext;
use pbx_core::GroupMember;
use pbx_core::tenant::{GroupStrategy, Queue};

use crate::group::{GroupMemory, stages};

/// A waiting call: the shard that owns it and its id there.
pub type CallKey = (usize, u64);

/// Why an agent code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The user is neither a static member nor one of the queue's `agents`.
    #[error("not an agent of this queue")]
    NotAgent,
    /// Static members are always logged in.
    #[error("a static member cannot log in or out")]
    Static,
}

/// One agent of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    pub ext: Ext,
    /// A static member (`members:`), always logged in.
    pub is_static: bool,
    pub logged_in: bool,
    pub paused: bool,
    /// Takes no queue call before this (ms since the Unix epoch).
    pub wrapup_until_ms: u64,
    /// Ringing for this caller now.
    pub ringing_for: Option<CallKey>,
    /// Talking to this queue caller now.
    pub talking: Option<CallKey>,
    /// Queue calls answered since the server started.
    pub answered: u64,
}

impl AgentState {
    fn new(ext: Ext, is_static: bool, logged_in: bool, paused: bool) -> AgentState {
        AgentState {
            ext,
            is_static,
            logged_in,
            paused,
            wrapup_until_ms: 0,
            ringing_for: None,
            talking: None,
            answered: 0,
        }
    }

    /// Logged in and not paused.
    pub fn is_active(&self) -> bool {
        self.logged_in && !self.paused
    }
}

/// A caller in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub key: CallKey,
    /// The caller's number (an agent never gets their own call).
    pub caller: String,
    pub joined_ms: u64,
    /// Position when the caller joined.
    pub entry_position: u32,
    /// No attempt before this.
    next_try_ms: u64,
    /// Agents ringing for this caller now.
    pub ringing: Vec<Ext>,
    /// Agents tried since the last round began.
    tried: HashSet<Ext>,
}

/// What a caller got when arriving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// Waiting at this position.
    Joined { position: u32 },
    /// `max_len` callers wait already: `on_full`.
    Full,
    /// No agent is logged in and unpaused, and `join_empty` is off: `on_empty`.
    Empty,
}

/// Why the queue sends a caller away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// `max_wait` passed: `on_timeout`.
    Timeout,
    /// The last agent logged out or paused and `leave_empty` is on: `on_empty`.
    Empty,
}

/// What the server must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    /// Ring these agents for this caller for `timeout_ms`; report the outcome with
    /// [`QueueBook::missed`] or [`QueueBook::connected`].
    Ring {
        key: CallKey,
        agents: Vec<Ext>,
        timeout_ms: u64,
    },
    /// Take this caller out (already removed from the book).
    Leave {
        key: CallKey,
        reason: LeaveReason,
        /// Position when leaving.
        position: u32,
        wait_ms: u64,
    },
}

/// The state of one queue.
#[derive(Debug, Clone)]
pub struct QueueBook {
    cfg: Queue,
    agents: Vec<AgentState>,
    waiting: Vec<Waiting>,
    memory: GroupMemory,
    /// Rolling average of answered callers' waits (Asterisk's: new = (old·3 + last) / 4).
    holdtime_ms: u64,
}

impl QueueBook {
    /// A queue as configured; `logged` are the dynamic agents logged in (and whether
    /// paused), e.g. restored after a restart. Agents no longer listed are ignored.
    pub fn new(cfg: &Queue, logged: &[(Ext, bool)]) -> QueueBook {
        let mut b = QueueBook {
            cfg: cfg.clone(),
            agents: Vec::new(),
            waiting: Vec::new(),
            memory: GroupMemory::default(),
            holdtime_ms: 0,
        };
        b.rebuild_agents(logged);
        b
    }

    fn rebuild_agents(&mut self, logged: &[(Ext, bool)]) {
        let old = std::mem::take(&mut self.agents);
        let prev = |e: &Ext| old.iter().find(|a| a.ext == *e);
        for m in &self.cfg.members {
            let mut a = AgentState::new(m.clone(), true, true, false);
            if let Some(p) = prev(m) {
                a.paused = p.paused;
                carry(&mut a, p);
            }
            self.agents.push(a);
        }
        for m in &self.cfg.agents {
            let restored = logged.iter().find(|(e, _)| e == m);
            let mut a = match (prev(m), restored) {
                (Some(p), _) if !p.is_static => {
                    let mut a = AgentState::new(m.clone(), false, p.logged_in, p.paused);
                    carry(&mut a, p);
                    a
                }
                (_, Some((_, paused))) => AgentState::new(m.clone(), false, true, *paused),
                _ => AgentState::new(m.clone(), false, false, false),
            };
            if let Some(p) = prev(m).filter(|p| p.is_static) {
                carry(&mut a, p);
            }
            self.agents.push(a);
        }
        let members: Vec<GroupMember> = self
            .agents
            .iter()
            .map(|a| GroupMember::User(a.ext.clone()))
            .collect();
        self.memory.retain_members(&members);
        // A caller ringing someone who is no agent any more keeps ringing them; the
        // attempt's end frees nothing that is gone.
    }

    /// The configuration changed (a tenant apply): agents still listed keep their state.
    pub fn reconfigure(&mut self, cfg: &Queue) {
        self.cfg = cfg.clone();
        self.rebuild_agents(&[]);
    }

    /// The queue's configuration.
    pub fn config(&self) -> &Queue {
        &self.cfg
    }

    /// The agents, static members first.
    pub fn agents(&self) -> &[AgentState] {
        &self.agents
    }

    /// The callers waiting, first in line first.
    pub fn waiting(&self) -> &[Waiting] {
        &self.waiting
    }

    fn agent_mut(&mut self, ext: &str) -> Option<&mut AgentState> {
        self.agents.iter_mut().find(|a| a.ext.as_str() == ext)
    }

    /// Whether no agent is logged in and unpaused.
    pub fn is_empty_of_agents(&self) -> bool {
        !self.agents.iter().any(AgentState::is_active)
    }

    /// A dynamic agent logs in; `Ok(false)` when they already were.
    pub fn login(&mut self, ext: &str) -> Result<bool, AgentError> {
        let a = self.agent_mut(ext).ok_or(AgentError::NotAgent)?;
        if a.is_static {
            return Err(AgentError::Static);
        }
        Ok(!std::mem::replace(&mut a.logged_in, true))
    }

    /// A dynamic agent logs out; `Ok(false)` when they were not logged in.
    pub fn logout(&mut self, ext: &str) -> Result<bool, AgentError> {
        let a = self.agent_mut(ext).ok_or(AgentError::NotAgent)?;
        if a.is_static {
            return Err(AgentError::Static);
        }
        a.paused = false;
        Ok(std::mem::replace(&mut a.logged_in, false))
    }

    /// An agent (static or logged-in dynamic) pauses or resumes; `Ok(false)` when
    /// nothing changed (a dynamic agent not logged in cannot pause).
    pub fn pause(&mut self, ext: &str, paused: bool) -> Result<bool, AgentError> {
        let a = self.agent_mut(ext).ok_or(AgentError::NotAgent)?;
        if !a.logged_in {
            return Ok(false);
        }
        Ok(std::mem::replace(&mut a.paused, paused) != paused)
    }

    /// A caller arrives at `now_ms`.
    pub fn join(&mut self, key: CallKey, caller: &str, now_ms: u64) -> Join {
        if self.cfg.max_len > 0 && self.waiting.len() >= self.cfg.max_len as usize {
            return Join::Full;
        }
        if !self.cfg.join_empty && self.is_empty_of_agents() {
            return Join::Empty;
        }
        let position = u32::try_from(self.waiting.len() + 1).unwrap_or(u32::MAX);
        self.waiting.push(Waiting {
            key,
            caller: caller.to_owned(),
            joined_ms: now_ms,
            entry_position: position,
            next_try_ms: now_ms,
            ringing: Vec::new(),
            tried: HashSet::new(),
        });
        Join::Joined { position }
    }

    fn free_ringing(&mut self, key: CallKey) {
        for a in &mut self.agents {
            if a.ringing_for == Some(key) {
                a.ringing_for = None;
            }
        }
    }

    /// A waiting caller hung up (or was taken elsewhere): `(position, waited ms)`, or
    /// `None` when the caller was not waiting.
    pub fn abandon(&mut self, key: CallKey, now_ms: u64) -> Option<(u32, u64)> {
        let i = self.waiting.iter().position(|w| w.key == key)?;
        let w = self.waiting.remove(i);
        self.free_ringing(key);
        Some((
            u32::try_from(i + 1).unwrap_or(u32::MAX),
            now_ms.saturating_sub(w.joined_ms),
        ))
    }

    /// The attempt for `key` ended with nobody answering: its agents are free, and the
    /// caller is offered again after `retry`.
    pub fn missed(&mut self, key: CallKey, now_ms: u64) {
        self.free_ringing(key);
        let retry = u64::from(self.cfg.retry) * 1000;
        if let Some(w) = self.waiting.iter_mut().find(|w| w.key == key) {
            let rung = std::mem::take(&mut w.ringing);
            w.tried.extend(rung);
            w.next_try_ms = now_ms + retry;
        }
    }

    /// `agent` answered `key`: `(position, waited ms)`, or `None` when the caller was
    /// not waiting any more.
    pub fn connected(&mut self, key: CallKey, agent: &str, now_ms: u64) -> Option<(u32, u64)> {
        let (position, wait_ms) = self.abandon(key, now_ms)?;
        self.holdtime_ms = if self.holdtime_ms == 0 {
            wait_ms
        } else {
            (self.holdtime_ms * 3 + wait_ms) / 4
        };
        if let Some(a) = self.agent_mut(agent) {
            a.talking = Some(key);
            a.answered += 1;
        }
        if let Some(e) = Ext::parse(agent) {
            self.memory.answered(&GroupMember::User(e), now_ms);
        }
        Some((position, wait_ms))
    }

    /// The queue call `key` that `agent` answered ended: wrap-up starts.
    pub fn completed(&mut self, agent: &str, key: CallKey, now_ms: u64) {
        let wrapup = u64::from(self.cfg.wrapup) * 1000;
        if let Some(a) = self.agent_mut(agent)
            && a.talking == Some(key)
        {
            a.talking = None;
            a.wrapup_until_ms = now_ms + wrapup;
        }
    }

    /// The estimated wait of the caller at `position`, in seconds (0: unknown): the
    /// average wait of answered callers, scaled by how many callers are ahead per
    /// active agent.
    pub fn ewt_s(&self, position: u32) -> u32 {
        if self.holdtime_ms == 0 {
            return 0;
        }
        let active = self.agents.iter().filter(|a| a.is_active()).count().max(1) as u64;
        let ahead = u64::from(position.max(1));
        let ms = self.holdtime_ms * ahead.div_ceil(active);
        u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
    }

    /// What to do at `now_ms`. `in_call` says whether a user is in any call now;
    /// `random` seeds the `random` strategy.
    pub fn tick(&mut self, now_ms: u64, in_call: &dyn Fn(&str) -> bool, random: u64) -> Vec<Order> {
        let mut orders = Vec::new();
        // Callers who waited long enough, or whose queue emptied.
        let max_wait = u64::from(self.cfg.max_wait) * 1000;
        let empty = self.cfg.leave_empty && self.is_empty_of_agents();
        let mut i = 0;
        while i < self.waiting.len() {
            let w = &self.waiting[i];
            let reason = if max_wait > 0 && now_ms.saturating_sub(w.joined_ms) >= max_wait {
                Some(LeaveReason::Timeout)
            } else if empty {
                Some(LeaveReason::Empty)
            } else {
                None
            };
            match reason {
                Some(reason) => {
                    let w = self.waiting.remove(i);
                    self.free_ringing(w.key);
                    orders.push(Order::Leave {
                        key: w.key,
                        reason,
                        position: u32::try_from(i + 1).unwrap_or(u32::MAX),
                        wait_ms: now_ms.saturating_sub(w.joined_ms),
                    });
                }
                None => i += 1,
            }
        }
        // Free agents, in the strategy's order.
        let order: Vec<Ext> = {
            let members: Vec<GroupMember> = self
                .agents
                .iter()
                .filter(|a| a.is_active())
                .map(|a| GroupMember::User(a.ext.clone()))
                .collect();
            stages(self.cfg.strategy, &members, &self.memory, random)
                .into_iter()
                .flatten()
                .filter_map(|m| match m {
                    GroupMember::User(e) => Some(e),
                    GroupMember::External(_) => None,
                })
                .collect()
        };
        let mut free: Vec<Ext> = order
            .into_iter()
            .filter(|e| {
                self.agents.iter().any(|a| {
                    a.ext == *e
                        && a.ringing_for.is_none()
                        && a.talking.is_none()
                        && now_ms >= a.wrapup_until_ms
                })
            })
            .filter(|e| !in_call(e.as_str()))
            .collect();
        let timeout_ms = u64::from(self.cfg.member_timeout) * 1000;
        for w in &mut self.waiting {
            if free.is_empty() {
                break;
            }
            if !w.ringing.is_empty() || now_ms < w.next_try_ms {
                continue;
            }
            let eligible: Vec<Ext> = free
                .iter()
                .filter(|e| e.as_str() != w.caller)
                .cloned()
                .collect();
            if eligible.is_empty() {
                continue;
            }
            let pick: Vec<Ext> = if self.cfg.strategy == GroupStrategy::Ringall {
                eligible
            } else {
                let untried = eligible.iter().find(|e| !w.tried.contains(*e));
                let next = match untried {
                    Some(e) => e.clone(),
                    None => {
                        // Everyone free was tried: a new round.
                        w.tried.clear();
                        eligible[0].clone()
                    }
                };
                vec![next]
            };
            free.retain(|e| !pick.contains(e));
            for e in &pick {
                if let Some(a) = self.agents.iter_mut().find(|a| a.ext == *e) {
                    a.ringing_for = Some(w.key);
                }
            }
            w.ringing.clone_from(&pick);
            orders.push(Order::Ring {
                key: w.key,
                agents: pick,
                timeout_ms,
            });
        }
        orders
    }
}

fn carry(a: &mut AgentState, p: &AgentState) {
    a.wrapup_until_ms = p.wrapup_until_ms;
    a.ringing_for = p.ringing_for;
    a.talking = p.talking;
    a.answered = p.answered;
}

#[cfg(test)]
mod tests;
