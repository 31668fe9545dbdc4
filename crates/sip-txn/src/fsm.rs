//! The four transaction state machines of RFC 3261 §17, with RFC 6026's
//! Accepted state. They know nothing of messages: the endpoint classifies a
//! message (1xx, 2xx, 300-699, retransmission, ACK) and acts on the returned
//! [`Actions`]. This keeps every timer rule testable with bare instants.

use std::time::{Duration, Instant};

use sip_msg::StatusCode;

use crate::Config;

/// Transaction timers, named as RFC 3261 Table 4 and RFC 6026 name them.
/// Timer C is a proxy timer and is not used by a UA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// RFC 3261 §17.1.1.2: INVITE request retransmit interval, unreliable only (T1, doubling).
    A,
    /// RFC 3261 §17.1.1.2: INVITE transaction timeout (64*T1).
    B,
    /// RFC 3261 §17.1.1.2: wait time for response retransmits (32 s unreliable, 0 reliable).
    D,
    /// RFC 3261 §17.1.2.2: non-INVITE request retransmit interval, unreliable only (T1, doubling to T2).
    E,
    /// RFC 3261 §17.1.2.2: non-INVITE transaction timeout (64*T1).
    F,
    /// RFC 3261 §17.2.1: INVITE response retransmit interval, unreliable only (T1, doubling to T2).
    G,
    /// RFC 3261 §17.2.1: wait time for ACK receipt (64*T1).
    H,
    /// RFC 3261 §17.2.1: wait time for ACK retransmits (T4 unreliable, 0 reliable).
    I,
    /// RFC 3261 §17.2.2: wait time for non-INVITE request retransmits (64*T1 unreliable, 0 reliable).
    J,
    /// RFC 3261 §17.1.2.2: wait time for non-INVITE response retransmits (T4 unreliable, 0 reliable).
    K,
    /// RFC 6026 §8.7: INVITE server wait time in Accepted for retransmitted INVITEs (64*T1).
    L,
    /// RFC 6026 §8.4: INVITE client wait time in Accepted for forked/retransmitted 2xx (64*T1).
    M,
}

/// RFC 3261 §17.1.1 (Figure 5) with RFC 6026 §7.2 (Figure 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteClientState {
    /// RFC 3261 §17.1.1.2: INVITE sent, retransmitting on Timer A until a response or Timer B.
    Calling,
    /// RFC 3261 §17.1.1.2: a provisional response arrived; no more retransmissions.
    Proceeding,
    /// RFC 3261 §17.1.1.2: a 300-699 arrived and was ACKed; absorbs retransmissions until Timer D.
    Completed,
    /// RFC 6026 §7.2: a 2xx arrived; further 2xx (forks, retransmissions) go to the TU until Timer M.
    Accepted,
    /// RFC 3261 §17.1.1.2: the transaction is over.
    Terminated,
}

/// RFC 3261 §17.1.2 (Figure 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonInviteClientState {
    /// RFC 3261 §17.1.2.2: request sent, retransmitting on Timer E.
    Trying,
    /// RFC 3261 §17.1.2.2: a provisional arrived; retransmitting every T2.
    Proceeding,
    /// RFC 3261 §17.1.2.2: a final response arrived; absorbs retransmissions until Timer K.
    Completed,
    /// RFC 3261 §17.1.2.2: the transaction is over.
    Terminated,
}

/// RFC 3261 §17.2.1 (Figure 7) with RFC 6026 §7.1 (Figure 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InviteServerState {
    /// RFC 3261 §17.2.1: INVITE received; provisionals may be sent.
    Proceeding,
    /// RFC 3261 §17.2.1: a 300-699 was sent; retransmitted on Timer G until ACK or Timer H.
    Completed,
    /// RFC 3261 §17.2.1: the ACK arrived; absorbs ACK retransmissions until Timer I.
    Confirmed,
    /// RFC 6026 §7.1: a 2xx was sent; absorbs INVITE retransmissions and passes 2xx retransmissions until Timer L.
    Accepted,
    /// RFC 3261 §17.2.1: the transaction is over.
    Terminated,
}

