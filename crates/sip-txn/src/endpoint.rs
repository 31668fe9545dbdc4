//! The transaction table: matching, timers and the output queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_msg::{Message, Method, Request, Response, StatusCode};

use crate::construct::{RAck, ack_for_non_2xx, cancel_for};
use crate::fsm::{Actions, Fsm, InviteClientState, Timer, TxnState};
use crate::key::{DialogCseqKey, MatchKey, TxnKey};
use crate::{Config, TxnError};

/// A connection or socket the caller owns (a UDP socket, a TCP connection).
/// The endpoint only hands it back in [`Transmit`]s and
/// [`Endpoint::handle_transport_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Flow(pub u64);

/// Where a message came from or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub flow: Flow,
    pub addr: SocketAddr,
    /// TCP/TLS/WS: Timers A, E, G are not used and D, I, J, K are zero.
    pub reliable: bool,
}

/// A message to put on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit {
    pub target: Target,
    /// The serialized message.
    pub data: Bytes,
    /// The transaction that sent it (for [`Endpoint::handle_send_failed`]).
    pub txn: Option<TxnKey>,
}

/// How a new request relates to an existing transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Related {
    None,
    /// A CANCEL matching this INVITE server transaction (§9.2): answer the
    /// CANCEL 200 and the INVITE 487. A CANCEL with `None` gets 481.
    Cancels(TxnKey),
    /// A PRACK matching the reliable provisional `rseq` of this INVITE
    /// server transaction (RFC 3262 §3); its retransmission has stopped.
    /// A PRACK with `None` gets 481.
    Pracks {
        invite: TxnKey,
        rseq: u32,
    },
}

/// What the endpoint tells the TU. Every transaction ends with exactly one
/// [`Event::Terminated`].
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A request that is not a retransmission created server transaction `key`.
    NewRequest {
        key: TxnKey,
        request: Request,
        source: Target,
        related: Related,
    },
    /// An ACK for a 2xx (RFC 3261 §13.3.1.4): `invite` is our INVITE server
    /// transaction whose 2xx it acknowledges (its 2xx retransmission has
    /// stopped), `None` for an ACK we were not waiting for.
    AckReceived {
        invite: Option<TxnKey>,
        request: Request,
        source: Target,
    },
    /// A response for client transaction `key`, passed up as §17.1 says
    /// (retransmissions absorbed; RFC 6026: every 2xx while Accepted).
    Response { key: TxnKey, response: Response },
    /// A response that matches no transaction (e.g. a 2xx after Timer M).
    StrayResponse { response: Response, source: Target },
    /// Timer B, F or H fired: the transaction failed (§17.1.1.2, §17.1.2.2, §17.2.1).
    TimedOut { key: TxnKey, timer: Timer },
    /// Sending failed or the connection was lost (§17.1.4, §17.2.4): the
    /// transaction failed at once.
    TransportError { key: TxnKey },
    /// §13.3.1.4: no ACK for our 2xx within 64*T1; the TU should send BYE.
    AckTimedOut { invite: TxnKey },
    /// RFC 3262 §3: no PRACK within 64*T1; the TU should reject the INVITE with 5xx.
    ReliableProvisionalTimedOut { invite: TxnKey, rseq: u32 },
    /// The transaction left the table. For a CANCEL requested with
    /// [`Endpoint::cancel`] that was never sent (the INVITE ended before any
    /// 1xx), this is the only event its key gets.
    Terminated { key: TxnKey },
}

/// What [`Endpoint::poll_output`] returns.
#[allow(
    clippy::large_enum_variant,
    reason = "returned by value and consumed at once; boxing would allocate per event"
)]
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Transmit(Transmit),
    Event(Event),
    /// Nothing more to do until this instant: call
    /// [`Endpoint::handle_timeout`] then.
    Timeout(Instant),
    /// Nothing more to do and no timer armed.
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerRef {
    Txn(TxnKey, Timer),
    /// RFC 3262 reliable provisional retransmission of this INVITE server txn.
    Reliable1xx(TxnKey),
    /// §13.3.1.4 2xx retransmission of this INVITE server txn.
    Retransmit2xx(TxnKey),
}

