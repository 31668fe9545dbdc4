//! A caller waiting in a queue (issue 5 item 3). The queue's waiting application
//! ([`pbx_app::queue::QueueWait`]: music and announcements) runs on the caller's leg
//! while the server rings agents for it, one attempt at a time: the first agent to
//! answer is bridged (the application stops), an attempt nobody answers comes back as
//! [`Effect::QueueMissed`](crate::Effect::QueueMissed) with the caller still listening, and the server may take
//! the caller out of the queue at any time ([`Call::leave_queue`]).

use pbx_app::MediaApp;
use pbx_core::Destination;

use super::{Call, CallState};
use crate::RingTarget;
use crate::env::{CallTimer, Env};
use crate::outcome::{HangupBy, Outcome};

impl Call {
    /// Puts the caller in a queue: `app` (the waiting music and announcements) starts
    /// like [`Call::run_app`] and the call waits for [`Call::queue_ring`]. False when the
    /// call is not looking up its destination (the app is dropped).
    pub fn enter_queue(&mut self, app: Box<dyn MediaApp + Send>, env: &mut Env<'_>) -> bool {
        if self.state != CallState::Routing {
            return false;
        }
        self.run_app(app, env);
        if self.state == CallState::App {
            self.in_queue = true;
        }
        self.in_queue
    }

    /// Ends a call that is looking up its destination with `outcome`'s status (a queue
    /// that is full: 486; empty: 480), or a BYE when an application answered it.
    pub fn refuse_outcome(&mut self, outcome: Outcome, env: &mut Env<'_>) {
        if self.state == CallState::Routing {
            self.finish_unanswered(outcome, env);
        }
    }

    /// Whether the caller waits in a queue.
    pub fn in_queue(&self) -> bool {
        self.in_queue
    }

    /// Rings a queue's agents for the waiting caller (their forks carry the agent as
    /// [`ForkTarget::member`](crate::ForkTarget)): the caller keeps hearing the queue.
    /// The first to answer is bridged ([`Effect::Joined`](crate::Effect::Joined) then [`Effect::Answered`](crate::Effect::Answered));
    /// when none answers within `target.ring_timeout` (or none could be rung) the call
    /// emits [`Effect::QueueMissed`](crate::Effect::QueueMissed). False (and nothing rings) when the caller is not
    /// waiting, or an attempt is still ringing.
    pub fn queue_ring(&mut self, target: RingTarget, env: &mut Env<'_>) -> bool {
        if !self.in_queue || self.state != CallState::App {
            return false;
        }
        self.generation += 1;
        let timeout = target.ring_timeout;
        let contacts = target.contacts.clone();
        self.target = Some(target);
        self.state = CallState::Ringing;
        for c in contacts {
            self.fork(c, env);
        }
        let current = self.generation;
        if !self.forks.iter().any(|f| f.generation == current) {
            let dead = std::mem::take(&mut self.dead);
            self.unanswered(Outcome::of_forks(&dead), env);
            return true;
        }
        env.timer(timeout, CallTimer::Ring(self.generation));
        true
    }

    /// Takes the caller out of the queue (waited too long, the queue is full or
    /// emptied): ringing agents are cancelled, the waiting stops, and the call walks on
    /// to `dest`, or the caller is hung up (`reason` in the record) when there is none.
    pub fn leave_queue(&mut self, dest: Option<Destination>, reason: &str, env: &mut Env<'_>) {
        if !std::mem::take(&mut self.in_queue) {
            return;
        }
        self.cancel_forks(None, env);
        self.app_gone(env);
        if self.state == CallState::Ringing {
            self.state = CallState::App;
        }
        match dest {
            Some(d) => self.goto(d, env),
            None => self.drop_caller(HangupBy::System, reason, true, env),
        }
    }
}