/// RFC 3261 §17.2.2 (Figure 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonInviteServerState {
    /// RFC 3261 §17.2.2: request received, no response yet; retransmissions are absorbed.
    Trying,
    /// RFC 3261 §17.2.2: a provisional was sent; retransmissions get it again.
    Proceeding,
    /// RFC 3261 §17.2.2: a final response was sent; retransmissions get it again until Timer J.
    Completed,
    /// RFC 3261 §17.2.2: the transaction is over.
    Terminated,
}

/// The state of any transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    InviteClient(InviteClientState),
    NonInviteClient(NonInviteClientState),
    InviteServer(InviteServerState),
    NonInviteServer(NonInviteServerState),
}

impl TxnState {
    pub fn is_terminated(self) -> bool {
        matches!(
            self,
            TxnState::InviteClient(InviteClientState::Terminated)
                | TxnState::NonInviteClient(NonInviteClientState::Terminated)
                | TxnState::InviteServer(InviteServerState::Terminated)
                | TxnState::NonInviteServer(NonInviteServerState::Terminated)
        )
    }
}

/// What the endpoint must do after a state machine step.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Actions {
    /// Client: resend the request. Server: resend the last response.
    pub(crate) retransmit: bool,
    /// Client: hand the response to the TU. Server: hand the ACK to the TU.
    pub(crate) pass_to_tu: bool,
    /// Client INVITE: send (or resend) the ACK for a 300-699 (§17.1.1.3).
    pub(crate) send_ack: bool,
    /// Server: transmit the response the TU just gave.
    pub(crate) send_response: bool,
    /// The transaction timed out on this timer (B, F or H).
    pub(crate) timed_out: Option<Timer>,
    /// Tell the TU the transport failed.
    pub(crate) transport_error: bool,
    /// The state machine reached Terminated in this step.
    pub(crate) terminated: bool,
    /// Timers armed in this step (the endpoint schedules them).
    pub(crate) armed: Vec<(Timer, Instant)>,
}

/// Why a TU response was refused by a server transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NotAllowed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InviteClient(InviteClientState),
    NonInviteClient(NonInviteClientState),
    InviteServer(InviteServerState),
    NonInviteServer(NonInviteServerState),
}

/// One transaction's state machine and timers.
#[derive(Debug, Clone)]
pub(crate) struct Fsm {
    kind: Kind,
    reliable: bool,
    t1: Duration,
    t2: Duration,
    t4: Duration,
    timer_d: Duration,
    /// Armed timers (at most two at a time: A+B, E+F, G+H).
    timers: [Option<(Timer, Instant)>; 2],
    /// The current retransmit interval of Timer A, E or G.
    interval: Duration,
}

impl Fsm {
    fn new(kind: Kind, cfg: &Config, reliable: bool) -> Fsm {
        Fsm {
            kind,
            reliable,
            t1: cfg.t1,
            t2: cfg.t2,
            t4: cfg.t4,
            timer_d: cfg.timer_d,
            timers: [None, None],
            interval: cfg.t1,
        }
    }

    /// RFC 3261 §17.1.1.2: starts in Calling, Timer A (unreliable) and Timer B.
    pub(crate) fn invite_client(now: Instant, cfg: &Config, reliable: bool) -> (Fsm, Actions) {
        let mut f = Fsm::new(
            Kind::InviteClient(InviteClientState::Calling),
            cfg,
            reliable,
        );
        let mut a = Actions::default();
        if !reliable {
            f.arm(&mut a, Timer::A, now + f.t1);
        }
        f.arm(&mut a, Timer::B, now + f.t1 * 64);
        (f, a)
    }

    /// RFC 3261 §17.1.2.2: starts in Trying, Timer E (unreliable) and Timer F.
    pub(crate) fn non_invite_client(now: Instant, cfg: &Config, reliable: bool) -> (Fsm, Actions) {
        let mut f = Fsm::new(
            Kind::NonInviteClient(NonInviteClientState::Trying),
            cfg,
            reliable,
        );
        let mut a = Actions::default();
        if !reliable {
            f.arm(&mut a, Timer::E, now + f.t1);
        }
        f.arm(&mut a, Timer::F, now + f.t1 * 64);
        (f, a)
    }