/// A retransmitting response above the transaction layer (UAS 2xx, 100rel).
#[derive(Debug)]
struct Retrans {
    data: Bytes,
    target: Target,
    interval: Duration,
    /// Doubling capped at T2 (2xx) or uncapped (RFC 3262).
    cap: Option<Duration>,
    next: Instant,
    give_up: Instant,
    /// RSeq (reliable provisionals), or dialog key (2xx).
    rseq: u32,
    key: Option<DialogCseqKey>,
}

impl Retrans {
    fn deadline(&self) -> Instant {
        self.next.min(self.give_up)
    }
}

#[derive(Debug)]
struct Txn {
    fsm: Fsm,
    target: Target,
    mkey: MatchKey,
    method: Method,
    /// The request: kept for client transactions (retransmission, CANCEL,
    /// ACK) and INVITE server transactions (100 Trying, ACK/PRACK matching);
    /// dropped for non-INVITE server transactions to keep the table small.
    request: Option<Request>,
    /// The To tag of the request (RFC 2543 matching).
    request_to_tag: Option<Box<str>>,

    /// Client: the serialized request (for retransmission).
    request_data: Bytes,
    /// Server: the last response sent (resent on request retransmissions).
    last_response: Option<Bytes>,
    /// Server: To tag of our last response (RFC 2543 ACK matching).
    response_to_tag: Option<String>,
    /// Client INVITE: the ACK for a 300-699, once built.
    ack_data: Option<Bytes>,
    /// Client INVITE: a CANCEL requested before any 1xx, sent when one arrives.
    pending_cancel: Option<TxnKey>,
    /// Client INVITE: the CANCEL sent (or pending), so a second call is idempotent.
    cancel: Option<TxnKey>,
    /// Server INVITE: the reliable provisional awaiting PRACK.
    reliable: Option<Retrans>,
    /// Server INVITE: the reliable provisional still unacknowledged when the final response
    /// went out (no longer retransmitted): its PRACK, arriving after the final response,
    /// still matches (200, not 481) while the transaction lives.
    late_prack: Option<(DialogCseqKey, u32)>,
    next_rseq: u32,
}

/// RFC 3261 §17 transaction layer plus the UA-core retransmission duties, as
/// a sans-IO state machine. See the crate docs for the run loop.
#[derive(Debug)]
pub struct Endpoint {
    cfg: Config,
    txns: HashMap<TxnKey, Txn>,
    index: HashMap<MatchKey, TxnKey>,
    /// ACK-for-2xx waits, by INVITE server transaction.
    acks: HashMap<TxnKey, Retrans>,
    ack_index: HashMap<DialogCseqKey, TxnKey>,
    /// Reliable provisionals awaiting PRACK: (dialog, CSeq, RSeq) → INVITE txn.
    prack_index: HashMap<(DialogCseqKey, u32), TxnKey>,
    timers: BinaryHeap<Reverse<(Instant, TimerRef)>>,
    out: VecDeque<Output>,
    next_key: u64,
    rng: u64,
}