    /// RFC 3261 §17.2.1: starts in Proceeding.
    pub(crate) fn invite_server(cfg: &Config, reliable: bool) -> Fsm {
        Fsm::new(
            Kind::InviteServer(InviteServerState::Proceeding),
            cfg,
            reliable,
        )
    }

    /// RFC 3261 §17.2.2: starts in Trying.
    pub(crate) fn non_invite_server(cfg: &Config, reliable: bool) -> Fsm {
        Fsm::new(
            Kind::NonInviteServer(NonInviteServerState::Trying),
            cfg,
            reliable,
        )
    }

    pub(crate) fn state(&self) -> TxnState {
        match self.kind {
            Kind::InviteClient(s) => TxnState::InviteClient(s),
            Kind::NonInviteClient(s) => TxnState::NonInviteClient(s),
            Kind::InviteServer(s) => TxnState::InviteServer(s),
            Kind::NonInviteServer(s) => TxnState::NonInviteServer(s),
        }
    }

    /// The deadline of `timer` if it is armed.
    pub(crate) fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.timers
            .iter()
            .flatten()
            .find(|(t, _)| *t == timer)
            .map(|(_, at)| *at)
    }

    fn arm(&mut self, a: &mut Actions, timer: Timer, at: Instant) {
        self.disarm(timer);
        let slot = self
            .timers
            .iter_mut()
            .find(|s| s.is_none())
            .expect("no state arms more than two timers at once");
        *slot = Some((timer, at));
        a.armed.push((timer, at));
    }

    fn disarm(&mut self, timer: Timer) {
        for s in &mut self.timers {
            if matches!(s, Some((t, _)) if *t == timer) {
                *s = None;
            }
        }
    }

    fn disarm_all(&mut self) {
        self.timers = [None, None];
    }

    /// Enters a waiting state whose timer is `d` on unreliable transports and
    /// zero on reliable ones; a zero timer means Terminated at once.
    fn wait_or_terminate(&mut self, a: &mut Actions, timer: Timer, d: Duration, now: Instant) {
        if self.reliable || d.is_zero() {
            self.terminate(a);
        } else {
            self.arm(a, timer, now + d);
        }
    }

    fn terminate(&mut self, a: &mut Actions) {
        self.disarm_all();
        self.kind = match self.kind {
            Kind::InviteClient(_) => Kind::InviteClient(InviteClientState::Terminated),
            Kind::NonInviteClient(_) => Kind::NonInviteClient(NonInviteClientState::Terminated),
            Kind::InviteServer(_) => Kind::InviteServer(InviteServerState::Terminated),
            Kind::NonInviteServer(_) => Kind::NonInviteServer(NonInviteServerState::Terminated),
        };
        a.terminated = true;
    }

    /// A client transaction received a response with `status`.
    pub(crate) fn on_response(&mut self, now: Instant, status: StatusCode) -> Actions {
        use InviteClientState as Ic;
        use NonInviteClientState as Nc;
        let mut a = Actions::default();
        match self.kind {
            Kind::InviteClient(Ic::Calling | Ic::Proceeding) => {
                self.disarm_all();
                a.pass_to_tu = true;
                if status.is_provisional() {
                    self.kind = Kind::InviteClient(Ic::Proceeding);
                } else if status.is_success() {
                    // RFC 6026 §7.2: Accepted, Timer M.
                    self.kind = Kind::InviteClient(Ic::Accepted);
                    self.arm(&mut a, Timer::M, now + self.t1 * 64);
                } else {
                    self.kind = Kind::InviteClient(Ic::Completed);
                    a.send_ack = true;
                    self.wait_or_terminate(&mut a, Timer::D, self.timer_d, now);
                }
            }
            Kind::InviteClient(Ic::Completed)
                // §17.1.1.2: a retransmitted 300-699 is ACKed again, not passed up.
                if status.is_final() && !status.is_success() => {
                    a.send_ack = true;
                }
            Kind::InviteClient(Ic::Accepted) => {
                // RFC 6026 §7.2: every 2xx goes to the TU (forks, retransmissions).
                a.pass_to_tu = status.is_success();
            }
            Kind::NonInviteClient(Nc::Trying | Nc::Proceeding) => {
                a.pass_to_tu = true;
                if status.is_provisional() {
                    self.kind = Kind::NonInviteClient(Nc::Proceeding);
                } else {
                    self.disarm_all();
                    self.kind = Kind::NonInviteClient(Nc::Completed);
                    self.wait_or_terminate(&mut a, Timer::K, self.t4, now);
                }
            }
            _ => {}
        }
        a
    }

    /// A server transaction received a retransmission of its request.
    pub(crate) fn on_request_retransmit(&mut self) -> Actions {
        use InviteServerState as Is;
        use NonInviteServerState as Ns;
        let mut a = Actions::default();
        match self.kind {
            // Proceeding resends the last provisional (if any was sent);
            // Completed resends the final. Accepted absorbs (RFC 6026 §7.1:
            // the TU retransmits the 2xx itself).
            Kind::InviteServer(Is::Proceeding | Is::Completed) => a.retransmit = true,
            Kind::NonInviteServer(Ns::Proceeding | Ns::Completed) => a.retransmit = true,
            _ => {}
        }
        a
    }

    /// An INVITE server transaction received an ACK.
    pub(crate) fn on_ack(&mut self, now: Instant) -> Actions {
        use InviteServerState as Is;
        let mut a = Actions::default();
        match self.kind {
            Kind::InviteServer(Is::Completed) => {
                self.disarm_all();
                self.kind = Kind::InviteServer(Is::Confirmed);
                self.wait_or_terminate(&mut a, Timer::I, self.t4, now);
            }
            // RFC 6026 §7.1: an ACK in Accepted is passed to the TU.
            Kind::InviteServer(Is::Accepted) => a.pass_to_tu = true,
            _ => {}
        }
        a
    }

    /// The TU hands a response with `status` to a server transaction.
    pub(crate) fn on_tu_response(
        &mut self,
        now: Instant,
        status: StatusCode,
    ) -> Result<Actions, NotAllowed> {
        use InviteServerState as Is;
        use NonInviteServerState as Ns;
        let mut a = Actions {
            send_response: true,
            ..Actions::default()
        };
        match self.kind {
            Kind::InviteServer(Is::Proceeding) => {
                if status.is_provisional() {
                } else if status.is_success() {
                    // RFC 6026 §7.1: Accepted, Timer L.
                    self.kind = Kind::InviteServer(Is::Accepted);
                    self.arm(&mut a, Timer::L, now + self.t1 * 64);
                } else {
                    self.kind = Kind::InviteServer(Is::Completed);
                    if !self.reliable {
                        self.interval = self.t1;
                        self.arm(&mut a, Timer::G, now + self.t1);
                    }
                    self.arm(&mut a, Timer::H, now + self.t1 * 64);
                }
            }
            // RFC 6026 §7.1: 2xx retransmissions from the TU pass through Accepted.
            Kind::InviteServer(Is::Accepted) if status.is_success() => {}
            Kind::NonInviteServer(Ns::Trying | Ns::Proceeding) => {
                if status.is_provisional() {
                    self.kind = Kind::NonInviteServer(Ns::Proceeding);
                } else {
                    self.kind = Kind::NonInviteServer(Ns::Completed);
                    self.wait_or_terminate(&mut a, Timer::J, self.t1 * 64, now);
                }
            }
            _ => return Err(NotAllowed),
        }
        Ok(a)
    }

    /// `timer` fired at `now` (the endpoint checked it is still armed).
    pub(crate) fn on_timer(&mut self, now: Instant, timer: Timer) -> Actions {
        use InviteClientState as Ic;
        use InviteServerState as Is;
        use NonInviteClientState as Nc;
        let mut a = Actions::default();
        if self.deadline(timer).is_none() {
            return a;
        }
        self.disarm(timer);
        match (self.kind, timer) {
            (Kind::InviteClient(Ic::Calling), Timer::A) => {
                // §17.1.1.2: Timer A doubles without a cap.
                a.retransmit = true;
                self.interval *= 2;
                self.arm(&mut a, Timer::A, now + self.interval);
            }
            (Kind::InviteClient(Ic::Calling), Timer::B)
            | (Kind::NonInviteClient(Nc::Trying | Nc::Proceeding), Timer::F)
            | (Kind::InviteServer(Is::Completed), Timer::H) => {
                a.timed_out = Some(timer);
                self.terminate(&mut a);
            }
            (Kind::NonInviteClient(Nc::Trying), Timer::E) => {
                a.retransmit = true;
                self.interval = (self.interval * 2).min(self.t2);
                self.arm(&mut a, Timer::E, now + self.interval);
            }
            (Kind::NonInviteClient(Nc::Proceeding), Timer::E) => {
                a.retransmit = true;
                self.interval = self.t2;
                self.arm(&mut a, Timer::E, now + self.t2);
            }
            (Kind::InviteServer(Is::Completed), Timer::G) => {
                a.retransmit = true;
                self.interval = (self.interval * 2).min(self.t2);
                self.arm(&mut a, Timer::G, now + self.interval);
            }
            (Kind::InviteClient(Ic::Completed), Timer::D)
            | (Kind::InviteClient(Ic::Accepted), Timer::M)
            | (Kind::NonInviteClient(Nc::Completed), Timer::K)
            | (Kind::InviteServer(Is::Confirmed), Timer::I)
            | (Kind::InviteServer(Is::Accepted), Timer::L)
            | (Kind::NonInviteServer(NonInviteServerState::Completed), Timer::J) => {
                self.terminate(&mut a);
            }
            _ => {}
        }
        a
    }

    /// The transport reported a failure sending this transaction's messages
    /// (RFC 3261 §17.1.4, §17.2.4): inform the TU and terminate at once.
    pub(crate) fn on_transport_error(&mut self) -> Actions {
        let mut a = Actions::default();
        if !self.state().is_terminated() {
            a.transport_error = true;
            self.terminate(&mut a);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Fires timers in deadline order until `end`, recording retransmit times.
    fn run(f: &mut Fsm, t0: Instant, end: Instant) -> (Vec<u64>, Vec<Actions>) {
        let mut sent = Vec::new();
        let mut all = Vec::new();
        loop {
            let next = f.timers.iter().flatten().min_by_key(|(_, at)| *at).copied();
            let Some((timer, at)) = next else { break };
            if at > end {
                break;
            }
            let a = f.on_timer(at, timer);
            if a.retransmit {
                sent.push((at - t0).as_millis() as u64);
            }
            all.push(a);
        }
        (sent, all)
    }

    #[test]
    fn invite_client_retransmits_with_timer_a_doubling_then_times_out_on_timer_b() {
        let t0 = Instant::now();
        let (mut f, a) = Fsm::invite_client(t0, &Config::default(), false);
        assert_eq!(
            a.armed,
            vec![(Timer::A, t0 + ms(500)), (Timer::B, t0 + ms(32_000))]
        );
        let (sent, all) = run(&mut f, t0, t0 + ms(40_000));
        assert_eq!(sent, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(all.last().and_then(|a| a.timed_out), Some(Timer::B));
        assert_eq!(
            f.state(),
            TxnState::InviteClient(InviteClientState::Terminated)
        );
    }

    #[test]
    fn invite_client_on_reliable_transport_uses_no_timer_a() {
        let t0 = Instant::now();
        let (mut f, a) = Fsm::invite_client(t0, &Config::default(), true);
        assert_eq!(a.armed, vec![(Timer::B, t0 + ms(32_000))]);
        let (sent, _) = run(&mut f, t0, t0 + ms(40_000));
        assert!(sent.is_empty());
    }

    #[test]
    fn invite_client_provisional_stops_retransmissions_and_timer_b() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::invite_client(t0, &Config::default(), false);
        let a = f.on_response(t0 + ms(100), StatusCode::RINGING);
        assert!(a.pass_to_tu);
        assert_eq!(
            f.state(),
            TxnState::InviteClient(InviteClientState::Proceeding)
        );
        let (sent, all) = run(&mut f, t0, t0 + ms(100_000));
        assert!(sent.is_empty() && all.is_empty());
    }

    #[test]
    fn invite_client_acks_a_failure_and_reacks_its_retransmission_until_timer_d() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::invite_client(t0, &Config::default(), false);
        let a = f.on_response(t0, StatusCode::BUSY_HERE);
        assert!(a.pass_to_tu && a.send_ack);
        assert_eq!(a.armed, vec![(Timer::D, t0 + ms(32_000))]);
        let again = f.on_response(t0 + ms(1), StatusCode::BUSY_HERE);
        assert!(again.send_ack && !again.pass_to_tu);
        let end = f.on_timer(t0 + ms(32_000), Timer::D);
        assert!(end.terminated);
    }

    #[test]
    fn invite_client_on_reliable_transport_terminates_at_once_after_a_failure() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::invite_client(t0, &Config::default(), true);
        let a = f.on_response(t0, StatusCode::BUSY_HERE);
        assert!(a.send_ack && a.terminated);
    }

    #[test]
    fn invite_client_accepts_2xx_and_passes_every_later_2xx_until_timer_m() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::invite_client(t0, &Config::default(), false);
        let a = f.on_response(t0, StatusCode::OK);
        assert!(a.pass_to_tu && !a.send_ack);
        assert_eq!(
            f.state(),
            TxnState::InviteClient(InviteClientState::Accepted)
        );
        assert_eq!(a.armed, vec![(Timer::M, t0 + ms(32_000))]);
        assert!(f.on_response(t0 + ms(5), StatusCode::OK).pass_to_tu);
        assert!(!f.on_response(t0 + ms(5), StatusCode::BUSY_HERE).pass_to_tu);
        assert!(f.on_timer(t0 + ms(32_000), Timer::M).terminated);
    }

    #[test]
    fn non_invite_client_timer_e_doubles_to_t2_then_timer_f_fires() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::non_invite_client(t0, &Config::default(), false);
        let (sent, all) = run(&mut f, t0, t0 + ms(40_000));
        assert_eq!(
            sent,
            [
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert_eq!(all.last().and_then(|a| a.timed_out), Some(Timer::F));
    }

    #[test]
    fn non_invite_client_in_proceeding_retransmits_every_t2() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::non_invite_client(t0, &Config::default(), false);
        f.on_response(t0 + ms(100), StatusCode::TRYING);
        let (sent, _) = run(&mut f, t0, t0 + ms(13_000));
        assert_eq!(sent, [500, 4500, 8500, 12500]);
    }

    #[test]
    fn non_invite_client_waits_timer_k_for_response_retransmissions() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::non_invite_client(t0, &Config::default(), false);
        let a = f.on_response(t0, StatusCode::OK);
        assert_eq!(a.armed, vec![(Timer::K, t0 + ms(5_000))]);
        assert!(!f.on_response(t0 + ms(1), StatusCode::OK).pass_to_tu);
        assert!(f.on_timer(t0 + ms(5_000), Timer::K).terminated);
        let (_, _) = Fsm::non_invite_client(t0, &Config::default(), true);
        let (mut r, _) = Fsm::non_invite_client(t0, &Config::default(), true);
        assert!(r.on_response(t0, StatusCode::OK).terminated);
    }

    #[test]
    fn invite_server_retransmits_failure_on_timer_g_until_timer_h() {
        let t0 = Instant::now();
        let mut f = Fsm::invite_server(&Config::default(), false);
        let a = f
            .on_tu_response(t0, StatusCode::BUSY_HERE)
            .expect("proceeding takes a final");
        assert_eq!(
            a.armed,
            vec![(Timer::G, t0 + ms(500)), (Timer::H, t0 + ms(32_000))]
        );
        let (sent, all) = run(&mut f, t0, t0 + ms(40_000));
        assert_eq!(
            sent,
            [
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert_eq!(all.last().and_then(|a| a.timed_out), Some(Timer::H));
    }

    #[test]
    fn invite_server_ack_confirms_and_timer_i_terminates() {
        let t0 = Instant::now();
        let mut f = Fsm::invite_server(&Config::default(), false);
        f.on_tu_response(t0, StatusCode::BUSY_HERE)
            .expect("proceeding takes a final");
        let a = f.on_ack(t0 + ms(10));
        assert_eq!(
            f.state(),
            TxnState::InviteServer(InviteServerState::Confirmed)
        );
        assert_eq!(a.armed, vec![(Timer::I, t0 + ms(5_010))]);
        assert!(!f.on_ack(t0 + ms(20)).pass_to_tu);
        assert!(f.on_timer(t0 + ms(5_010), Timer::I).terminated);
        let mut r = Fsm::invite_server(&Config::default(), true);
        r.on_tu_response(t0, StatusCode::BUSY_HERE)
            .expect("proceeding takes a final");
        assert!(r.on_ack(t0).terminated);
    }

    #[test]
    fn invite_server_on_reliable_transport_uses_no_timer_g() {
        let t0 = Instant::now();
        let mut f = Fsm::invite_server(&Config::default(), true);
        let a = f
            .on_tu_response(t0, StatusCode::BUSY_HERE)
            .expect("proceeding takes a final");
        assert_eq!(a.armed, vec![(Timer::H, t0 + ms(32_000))]);
    }

    #[test]
    fn invite_server_accepted_absorbs_invite_and_passes_ack_until_timer_l() {
        let t0 = Instant::now();
        let mut f = Fsm::invite_server(&Config::default(), false);
        let a = f
            .on_tu_response(t0, StatusCode::OK)
            .expect("proceeding takes a 2xx");
        assert_eq!(a.armed, vec![(Timer::L, t0 + ms(32_000))]);
        assert!(!f.on_request_retransmit().retransmit);
        assert!(f.on_ack(t0).pass_to_tu);
        assert!(f.on_tu_response(t0, StatusCode::OK).is_ok());
        assert!(f.on_tu_response(t0, StatusCode::BUSY_HERE).is_err());
        assert!(f.on_timer(t0 + ms(32_000), Timer::L).terminated);
    }

    #[test]
    fn non_invite_server_absorbs_in_trying_and_resends_final_until_timer_j() {
        let t0 = Instant::now();
        let mut f = Fsm::non_invite_server(&Config::default(), false);
        assert!(!f.on_request_retransmit().retransmit);
        let a = f
            .on_tu_response(t0, StatusCode::OK)
            .expect("trying takes a final");
        assert_eq!(a.armed, vec![(Timer::J, t0 + ms(32_000))]);
        assert!(f.on_request_retransmit().retransmit);
        assert!(f.on_tu_response(t0, StatusCode::OK).is_err());
        assert!(f.on_timer(t0 + ms(32_000), Timer::J).terminated);
        let mut r = Fsm::non_invite_server(&Config::default(), true);
        assert!(
            r.on_tu_response(t0, StatusCode::OK)
                .expect("trying takes a final")
                .terminated
        );
    }

    #[test]
    fn transport_error_terminates_a_live_transaction_once() {
        let t0 = Instant::now();
        let (mut f, _) = Fsm::invite_client(t0, &Config::default(), false);
        let a = f.on_transport_error();
        assert!(a.transport_error && a.terminated);
        assert!(!f.on_transport_error().transport_error);
    }

    #[test]
    fn custom_t1_scales_every_timer() {
        let t0 = Instant::now();
        let cfg = Config {
            t1: ms(100),
            ..Config::default()
        };
        let (_, a) = Fsm::invite_client(t0, &cfg, false);
        assert_eq!(
            a.armed,
            vec![(Timer::A, t0 + ms(100)), (Timer::B, t0 + ms(6_400))]
        );
    }
}