impl Endpoint {
    pub fn new(config: Config) -> Endpoint {
        let rng = config.rng_seed;
        Endpoint {
            cfg: config,
            txns: HashMap::new(),
            index: HashMap::new(),
            acks: HashMap::new(),
            ack_index: HashMap::new(),
            prack_index: HashMap::new(),
            timers: BinaryHeap::new(),
            out: VecDeque::new(),
            next_key: 1,
            rng,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    // ----- (A) getters -----

    /// The state of a live transaction.
    pub fn state(&self, key: TxnKey) -> Option<TxnState> {
        self.txns.get(&key).map(|t| t.fsm.state())
    }

    /// The request of a live client or INVITE server transaction (non-INVITE
    /// server transactions do not keep theirs: the TU got it in
    /// [`Event::NewRequest`]).
    pub fn request(&self, key: TxnKey) -> Option<&Request> {
        self.txns.get(&key).and_then(|t| t.request.as_ref())
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    // ----- identifiers -----

    fn next_random(&mut self) -> u64 {
        // splitmix64: deterministic from Config::rng_seed.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh RFC 3261 branch: `z9hG4bK` + [`Config::id_prefix`] + random hex.
    pub fn new_branch(&mut self) -> String {
        let r = self.next_random();
        format!("z9hG4bK{}{r:016x}", self.cfg.id_prefix)
    }

    /// A fresh tag: [`Config::id_prefix`] + random hex.
    pub fn new_tag(&mut self) -> String {
        let r = self.next_random();
        format!("{}{r:016x}", self.cfg.id_prefix)
    }

    fn alloc_key(&mut self) -> TxnKey {
        let k = TxnKey(self.next_key);
        self.next_key += 1;
        k
    }

    // ----- (C) commands -----

    /// Starts a client transaction for `request` towards `target`
    /// (§17.1.1 for INVITE, §17.1.2 otherwise) and transmits it. The request
    /// must carry a top Via with an RFC 3261 branch (see
    /// [`Endpoint::new_branch`]) and a CSeq whose method is the request's.
    /// ACK is not a transaction: use [`Endpoint::send_stateless`].
    pub fn send_request(
        &mut self,
        now: Instant,
        target: Target,
        request: Request,
    ) -> Result<TxnKey, TxnError> {
        let key = self.alloc_key();
        self.start_client(now, key, target, request)?;
        Ok(key)
    }

    fn start_client(
        &mut self,
        now: Instant,
        key: TxnKey,
        target: Target,
        request: Request,
    ) -> Result<(), TxnError> {
        if request.method == Method::Ack {
            return Err(TxnError::AckIsNotATransaction);
        }
        let mkey = MatchKey::of_sent_request(&request).ok_or(TxnError::NoBranch)?;
        match request.headers.cseq() {
            Some(c) if c.method == request.method => {}
            _ => return Err(TxnError::BadCSeq),
        }
        if self.index.contains_key(&mkey) {
            return Err(TxnError::DuplicateBranch);
        }
        let (fsm, actions) = if request.method == Method::Invite {
            Fsm::invite_client(now, &self.cfg, target.reliable)
        } else {
            Fsm::non_invite_client(now, &self.cfg, target.reliable)
        };
        let data = Bytes::from(request.to_bytes());
        self.index.insert(mkey.clone(), key);
        self.txns.insert(
            key,
            Txn {
                fsm,
                target,
                mkey,
                method: request.method.clone(),
                request_to_tag: request.headers.to_tag().map(Into::into),
                request: Some(request),
                request_data: data.clone(),
                last_response: None,
                response_to_tag: None,
                ack_data: None,
                pending_cancel: None,
                cancel: None,
                reliable: None,
                late_prack: None,
                next_rseq: 0,
            },
        );
        self.transmit(target, data, Some(key));
        self.apply(key, actions, None);
        Ok(())
    }

    /// Sends `response` on server transaction `key` (§17.2.1, §17.2.2). For
    /// a 2xx to INVITE this also starts the UA-core 2xx retransmission
    /// (§13.3.1.4: T1 doubling to T2 until the ACK, [`Event::AckTimedOut`]
    /// after 64*T1). A final response stops reliable-provisional retransmission.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: TxnKey,
        response: Response,
    ) -> Result<(), TxnError> {
        let txn = self.txns.get_mut(&key).ok_or(TxnError::NoSuchTransaction)?;
        if !matches!(
            txn.fsm.state(),
            TxnState::InviteServer(_) | TxnState::NonInviteServer(_)
        ) {
            return Err(TxnError::NotAServerTransaction);
        }
        let status = response.status;
        let actions = txn
            .fsm
            .on_tu_response(now, status)
            .map_err(|_| TxnError::WrongState)?;
        let data = Bytes::from(response.to_bytes());
        txn.last_response = Some(data.clone());
        txn.response_to_tag = response.headers.to_tag().map(str::to_owned);
        let target = txn.target;
        let is_invite = txn.method == Method::Invite;
        if status.is_final()
            && let Some(rel) = txn.reliable.take()
            && let Some(k) = rel.key
        {
            // RFC 3262 §3 lets the final response overtake the PRACK (of a provisional
            // without SDP): the retransmissions stop, the PRACK still matches.
            txn.late_prack = Some((k, rel.rseq));
        }
        if is_invite && status.is_success() && !self.acks.contains_key(&key) {
            let dkey = txn
                .request
                .as_ref()
                .and_then(|r| DialogCseqKey::of(r, r.headers.cseq()?.seq));
            let r = Retrans {
                data: data.clone(),
                target,
                interval: self.cfg.t1,
                cap: Some(self.cfg.t2),
                next: now + self.cfg.t1,
                give_up: now + self.cfg.t1_x64(),
                rseq: 0,
                key: dkey.clone(),
            };
            self.timers
                .push(Reverse((r.deadline(), TimerRef::Retransmit2xx(key))));
            if let Some(d) = dkey {
                self.ack_index.insert(d, key);
            }
            self.acks.insert(key, r);
        }
        if actions.send_response {
            self.transmit(target, data, Some(key));
        }
        self.apply(key, actions, None);
        Ok(())
    }

    /// RFC 3262 §3: sends a reliable provisional (101-199) on INVITE server
    /// transaction `key`, adding `Require: 100rel` and the next RSeq, and
    /// retransmits it (T1, doubling) until a matching PRACK arrives
    /// ([`Related::Pracks`]) or 64*T1 pass
    /// ([`Event::ReliableProvisionalTimedOut`]). Only one may be unacknowledged
    /// at a time. Returns the RSeq used.
    pub fn send_reliable_provisional(
        &mut self,
        now: Instant,
        key: TxnKey,
        mut response: Response,
    ) -> Result<u32, TxnError> {
        let code = response.status.as_u16();
        let first_rseq = (self.next_random() % 0x7fff_ffff) as u32 + 1;
        let txn = self.txns.get_mut(&key).ok_or(TxnError::NoSuchTransaction)?;
        if !(101..200).contains(&code) || txn.method != Method::Invite {
            return Err(TxnError::NotReliableProvisional);
        }
        if txn.reliable.is_some() {
            return Err(TxnError::ReliableProvisionalPending);
        }
        if txn.next_rseq == 0 {
            txn.next_rseq = first_rseq;
        }
        let rseq = txn.next_rseq;
        response
            .headers
            .set(sip_msg::HeaderName::RSeq, rseq.to_string());
        if !crate::construct::is_reliable_provisional(&response) {
            response
                .headers
                .push(sip_msg::HeaderName::Require, "100rel");
        }
        let actions = txn
            .fsm
            .on_tu_response(now, response.status)
            .map_err(|_| TxnError::WrongState)?;
        txn.next_rseq = rseq.wrapping_add(1);
        let data = Bytes::from(response.to_bytes());
        txn.last_response = Some(data.clone());
        txn.response_to_tag = response.headers.to_tag().map(str::to_owned);
        let dkey = txn
            .request
            .as_ref()
            .and_then(|r| DialogCseqKey::of(r, r.headers.cseq()?.seq));
        let r = Retrans {
            data: data.clone(),
            target: txn.target,
            interval: self.cfg.t1,
            cap: None,
            next: now + self.cfg.t1,
            give_up: now + self.cfg.t1_x64(),
            rseq,
            key: dkey.clone(),
        };
        self.timers
            .push(Reverse((r.deadline(), TimerRef::Reliable1xx(key))));
        let target = txn.target;
        txn.reliable = Some(r);
        if let Some(d) = dkey {
            self.prack_index.insert((d, rseq), key);
        }
        self.transmit(target, data, Some(key));
        self.apply(key, actions, None);
        Ok(rseq)
    }

    /// RFC 3261 §9.1: cancels INVITE client transaction `invite`. The CANCEL
    /// is its own non-INVITE client transaction (the returned key). It is
    /// sent at once if a provisional response has arrived, else deferred
    /// until one does; if the INVITE gets a final response or fails first,
    /// the CANCEL is never sent and its key only gets [`Event::Terminated`].
    /// Calling it again returns the same key.
    pub fn cancel(&mut self, now: Instant, invite: TxnKey) -> Result<TxnKey, TxnError> {
        let txn = self.txns.get(&invite).ok_or(TxnError::NoSuchTransaction)?;
        if let Some(k) = txn.cancel {
            return Ok(k);
        }
        let TxnState::InviteClient(state) = txn.fsm.state() else {
            return Err(TxnError::NotAnInviteClient);
        };
        let key = self.alloc_key();
        match state {
            InviteClientState::Calling => {
                let txn = self.txns.get_mut(&invite).expect("looked up above");
                txn.cancel = Some(key);
                txn.pending_cancel = Some(key);
                Ok(key)
            }
            InviteClientState::Proceeding => {
                let txn = self.txns.get_mut(&invite).expect("looked up above");
                txn.cancel = Some(key);
                self.send_cancel(now, invite, key)?;
                Ok(key)
            }
            _ => Err(TxnError::WrongState),
        }
    }

    fn send_cancel(&mut self, now: Instant, invite: TxnKey, key: TxnKey) -> Result<(), TxnError> {
        let txn = self.txns.get(&invite).ok_or(TxnError::NoSuchTransaction)?;
        let cancel = cancel_for(txn.request.as_ref().ok_or(TxnError::NotAnInviteClient)?);
        let target = txn.target;
        self.start_client(now, key, target, cancel)
    }

    /// Transmits a message outside any transaction: the ACK for a 2xx (the
    /// TU's duty, §13.2.2.4), a stateless response.
    pub fn send_stateless(&mut self, target: Target, message: &Message) {
        self.transmit(target, Bytes::from(message.to_bytes()), None);
    }

    // ----- (B) inputs -----

    /// A message arrived from `source` (parsed by the caller, which needed it
    /// for classification anyway). Never fails: what matches nothing becomes
    /// an event or is dropped.
    pub fn handle_message(&mut self, now: Instant, source: Target, message: Message) {
        match message {
            Message::Response(r) => self.handle_response(now, source, r),
            Message::Request(r) => self.handle_request(now, source, r),
        }
    }

    fn handle_response(&mut self, now: Instant, source: Target, response: Response) {
        let key = MatchKey::of_response(&response).and_then(|m| self.index.get(&m).copied());
        let Some(key) = key else {
            self.event(Event::StrayResponse { response, source });
            return;
        };
        let txn = self
            .txns
            .get_mut(&key)
            .expect("index and table are updated together");
        if !matches!(
            txn.fsm.state(),
            TxnState::InviteClient(_) | TxnState::NonInviteClient(_)
        ) {
            return;
        }
        let actions = txn.fsm.on_response(now, response.status);
        if actions.send_ack
            && txn.ack_data.is_none()
            && let Some(invite) = &txn.request
        {
            txn.ack_data = Some(Bytes::from(ack_for_non_2xx(invite, &response).to_bytes()));
        }
        let status = response.status;
        let deferred = txn.pending_cancel.take();
        self.apply(key, actions, Some(response));
        if let Some(cancel) = deferred.filter(|_| !status.is_provisional()) {
            // A final response before any 1xx: the CANCEL is never sent.
            self.event(Event::Terminated { key: cancel });
            return;
        }
        if let Some(cancel) = deferred
            && let Err(e) = self.send_cancel(now, key, cancel)
        {
            // The CANCEL copies a request we already validated; it cannot
            // collide unless the caller reused the branch for a CANCEL.
            debug_assert!(false, "deferred CANCEL failed: {e}");
            self.event(Event::Terminated { key: cancel });
        }
    }

    fn handle_request(&mut self, now: Instant, source: Target, request: Request) {
        if request.method == Method::Ack {
            self.handle_ack(now, source, request);
            return;
        }
        let Some(mkey) = MatchKey::of_received_request(&request, request.method.clone()) else {
            return; // no Via / CSeq: the parser rejects these; nothing to answer to
        };
        if let Some(&key) = self.index.get(&mkey) {
            let txn = self
                .txns
                .get_mut(&key)
                .expect("index and table are updated together");
            if mkey.is_rfc2543() && request.headers.to_tag() != txn.request_to_tag.as_deref() {
                // RFC 2543 peers: a different To tag is a different request.
            } else {
                let actions = txn.fsm.on_request_retransmit();
                self.apply(key, actions, None);
                return;
            }
        }
        if self.index.contains_key(&mkey) {
            return; // RFC 2543 key clash with a different To tag: cannot index it
        }
        let related = match request.method {
            Method::Cancel => MatchKey::of_received_request(&request, Method::Invite)
                .and_then(|m| self.index.get(&m).copied())
                .filter(|k| matches!(self.state(*k), Some(TxnState::InviteServer(_))))
                .map_or(Related::None, Related::Cancels),
            Method::Prack => self.match_prack(&request),
            _ => Related::None,
        };
        let key = self.alloc_key();
        let is_invite = request.method == Method::Invite;
        let fsm = if is_invite {
            Fsm::invite_server(&self.cfg, source.reliable)
        } else {
            Fsm::non_invite_server(&self.cfg, source.reliable)
        };
        self.index.insert(mkey.clone(), key);
        self.txns.insert(
            key,
            Txn {
                fsm,
                target: source,
                mkey,
                method: request.method.clone(),
                request_to_tag: request.headers.to_tag().map(Into::into),
                request: is_invite.then(|| request.clone()),
                request_data: Bytes::new(),
                last_response: None,
                response_to_tag: None,
                ack_data: None,
                pending_cancel: None,
                cancel: None,
                reliable: None,
                late_prack: None,
                next_rseq: 0,
            },
        );
        self.event(Event::NewRequest {
            key,
            request,
            source,
            related,
        });
        if is_invite && self.cfg.auto_100_trying {
            let trying = self.txns[&key]
                .request
                .as_ref()
                .expect("INVITE server transactions keep their request")
                .make_response(StatusCode::TRYING);
            // Proceeding always accepts a provisional.
            let _ = self.send_response(now, key, trying);
        }
    }

    fn match_prack(&mut self, request: &Request) -> Related {
        let Some(rack) = RAck::of(request) else {
            return Related::None;
        };
        if rack.method != Method::Invite {
            return Related::None;
        }
        let Some(dkey) = DialogCseqKey::of(request, rack.cseq) else {
            return Related::None;
        };
        let Some(invite) = self.prack_index.remove(&(dkey, rack.rseq)) else {
            return Related::None;
        };
        if let Some(txn) = self.txns.get_mut(&invite) {
            txn.reliable = None;
            txn.late_prack = None;
        }
        Related::Pracks {
            invite,
            rseq: rack.rseq,
        }
    }

    fn handle_ack(&mut self, now: Instant, source: Target, request: Request) {
        let txn_key = MatchKey::of_received_request(&request, Method::Invite)
            .and_then(|m| self.index.get(&m).copied());
        if let Some(key) = txn_key {
            let txn = self
                .txns
                .get_mut(&key)
                .expect("index and table are updated together");
            let to_tag = request.headers.to_tag();
            let tag_ok = !txn.mkey.is_rfc2543()
                || to_tag == txn.request_to_tag.as_deref()
                || to_tag == txn.response_to_tag.as_deref();
            if tag_ok && matches!(txn.fsm.state(), TxnState::InviteServer(_)) {
                let actions = txn.fsm.on_ack(now);
                let pass = actions.pass_to_tu;
                self.apply(key, actions, None);
                if !pass {
                    return; // ACK for a non-2xx: absorbed by the transaction
                }
            }
        }
        // An ACK for a 2xx (§13.3.1.4): it has its own branch.
        let invite = request
            .headers
            .cseq()
            .and_then(|c| DialogCseqKey::of(&request, c.seq))
            .and_then(|d| self.ack_index.remove(&d));
        if let Some(k) = invite {
            self.acks.remove(&k);
        }
        self.event(Event::AckReceived {
            invite,
            request,
            source,
        });
    }

    /// Time passed: fires every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, tref))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match tref {
                TimerRef::Txn(key, timer) => {
                    let Some(txn) = self.txns.get_mut(&key) else {
                        continue;
                    };
                    if txn.fsm.deadline(timer) != Some(at) {
                        continue;
                    }
                    let actions = txn.fsm.on_timer(at, timer);
                    self.apply(key, actions, None);
                }
                TimerRef::Retransmit2xx(key) => {
                    let Some(r) = self.acks.get_mut(&key) else {
                        continue;
                    };
                    if r.deadline() != at {
                        continue;
                    }
                    if at >= r.give_up {
                        let r = self.acks.remove(&key).expect("just looked up");
                        if let Some(d) = r.key {
                            self.ack_index.remove(&d);
                        }
                        self.event(Event::AckTimedOut { invite: key });
                    } else {
                        let (data, target) = (r.data.clone(), r.target);
                        Self::backoff(r, at);
                        self.timers.push(Reverse((r.deadline(), tref)));
                        self.transmit(target, data, Some(key));
                    }
                }
                TimerRef::Reliable1xx(key) => {
                    let Some(txn) = self.txns.get_mut(&key) else {
                        continue;
                    };
                    let Some(r) = txn.reliable.as_mut() else {
                        continue;
                    };
                    if r.deadline() != at {
                        continue;
                    }
                    if at >= r.give_up {
                        let r = txn.reliable.take().expect("just looked up");
                        if let Some(d) = r.key {
                            self.prack_index.remove(&(d, r.rseq));
                        }
                        self.event(Event::ReliableProvisionalTimedOut {
                            invite: key,
                            rseq: r.rseq,
                        });
                    } else {
                        let (data, target) = (r.data.clone(), r.target);
                        Self::backoff(r, at);
                        self.timers.push(Reverse((r.deadline(), tref)));
                        self.transmit(target, data, Some(key));
                    }
                }
            }
        }
    }

    fn backoff(r: &mut Retrans, at: Instant) {
        r.interval *= 2;
        if let Some(cap) = r.cap {
            r.interval = r.interval.min(cap);
        }
        r.next = at + r.interval;
    }

    /// Sending a message of transaction `key` failed (§17.1.4, §17.2.4): the
    /// transaction fails at once with [`Event::TransportError`].
    pub fn handle_send_failed(&mut self, _now: Instant, key: TxnKey) {
        if let Some(txn) = self.txns.get_mut(&key) {
            let actions = txn.fsm.on_transport_error();
            self.apply(key, actions, None);
        }
    }

    /// The connection or socket `flow` is gone: every transaction sending on
    /// it fails at once with [`Event::TransportError`] (a lost TCP connection
    /// to one fork branch fails that branch only). Scans the table; the
    /// caller's connection tracking makes this rare.
    pub fn handle_transport_error(&mut self, now: Instant, flow: Flow) {
        let mut keys: Vec<TxnKey> = self
            .txns
            .iter()
            .filter(|(_, t)| t.target.flow == flow)
            .map(|(k, _)| *k)
            .collect();
        keys.sort();
        for k in keys {
            self.handle_send_failed(now, k);
        }
    }

    // ----- (D) output -----

    /// The next thing to do. Drain until [`Output::Timeout`] or
    /// [`Output::Idle`] after every input and command.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        while let Some(Reverse((at, tref))) = self.timers.peek().copied() {
            if self.timer_is_live(at, tref) {
                return Output::Timeout(at);
            }
            self.timers.pop();
        }
        Output::Idle
    }

    fn timer_is_live(&self, at: Instant, tref: TimerRef) -> bool {
        match tref {
            TimerRef::Txn(k, t) => self
                .txns
                .get(&k)
                .is_some_and(|x| x.fsm.deadline(t) == Some(at)),
            TimerRef::Retransmit2xx(k) => self.acks.get(&k).is_some_and(|r| r.deadline() == at),
            TimerRef::Reliable1xx(k) => self
                .txns
                .get(&k)
                .and_then(|x| x.reliable.as_ref())
                .is_some_and(|r| r.deadline() == at),
        }
    }

    // ----- internals -----

    fn transmit(&mut self, target: Target, data: Bytes, txn: Option<TxnKey>) {
        self.out
            .push_back(Output::Transmit(Transmit { target, data, txn }));
    }

    fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Carries out a state machine's actions for transaction `key`.
    fn apply(&mut self, key: TxnKey, a: Actions, response: Option<Response>) {
        for (timer, at) in &a.armed {
            self.timers.push(Reverse((*at, TimerRef::Txn(key, *timer))));
        }
        let txn = self
            .txns
            .get(&key)
            .expect("apply is called on live transactions");
        let target = txn.target;
        let is_client = matches!(
            txn.fsm.state(),
            TxnState::InviteClient(_) | TxnState::NonInviteClient(_)
        );
        let resend = if !a.retransmit {
            None
        } else if is_client {
            Some(txn.request_data.clone())
        } else {
            txn.last_response.clone()
        };
        let ack = if a.send_ack {
            txn.ack_data.clone()
        } else {
            None
        };
        for d in resend.into_iter().chain(ack) {
            self.transmit(target, d, Some(key));
        }
        if a.pass_to_tu
            && let Some(response) = response
        {
            self.event(Event::Response { key, response });
        }
        if let Some(timer) = a.timed_out {
            self.event(Event::TimedOut { key, timer });
        }
        if a.transport_error {
            self.event(Event::TransportError { key });
        }
        if a.terminated {
            self.remove(key);
        }
    }

    fn remove(&mut self, key: TxnKey) {
        let Some(txn) = self.txns.remove(&key) else {
            return;
        };
        self.index.remove(&txn.mkey);
        if let Some(r) = txn.reliable
            && let Some(d) = r.key
        {
            self.prack_index.remove(&(d, r.rseq));
        }
        if let Some(late) = txn.late_prack {
            self.prack_index.remove(&late);
        }
        if let Some(cancel) = txn.pending_cancel {
            self.event(Event::Terminated { key: cancel });
        }
        self.event(Event::Terminated { key });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sip_msg::{Limits, parse_datagram};

    fn target(n: u64) -> Target {
        Target {
            flow: Flow(n),
            addr: format!("10.9.0.{n}:5060").parse().unwrap(),
            reliable: false,
        }
    }

    fn req(method: &str, branch: &str) -> Request {
        let text = format!(
            "{method} sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.0.1;branch={branch}\r\n\
             From: <sip:a@example.com>;tag=f\r\nTo: <sip:x@example.com>\r\nCall-ID: c-{branch}\r\n\
             CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        );
        match parse_datagram(text.as_bytes(), &Limits::default()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    fn drain(ep: &mut Endpoint) -> Vec<Output> {
        let mut v = Vec::new();
        loop {
            match ep.poll_output() {
                o @ (Output::Timeout(_) | Output::Idle) => {
                    v.push(o);
                    return v;
                }
                o => v.push(o),
            }
        }
    }

    #[test]
    fn send_request_refuses_ack_missing_branch_and_duplicate_branch() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Config::default());
        assert_eq!(
            ep.send_request(t0, target(2), req("ACK", "z9hG4bKa")),
            Err(TxnError::AckIsNotATransaction)
        );
        assert_eq!(
            ep.send_request(t0, target(2), req("OPTIONS", "old")),
            Err(TxnError::NoBranch)
        );
        ep.send_request(t0, target(2), req("OPTIONS", "z9hG4bKa"))
            .unwrap();
        assert_eq!(
            ep.send_request(t0, target(2), req("OPTIONS", "z9hG4bKa")),
            Err(TxnError::DuplicateBranch)
        );
        assert!(
            ep.send_request(t0, target(2), req("INVITE", "z9hG4bKa"))
                .is_ok(),
            "the method is part of the key"
        );
    }

    #[test]
    fn a_server_transaction_takes_one_final_response_only() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Config::default());
        let r = req("REGISTER", "z9hG4bKr");
        ep.handle_message(t0, target(3), Message::Request(r.clone()));
        let key = match drain(&mut ep).remove(0) {
            Output::Event(Event::NewRequest { key, .. }) => key,
            o => panic!("unexpected {o:?}"),
        };
        ep.send_response(t0, key, r.make_response(StatusCode::OK))
            .unwrap();
        assert_eq!(
            ep.send_response(t0, key, r.make_response(StatusCode::OK)),
            Err(TxnError::WrongState)
        );
        let out = drain(&mut ep);
        assert!(
            matches!(&out[0], Output::Transmit(t) if t.target == target(3) && t.txn == Some(key))
        );
        assert_eq!(
            out[1],
            Output::Timeout(t0 + Duration::from_secs(32)),
            "Timer J"
        );
    }

    #[test]
    fn the_table_matches_retransmissions_among_many_transactions() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Config::default());
        let base = req("REGISTER", "z9hG4bKbase");
        let n = 20_000;
        for i in 0..n {
            let mut r = base.clone();
            r.headers.set(
                HeaderName::Via,
                format!("SIP/2.0/UDP 10.9.0.1;branch=z9hG4bK{i}"),
            );
            ep.handle_message(t0, target(1), Message::Request(r));
        }
        assert_eq!(ep.len(), n);
        let news = drain(&mut ep)
            .iter()
            .filter(|o| matches!(o, Output::Event(Event::NewRequest { .. })))
            .count();
        assert_eq!(news, n);
        let mut again = base.clone();
        again
            .headers
            .set(HeaderName::Via, "SIP/2.0/UDP 10.9.0.1;branch=z9hG4bK777");
        ep.handle_message(t0, target(1), Message::Request(again));
        assert_eq!(
            drain(&mut ep),
            [Output::Idle],
            "a retransmission in Trying is absorbed"
        );
        assert_eq!(ep.len(), n);
    }

    #[test]
    fn invite_server_sends_100_trying_at_once_by_default() {
        let t0 = Instant::now();
        let mut ep = Endpoint::new(Config::default());
        ep.handle_message(t0, target(4), Message::Request(req("INVITE", "z9hG4bKi")));
        let out = drain(&mut ep);
        assert!(matches!(&out[0], Output::Event(Event::NewRequest { .. })));
        let Output::Transmit(t) = &out[1] else {
            panic!("expected the 100 Trying")
        };
        assert!(t.data.starts_with(b"SIP/2.0 100 "));
    }

    use sip_msg::HeaderName;
}
