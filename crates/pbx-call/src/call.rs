//! One call: the inbound leg, the forks, and after the answer two legs
//! bridged through the relay.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use pbx_core::Destination;
use pbx_sdp::{Codec, Direction, LegSdp, LocalMedia, Negotiated, Origin, Session};
use sip_msg::{HeaderName, Message, Method, Request, Response, StatusCode, Uri};
use sip_txn::{Dialog, Target, TxnKey};

use crate::env::{CallTimer, Effect, Env, LocalSip, MediaLeg, MediaSetup};
use crate::outcome::{CallRecord, HangupBy, Outcome};

mod app;
mod queue;
use app::AppRun;

/// Methods a leg may send us in a dialog.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY";
/// How long an ended call waits for its cancelled forks' final responses
/// (Timer B's 64*T1 at the default T1).
const LINGER: Duration = Duration::from_secs(32);

/// What the shard knows about a new call.
#[derive(Debug, Clone)]
pub struct CallParams {
    /// Unique within the shard; handed to the relay as the legs' owner.
    pub id: u64,
    pub tenant_id: i64,
    pub domain: String,
    /// The caller's extension (or number) and display name.
    pub caller: String,
    pub caller_name: String,
    /// What the caller dialed (Request-URI user part).
    pub dialed: String,
    /// Codecs we accept and offer, in preference order (static types:
    /// PCMA 8, PCMU 0).
    pub codecs: Vec<Codec>,
    /// Our telephone-event payload type in offers.
    pub telephone_event_pt: u8,
    /// Most `user:` failover hops before the caller gets the status.
    pub max_hops: u32,
    pub user_agent: String,
    /// RFC 4028 session interval we ask for (zero: no session timers).
    pub session_expires: Duration,
    /// RFC 4028 Min-SE: shorter intervals are refused with 422.
    pub min_se: Duration,
    /// In-call feature code for a blind transfer (`[features]
    /// blind_transfer`, seed 000's `##`), dialled as RFC 4733 digits,
    /// then the extension and `#` (or a pause). Empty: off.
    pub blind_transfer_code: String,
    /// In-call feature code for an attended transfer (`[features]
    /// attended_transfer`, `*2`): the other party is held while the dialler
    /// talks to the extension; hanging up hands the call over. Empty: off.
    pub attended_transfer_code: String,
    /// How long to wait for the next digit of the extension.
    pub digit_timeout: Duration,
}

/// The caller's INVITE, as the endpoint handed it up.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Its INVITE server transaction.
    pub key: TxnKey,
    pub invite: Request,
    pub source: Target,
    /// Our address on the flow it came in on.
    pub local: LocalSip,
}

/// One registered contact to ring.
#[derive(Debug, Clone)]
pub struct ForkTarget {
    /// The Request-URI: the Contact URI as registered.
    pub uri: Uri,
    /// Where the INVITE goes (the contact address, or the NAT'ed source / TCP flow).
    pub target: Target,
    pub local: LocalSip,
    /// The group member this contact belongs to, when a group rings it: the one who
    /// answers becomes the call's `user:` destination and counts as in a call.
    pub member: Option<String>,
    /// A provider trunk rather than a phone: the identity and credentials the INVITE
    /// goes out with.
    pub trunk: Option<Box<TrunkFork>>,
}

/// How an INVITE leaves through a provider trunk (issue 5, caller ID): `From` carries
/// `from_user@from_domain`; when the trunk sets its own `from_user` (the account the
/// provider authenticates) the caller ID goes in `P-Asserted-Identity`. A 401/407 is
/// answered with the trunk's credentials (once per challenge, twice at most).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkFork {
    /// The trunk's name (logs, records).
    pub name: String,
    pub from_user: String,
    pub from_domain: String,
    /// `P-Asserted-Identity` value, e.g. `<sip:+74952216005@sip.example>`.
    pub asserted: Option<String>,
    pub username: String,
    pub password: String,
    /// The codecs the trunk takes, in its order (empty: ours). The caller's codec goes
    /// first when the trunk takes it, so the relay need not transcode.
    pub codecs: Vec<Codec>,
}

/// A user to ring.
#[derive(Debug, Clone)]
pub struct RingTarget {
    pub ext: String,
    pub name: String,
    pub ring_timeout: Duration,
    pub contacts: Vec<ForkTarget>,
    pub on_busy: Option<Destination>,
    pub on_no_answer: Option<Destination>,
    pub on_unavailable: Option<Destination>,
    /// A ring group's stage rather than a user: `ext` is the group's, the contacts
    /// carry their [`ForkTarget::member`].
    pub group: bool,
    /// More stages of the group wait: an unanswered ring asks for the next one
    /// ([`Effect::Hunt`]) instead of failing over.
    pub hunt: bool,
    /// An outside number through a trunk (`ext` is the E.164 number): the caller gets
    /// the provider's final status, and with `hunt` a 408/5xx or silence asks for the
    /// next trunk ([`Effect::Hunt`]).
    pub external: bool,
    /// With `external`: when no response at all (not even 100) came within this, the
    /// trunk counts as dead and the next one is tried (`failover_timeout`).
    pub first_response: Option<Duration>,
}

/// Where the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Looking up the destination.
    Routing,
    /// Forks are out.
    Ringing,
    /// A media application (voice menu, announcement, voicemail) runs on
    /// the caller's leg.
    App,
    Answered,
    /// The record is written; waiting for stray final responses.
    Ended,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Routing => "routing",
            CallState::Ringing => "ringing",
            CallState::App => "app",
            CallState::Answered => "answered",
            CallState::Ended => "ended",
        }
    }
}

/// One side of the call as a dialog with its own SDP.
#[derive(Debug)]
struct Leg {
    call_id: String,
    /// Our tag in this dialog (To for the inbound leg, From for a fork).
    tag: String,
    dialog: Option<Dialog>,
    target: Target,
    local: LocalSip,
    sdp: LegSdp,
    media: Option<MediaLeg>,
    media_addr: Option<SocketAddr>,
    neg: Option<Negotiated>,
    /// The offer we sent on this leg and await an answer to (in a 2xx,
    /// or in the ACK for a delayed offer).
    our_offer: Option<Session>,
    /// The peer put this leg on hold.
    remote_hold: bool,
    /// We hold the peer (the other leg is on hold).
    local_hold: bool,
    /// Our re-INVITE in flight on this leg.
    reinvite: Option<TxnKey>,
    /// Hold state changed while a re-INVITE was in flight: offer again.
    reoffer: bool,
    /// The ACK for the last 2xx we got on this leg (resent for retransmissions).
    last_ack: Option<Request>,
    /// RFC 4028 on this leg.
    timer: Option<SessionTimer>,
    /// Whether the peer said `Supported: timer`.
    peer_timer: bool,
    /// RFC 4733 digits the phone on this leg dialled (feature codes).
    digits: String,
    /// After a feature code: the extension being dialled, and whether the
    /// code was the attended one.
    collecting: Option<(String, bool)>,
    digits_epoch: u32,
    /// The media engine plays music on hold on this leg.
    moh: bool,
}

/// An RFC 4028 session timer on one leg.
#[derive(Debug, Clone, Copy)]
struct SessionTimer {
    interval: Duration,
    /// We send the refreshes (else we watch for the peer's).
    we_refresh: bool,
    epoch: u32,
}

impl Leg {
    fn new(call_id: String, tag: String, target: Target, local: LocalSip, origin: Origin) -> Leg {
        Leg {
            call_id,
            tag,
            dialog: None,
            target,
            local,
            sdp: LegSdp::new(origin),
            media: None,
            media_addr: None,
            neg: None,
            our_offer: None,
            remote_hold: false,
            local_hold: false,
            reinvite: None,
            reoffer: false,
            last_ack: None,
            timer: None,
            peer_timer: false,
            digits: String::new(),
            collecting: None,
            digits_epoch: 0,
            moh: false,
        }
    }

    fn local_media(&self, codecs: &[Codec], te: u8) -> Option<LocalMedia> {
        let addr = self.media_addr?;
        Some(LocalMedia {
            addr: addr.ip(),
            port: addr.port(),
            rtcp_mux: true,
            codecs: codecs.to_vec(),
            telephone_event_pt: Some(te),
            direction: if self.local_hold {
                Direction::SendOnly
            } else {
                Direction::SendRecv
            },
            ptime: None,
        })
    }

    fn configure(&self, env: &mut Env<'_>) {
        if let (Some(m), Some(neg)) = (self.media, &self.neg) {
            env.media.configure(
                m,
                &MediaSetup {
                    negotiated: neg.clone(),
                    on_hold: self.remote_hold || self.local_hold,
                },
            );
        }
    }

    fn release(&mut self, env: &mut Env<'_>) {
        if let Some(m) = self.media.take() {
            env.media.release(m);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForkState {
    Trying,
    Ringing,
    Answered,
    /// Final non-2xx (`None`: timed out or unreachable).
    Done(Option<StatusCode>),
}

/// One outbound INVITE to one contact.
#[derive(Debug)]
pub struct Fork {
    /// The ring attempt (user) it belongs to.
    generation: u32,
    /// The user it rings (a group's member, or the user rung).
    ext: String,
    /// It rings a member of a group ([`ForkTarget::member`]).
    group_member: bool,
    /// Its trunk identity and credentials ([`ForkTarget::trunk`]).
    trunk: Option<Box<TrunkFork>>,
    /// Any response (even 100 Trying) came for its INVITE.
    heard: bool,
    /// Challenges answered with the trunk's credentials.
    auth_tries: u8,
    uri: Uri,
    /// Its INVITE client transaction (`None` for a leg adopted from
    /// another call by an attended transfer).
    key: Option<TxnKey>,
    invite: Request,
    state: ForkState,
    leg: Leg,
}

/// A leg handed from one call to another by an attended transfer (RFC
/// 3891 Replaces): its dialog, SDP state and relay leg move; the call that
/// gave it up no longer touches it.
#[derive(Debug)]
pub struct Handover {
    leg: Leg,
    ext: String,
    uri: Uri,
    invite: Request,
}

impl Handover {
    /// Our tag in the leg's dialog (in-dialog requests carry it as To tag).
    pub fn tag(&self) -> &str {
        &self.leg.tag
    }

    /// The relay leg that moves with it.
    pub fn media(&self) -> Option<MediaLeg> {
        self.leg.media
    }

    /// The user on that leg.
    pub fn ext(&self) -> &str {
        &self.ext
    }
}

/// What a client transaction of the call is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    ForkInvite(usize),
    ReInvite(Side),
    Bye,
}

/// The two sides after routing: the caller (inbound) and the fork that
/// answered (or is being set up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    In,
    Fork(usize),
}

/// A transfer in progress (RFC 3515 REFER, RFC 5589).
#[derive(Debug, Clone)]
struct Xfer {
    /// The leg that sent the REFER, while it is still there.
    by: Option<Side>,
    /// The transferor's extension (for presence and the record).
    by_ext: String,
    /// The extension the call goes to.
    to: String,
    /// The bridge before the transfer, restored when it fails.
    prev_anchor: Side,
    prev_winner: Option<usize>,
    /// `*2`: ringing the target for a consultation, `held` on hold meanwhile.
    consult_held: Option<Side>,
}

/// `*2` consultation: `held` waits while `by` talks to the target.
#[derive(Debug, Clone)]
struct Consult {
    by: Side,
    by_ext: String,
    held: Side,
    /// The bridge before, restored when the consultation ends without a hand-over.
    prev_anchor: Side,
    prev_winner: Option<usize>,
}

/// A leg as `vpbx calls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSummary {
    pub call_id: String,
    pub contact: String,
    pub state: String,
}

/// A call in progress: one inbound leg and its forks.
#[derive(Debug)]
pub struct Call {
    p: CallParams,
    state: CallState,
    inbound: Inbound,
    a: Leg,
    /// The caller's offer, kept to answer it in the 200 (and identical
    /// in every 1xx/2xx, RFC 3264 §4).
    a_answer: Option<Session>,
    forks: Vec<Fork>,
    /// Contacts that could not be rung at all (no media port, send failed).
    dead: Vec<Option<StatusCode>>,
    /// The side that stays bridged to `winner`: the caller, until a
    /// transfer by the caller hands its place to the callee.
    anchor: Side,
    winner: Option<usize>,
    xfer: Option<Xfer>,
    /// An attended feature-code transfer in consultation: the held party
    /// (the dialler is bridged with the target meanwhile).
    consult: Option<Consult>,
    transfers: Vec<crate::outcome::Transfer>,
    /// The fork whose early media the caller hears.
    early: Option<usize>,
    ringing_sent: bool,
    target: Option<RingTarget>,
    generation: u32,
    hops: u32,
    /// Destinations walked for applications and failovers other than
    /// `user:` ([`Effect::Goto`]).
    walk: u32,
    txns: Vec<(TxnKey, Role)>,
    start_ms: u64,
    answer_ms: Option<u64>,
    destination: String,
    record_written: bool,
    /// The caller sent `Require: 100rel`: provisionals go reliably.
    a_100rel: bool,
    /// The caller's Session-Expires (seconds, refresher).
    a_se: Option<(u32, Option<String>)>,
    /// The media application on the caller's leg.
    app: Option<AppRun>,
    /// Applications started so far (playback ids and timers carry the count,
    /// so an earlier application's late reports are ignored).
    apps: u32,
    /// The AppGrace timer is armed.
    grace_armed: bool,
    /// Music on hold class for a held party (empty: silence).
    moh_class: String,
    /// The caller's leg hears a tone from the media engine (ringback while
    /// forks ring for a caller an application answered).
    a_tone: bool,
    /// A delayed-offer caller was answered for an application; it starts
    /// when the ACK brings the caller's answer (media needs a peer).
    app_wait_ack: bool,
    /// The codecs of the caller's leg once vpbx answered it for an
    /// application: engine codecs only (G.711, G.722), the negotiated one
    /// first; forks then offer only what the relay can bridge without a
    /// transcoder it lacks (any engine codec with any other).
    a_codecs: Option<Vec<Codec>>,
    /// The walk left a user who was busy (`on_busy`): a voicemail reached
    /// from there plays the busy greeting.
    busy_failover: bool,
    /// Waiting in a queue: the application on the caller's leg plays on while agents
    /// ring ([`Call::queue_ring`]); an attempt nobody answers comes back as
    /// [`Effect::QueueMissed`].
    in_queue: bool,
    /// An early-media application runs ([`Call::run_early_app`]): its answer is a 183
    /// with SDP, and the caller's final status (and reason phrase) when it ends is this.
    early_final: Option<(StatusCode, String)>,
}

impl Call {
    /// Takes the caller's INVITE: checks Max-Forwards, allocates the
    /// inbound media leg and answers the SDP offer (if any) in advance. On
    /// failure the caller already got the status and the call is ended.
    pub fn new(p: CallParams, inbound: Inbound, env: &mut Env<'_>) -> Call {
        let tag = env.ep.new_tag();
        env.effect(Effect::OwnTag(tag.clone()));
        env.effect(Effect::OwnTxn(inbound.key));
        let call_id = inbound
            .invite
            .headers
            .call_id()
            .unwrap_or_default()
            .to_owned();
        let origin = Origin::new(p.id, inbound.source.addr.ip());
        let a = Leg::new(call_id, tag, inbound.source, inbound.local.clone(), origin);
        let mut call = Call {
            start_ms: env.wall_ms,
            destination: String::new(),
            p,
            state: CallState::Routing,
            inbound,
            a,
            a_answer: None,
            forks: Vec::new(),
            dead: Vec::new(),
            anchor: Side::In,
            winner: None,
            xfer: None,
            consult: None,
            transfers: Vec::new(),
            early: None,
            ringing_sent: false,
            target: None,
            generation: 0,
            hops: 0,
            walk: 0,
            txns: Vec::new(),
            answer_ms: None,
            record_written: false,
            a_100rel: false,
            a_se: None,
            app: None,
            apps: 0,
            grace_armed: false,
            moh_class: "default".to_owned(),
            a_tone: false,
            a_codecs: None,
            busy_failover: false,
            in_queue: false,
            app_wait_ack: false,
            early_final: None,
        };
        let h = &call.inbound.invite.headers;
        call.a_100rel = has_option(h, &HeaderName::Require, "100rel");
        call.a.peer_timer = has_option(h, &HeaderName::Supported, "timer")
            || has_option(h, &HeaderName::Require, "timer");
        call.a_se = session_expires(h);
        if let Some((se, _)) = &call.a_se
            && !call.p.session_expires.is_zero()
            && u64::from(*se) < call.p.min_se.as_secs()
        {
            // RFC 4028 §8.1: too short an interval is refused with our Min-SE.
            let mut r = call
                .inbound
                .invite
                .make_response(StatusCode::new(422).unwrap_or(StatusCode::BAD_REQUEST));
            r.reason = "Session Interval Too Small".into();
            r.set_to_tag(&call.a.tag);
            r.headers
                .push(min_se_header(), call.p.min_se.as_secs().to_string());
            let _ = env.ep.send_response(env.now, call.inbound.key, r);
            call.end(
                Outcome::Failed(StatusCode::BAD_REQUEST),
                HangupBy::System,
                Some(422),
                "session_interval_too_small",
                env,
            );
            return call;
        }
        if call.inbound.invite.headers.max_forwards() == Some(0) {
            call.finish_unanswered(Outcome::Failed(StatusCode::TOO_MANY_HOPS), env);
            return call;
        }
        let Some((leg, addr)) = env.media.allocate(call.p.id, call.inbound.source.addr.ip()) else {
            call.finish_unanswered(Outcome::Congestion, env);
            return call;
        };
        call.a.media = Some(leg);
        call.a.media_addr = Some(addr);
        call.a.sdp = LegSdp::new(Origin::new(call.p.id, addr.ip()));
        if !call.inbound.invite.body.is_empty() {
            let Ok(offer) = pbx_sdp::parse(&call.inbound.invite.body) else {
                call.finish_unanswered(Outcome::Failed(StatusCode::BAD_REQUEST), env);
                return call;
            };
            let local = call.local(Side::In);
            match local.map(|l| call.a.sdp.answer(&offer, &l)) {
                Some(Ok((answer, neg))) => {
                    call.a.remote_hold = is_hold(neg.direction);
                    call.a.neg = Some(neg);
                    call.a_answer = Some(answer);
                    call.a.configure(env);
                }
                _ => {
                    call.finish_unanswered(Outcome::Failed(StatusCode::NOT_ACCEPTABLE_HERE), env);
                    return call;
                }
            }
        }
        call
    }

    pub fn state(&self) -> CallState {
        self.state
    }

    pub fn id(&self) -> u64 {
        self.p.id
    }

    pub fn tenant_id(&self) -> i64 {
        self.p.tenant_id
    }

    pub fn caller(&self) -> &str {
        &self.p.caller
    }

    pub fn dialed(&self) -> &str {
        &self.p.dialed
    }

    pub fn destination(&self) -> &str {
        &self.destination
    }

    pub fn call_id(&self) -> &str {
        &self.a.call_id
    }

    pub fn start_ms(&self) -> u64 {
        self.start_ms
    }

    pub fn answer_ms(&self) -> Option<u64> {
        self.answer_ms
    }

    /// The destination being walked to was reached because the user rung
    /// before was busy (their `on_busy`), not unanswered or unavailable:
    /// voicemail plays the user's busy greeting.
    pub fn failover_was_busy(&self) -> bool {
        self.busy_failover
    }

    /// Whether the answered call is on hold on either side.
    pub fn on_hold(&self) -> bool {
        self.a.remote_hold || self.winner.is_some_and(|w| self.forks[w].leg.remote_hold)
    }

    /// The forks, for `vpbx calls`.
    pub fn legs(&self) -> Vec<LegSummary> {
        self.forks
            .iter()
            .map(|f| LegSummary {
                call_id: f.leg.call_id.clone(),
                contact: f.uri.to_string(),
                state: match f.state {
                    ForkState::Trying => "trying".to_owned(),
                    ForkState::Ringing => "ringing".to_owned(),
                    ForkState::Answered => "answered".to_owned(),
                    ForkState::Done(Some(s)) => s.as_u16().to_string(),
                    ForkState::Done(None) => "unreachable".to_owned(),
                },
            })
            .collect()
    }

    fn local(&self, side: Side) -> Option<LocalMedia> {
        let codecs = match (&self.a_codecs, side) {
            (Some(c), Side::In) => c.clone(),
            _ => self.offer_codecs(),
        };
        self.leg(side)
            .local_media(&codecs, self.p.telephone_event_pt)
    }

    /// Our codec list: the caller's negotiated codec first, so the callee
    /// can avoid transcoding, then the rest of the preferences.
    /// After an application answered the caller (an engine codec on its leg)
    /// only engine codecs are offered: the relay converts A-law, µ-law and
    /// G.722 into one another, nothing else.
    fn offer_codecs(&self) -> Vec<Codec> {
        let engine_only = self.a_codecs.is_some();
        let mut out: Vec<Codec> = Vec::with_capacity(self.p.codecs.len());
        if let Some(n) = &self.a.neg
            && let Some(c) = self
                .p
                .codecs
                .iter()
                .find(|c| c.name.eq_ignore_ascii_case(&n.codec.name))
                .cloned()
                .or_else(|| {
                    engine_only
                        .then(|| app::static_engine_codec(&n.codec.name))
                        .flatten()
                })
        {
            out.push(c);
        }
        for c in &self.p.codecs {
            if engine_only && !app::is_engine_codec(c) {
                continue;
            }
            if !out.iter().any(|o| o.name.eq_ignore_ascii_case(&c.name)) {
                out.push(c.clone());
            }
        }
        out
    }

    /// What we offer a trunk that takes `trunk` codecs (all of them codecs the relay
    /// converts between): its list, the caller's negotiated codec first when in it.
    fn trunk_codecs(&self, trunk: &[Codec]) -> Vec<Codec> {
        let mut out = trunk.to_vec();
        if let Some(n) = &self.a.neg
            && let Some(i) = out
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(&n.codec.name))
        {
            let first = out.remove(i);
            out.insert(0, first);
        }
        out
    }

    fn leg(&self, side: Side) -> &Leg {
        match side {
            Side::In => &self.a,
            Side::Fork(i) => &self.forks[i].leg,
        }
    }

    fn leg_mut(&mut self, side: Side) -> &mut Leg {
        match side {
            Side::In => &mut self.a,
            Side::Fork(i) => &mut self.forks[i].leg,
        }
    }

    /// The side bridged with `side`.
    fn other(&self, side: Side) -> Option<Side> {
        let w = self.winner.map(Side::Fork);
        if side == self.anchor {
            w
        } else if Some(side) == w {
            Some(self.anchor)
        } else {
            None
        }
    }

    /// Forks are out: first ringing, or a transfer target while answered.
    fn ringing(&self) -> bool {
        self.state == CallState::Ringing
            || (self.state == CallState::Answered && self.xfer.is_some())
    }

    fn role_of(&self, key: TxnKey) -> Option<Role> {
        self.txns.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
    }

    fn own(&mut self, key: TxnKey, role: Role) {
        self.txns.push((key, role));
    }

    // ----- ringing -----

    /// Rings `target`: one INVITE per contact, and the ring timer. No
    /// contacts: the user is unavailable.
    pub fn ring(&mut self, target: RingTarget, env: &mut Env<'_>) {
        let transfer = self.state == CallState::Answered && self.xfer.is_some();
        if self.state != CallState::Routing && !transfer {
            return;
        }
        self.generation += 1;
        let kind = if target.external {
            "external"
        } else if target.group {
            "group"
        } else {
            "user"
        };
        self.destination = format!("{kind}:{}", target.ext);
        let first_response = target.first_response.filter(|_| target.external);
        let contacts = target.contacts.clone();
        let timeout = target.ring_timeout;
        self.target = Some(target);
        for c in contacts {
            self.fork(c, env);
        }
        if !self.forks.iter().any(|f| f.generation == self.generation) {
            let dead = std::mem::take(&mut self.dead);
            return self.unanswered(Outcome::of_forks(&dead), env);
        }
        if !transfer {
            self.state = CallState::Ringing;
            if self.caller_up() {
                // The caller was answered by an application: it hears our
                // ringback, not the phones' progress.
                self.start_ringback(env);
            }
        }
        env.timer(timeout, CallTimer::Ring(self.generation));
        if let Some(t) = first_response {
            env.timer(t, CallTimer::FirstResponse(self.generation));
        }
    }

    /// The user cannot be rung (`outcome`: busy at `busy_level`, not
    /// registered, over a limit, unknown). `target` carries their failover
    /// destinations when the user exists.
    pub fn unreachable(
        &mut self,
        ext: &str,
        target: Option<RingTarget>,
        outcome: Outcome,
        env: &mut Env<'_>,
    ) {
        if self.state == CallState::Answered && self.xfer.is_some() {
            return self.transfer_failed(outcome.status(), env);
        }
        if self.state != CallState::Routing {
            return;
        }
        let kind = if target.as_ref().is_some_and(|t| t.group) {
            "group"
        } else {
            "user"
        };
        self.destination = format!("{kind}:{ext}");
        self.target = target;
        self.unanswered(outcome, env);
    }

    fn fork(&mut self, c: ForkTarget, env: &mut Env<'_>) {
        let idx = self.forks.len();
        let call_id = format!("{}@vpbx", env.ep.new_tag());
        let tag = env.ep.new_tag();
        let mut leg = Leg::new(
            call_id.clone(),
            tag.clone(),
            c.target,
            c.local.clone(),
            Origin::new(self.p.id.wrapping_add(idx as u64 + 1), c.target.addr.ip()),
        );
        let Some((m, addr)) = env.media.allocate(self.p.id, c.target.addr.ip()) else {
            // No media ports: this contact cannot be rung.
            self.dead.push(Some(StatusCode::SERVICE_UNAVAILABLE));
            return;
        };
        leg.media = Some(m);
        leg.media_addr = Some(addr);
        leg.sdp = LegSdp::new(Origin::new(
            self.p.id.wrapping_add(idx as u64 + 1),
            addr.ip(),
        ));
        let codecs = match c.trunk.as_deref().filter(|t| !t.codecs.is_empty()) {
            Some(t) => self.trunk_codecs(&t.codecs),
            None => self.offer_codecs(),
        };
        let local = leg
            .local_media(&codecs, self.p.telephone_event_pt)
            .expect("media address set just above");
        let offer = leg.sdp.offer(&local);
        leg.our_offer = Some(offer.clone());
        let target_user = c.member.clone().unwrap_or_else(|| {
            self.target
                .as_ref()
                .map_or_else(String::new, |t| t.ext.clone())
        });
        let mf = self
            .inbound
            .invite
            .headers
            .max_forwards()
            .unwrap_or(70)
            .saturating_sub(1)
            .min(70);
        let mut req = Request {
            method: Method::Invite,
            uri: c.uri.clone(),
            headers: Default::default(),
            body: Bytes::new(),
        };
        let h = &mut req.headers;
        h.push(HeaderName::Via, c.local.via(&env.ep.new_branch()));
        h.push(HeaderName::MaxForwards, mf.to_string());
        match c.trunk.as_deref() {
            Some(t) => {
                h.push(
                    HeaderName::From,
                    format!("<sip:{}@{}>;tag={tag}", t.from_user, t.from_domain),
                );
                h.push(HeaderName::To, format!("<{}>", c.uri));
                if let Some(pai) = &t.asserted {
                    h.push(HeaderName::Other("P-Asserted-Identity".into()), pai.clone());
                }
            }
            None => {
                h.push(
                    HeaderName::From,
                    format!(
                        "{}<sip:{}@{}>;tag={tag}",
                        display(&self.p.caller_name),
                        self.p.caller,
                        self.p.domain
                    ),
                );
                h.push(
                    HeaderName::To,
                    format!("<sip:{target_user}@{}>", self.p.domain),
                );
            }
        }
        h.push(HeaderName::CallId, call_id);
        h.push(HeaderName::CSeq, "1 INVITE");
        h.push(HeaderName::Contact, c.local.contact("vpbx"));
        h.push(HeaderName::Allow, ALLOW);
        if self.p.session_expires.is_zero() {
            h.push(HeaderName::Supported, "100rel");
        } else {
            h.push(HeaderName::Supported, "100rel, timer");
            h.push(
                session_expires_header(),
                self.p.session_expires.as_secs().to_string(),
            );
            h.push(min_se_header(), self.p.min_se.as_secs().to_string());
        }
        h.push(HeaderName::UserAgent, self.p.user_agent.clone());
        h.push(HeaderName::ContentType, "application/sdp");
        req.body = Bytes::from(offer.to_bytes());
        let Some(key) = env.send_request(c.target, req.clone()) else {
            leg.release(env);
            self.dead.push(None);
            return;
        };
        env.effect(Effect::OwnTag(tag));
        self.own(key, Role::ForkInvite(idx));
        self.forks.push(Fork {
            generation: self.generation,
            group_member: c.member.is_some(),
            trunk: c.trunk,
            heard: false,
            auth_tries: 0,
            ext: target_user,
            uri: c.uri,
            key: Some(key),
            invite: req,
            state: ForkState::Trying,
            leg,
        });
    }

    /// Cancels every fork still ringing (except `keep`) and frees its media.
    fn cancel_forks(&mut self, keep: Option<usize>, env: &mut Env<'_>) {
        for i in 0..self.forks.len() {
            if Some(i) == keep {
                continue;
            }
            let f = &mut self.forks[i];
            // An answered fork is a bridged party (or the transferor's
            // leg), not a ringing one: it keeps its media.
            if f.state == ForkState::Answered {
                continue;
            }
            if matches!(f.state, ForkState::Trying | ForkState::Ringing)
                && let Some(k) = f.key
            {
                let _ = env.ep.cancel(env.now, k);
            }
            f.leg.release(env);
        }
        if self.early.is_some_and(|e| Some(e) != keep) {
            self.early = None;
        }
    }

    /// Ringing ended without an answer: failover or the status.
    fn unanswered(&mut self, outcome: Outcome, env: &mut Env<'_>) {
        self.cancel_forks(None, env);
        if self.in_queue && self.state == CallState::Ringing {
            // A queue attempt: the caller goes on waiting (the application never
            // stopped) and the queue chooses the next agents.
            self.state = CallState::App;
            env.effect(Effect::QueueMissed {
                busy: outcome == Outcome::Busy,
            });
            return;
        }
        if self.state == CallState::Answered && self.xfer.is_some() {
            return self.transfer_failed(outcome.status(), env);
        }
        if let Some(t) = &self.target
            && t.hunt
            && matches!(
                outcome,
                Outcome::Busy | Outcome::NoAnswer | Outcome::Unavailable | Outcome::Failed(_)
            )
        {
            self.state = CallState::Routing;
            env.effect(Effect::Hunt {
                hop: self.hops,
                busy: outcome == Outcome::Busy,
            });
            return;
        }
        let next = self.target.as_ref().and_then(|t| match outcome {
            Outcome::Busy => t.on_busy.clone(),
            Outcome::NoAnswer => t.on_no_answer.clone(),
            Outcome::Unavailable => t.on_unavailable.clone(),
            _ => None,
        });
        match next {
            Some(Destination::User(ext)) if self.hops < self.p.max_hops => {
                self.hops += 1;
                self.state = CallState::Routing;
                self.ringing_sent = false;
                env.effect(Effect::Route {
                    ext: ext.as_str().to_owned(),
                    hop: self.hops,
                });
            }
            // voicemail:, ivr:, announce:, group: … : the server walks on.
            Some(dest) if !matches!(dest, Destination::User(_)) => {
                self.ringing_sent = false;
                self.goto(dest, env);
                self.busy_failover = outcome == Outcome::Busy;
            }
            _ => self.finish_unanswered(outcome, env),
        }
    }

    /// The caller gets the final status of `outcome`; the call ends.
    fn finish_unanswered(&mut self, outcome: Outcome, env: &mut Env<'_>) {
        if self.caller_up() {
            // An application answered the caller: no final status any more,
            // the caller gets a BYE.
            return self.drop_caller(HangupBy::System, outcome.reason(), true, env);
        }
        self.app_gone(env);
        // An early-media application's end (or a failure during it) is the status it
        // was started for; a CANCEL still gets 487.
        let early = self
            .early_final
            .take()
            .filter(|_| outcome != Outcome::Cancelled);
        let (outcome, reason) = match &early {
            Some((status, _)) => (Outcome::Failed(*status), "refused"),
            None => (outcome, outcome.reason()),
        };
        let status = outcome.status();
        let mut r = self.inbound.invite.make_response(status);
        r.set_to_tag(&self.a.tag);
        if let Some((_, phrase)) = early {
            r.reason = phrase;
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers.push(HeaderName::RetryAfter, "5");
        }
        let _ = env.ep.send_response(env.now, self.inbound.key, r);
        let by = if outcome == Outcome::Cancelled {
            HangupBy::Caller
        } else {
            HangupBy::System
        };
        self.end(outcome, by, Some(status.as_u16()), reason, env);
    }

    // ----- inputs -----

    /// A response on one of the call's client transactions.
    pub fn on_response(&mut self, key: TxnKey, resp: Response, env: &mut Env<'_>) {
        match self.role_of(key) {
            Some(Role::ForkInvite(i)) => self.on_fork_response(i, resp, env),
            Some(Role::ReInvite(side)) => self.on_reinvite_response(side, key, resp, env),
            Some(Role::Bye) | None => {}
        }
    }

    /// A client transaction failed (Timer B/F, transport error).
    pub fn on_txn_failed(&mut self, key: TxnKey, env: &mut Env<'_>) {
        match self.role_of(key) {
            Some(Role::ForkInvite(i)) => {
                if matches!(self.forks[i].state, ForkState::Trying | ForkState::Ringing) {
                    self.forks[i].state = ForkState::Done(None);
                    self.forks[i].leg.release(env);
                    self.forks_settled(env);
                }
            }
            Some(Role::ReInvite(side)) => {
                // §14.1: the session is unchanged; a dead peer shows by RTP timeout.
                self.leg_mut(side).reinvite = None;
            }
            Some(Role::Bye) | None => {}
        }
    }

    fn on_fork_response(&mut self, i: usize, resp: Response, env: &mut Env<'_>) {
        let status = resp.status;
        self.forks[i].heard = true;
        if status == StatusCode::TRYING {
            return;
        }
        if matches!(status.as_u16(), 401 | 407)
            && matches!(self.forks[i].state, ForkState::Trying | ForkState::Ringing)
            && self.retry_with_credentials(i, &resp, env)
        {
            return;
        }
        if status.is_success() {
            return self.on_fork_answer(i, resp, env);
        }
        if !matches!(self.forks[i].state, ForkState::Trying | ForkState::Ringing) {
            return;
        }
        if status.is_provisional() {
            if !self.ringing() {
                return;
            }
            let f = &mut self.forks[i];
            f.state = ForkState::Ringing;
            if resp.headers.to_tag().is_some() && f.leg.dialog.is_none() {
                f.leg.dialog = Dialog::uac(&f.invite, &resp).ok();
            }
            if sip_txn::is_reliable_provisional(&resp) {
                // RFC 3262: PRACK each new reliable 1xx once; a repeat is
                // answered by our PRACK's own retransmission.
                let via = f.leg.local.via(&env.ep.new_branch());
                let target = f.leg.target;
                let Some(d) = f.leg.dialog.as_mut() else {
                    return;
                };
                if d.check_rseq(&resp) != Some(sip_txn::RseqCheck::New) {
                    return;
                }
                if let Some(prack) = d.prack(&resp, &via)
                    && let Some(k) = env.send_request(target, prack)
                {
                    self.own(k, Role::Bye);
                }
            }
            if self.xfer.is_some() || self.caller_up() {
                // The caller was answered long ago (a transfer, or an
                // application answered it and it hears our ringback): a
                // fork's progress is not the caller's.
                return;
            }
            let early_sdp = !resp.body.is_empty();
            if early_sdp {
                self.early_media(i, &resp, env);
            } else if !self.ringing_sent {
                self.ringing_sent = true;
                let r = self.response_to_caller(StatusCode::RINGING, false);
                self.send_provisional(r, env);
            }
            return;
        }
        // Final non-2xx: this contact is out.
        let f = &mut self.forks[i];
        f.state = ForkState::Done(Some(status));
        f.leg.release(env);
        if self.early == Some(i) {
            self.early = None;
        }
        self.forks_settled(env);
    }

    /// A trunk's 401/407 to our INVITE: the same INVITE again (CSeq + 1) with the trunk's
    /// credentials, as a new client transaction of the same fork. `false` when the fork
    /// is no trunk's, has answered twice already, or the challenge cannot be answered.
    fn retry_with_credentials(&mut self, i: usize, resp: &Response, env: &mut Env<'_>) -> bool {
        let cnonce = env.ep.new_tag();
        let f = &mut self.forks[i];
        let Some(t) = f.trunk.as_deref() else {
            return false;
        };
        if f.auth_tries >= 2 {
            return false;
        }
        let creds = pbx_trunk::TrunkCredentials {
            username: &t.username,
            password: &t.password,
        };
        let Ok(mut req) = pbx_trunk::authorized_retry(&f.invite, resp, creds, &cnonce) else {
            return false;
        };
        req.headers
            .push_front(HeaderName::Via, f.leg.local.via(&env.ep.new_branch()));
        let target = f.leg.target;
        let Some(key) = env.send_request(target, req.clone()) else {
            return false;
        };
        f.auth_tries += 1;
        f.key = Some(key);
        f.invite = req;
        self.own(key, Role::ForkInvite(i));
        true
    }

    /// A fork's 1xx with SDP: the caller hears that fork (the first one).
    fn early_media(&mut self, i: usize, resp: &Response, env: &mut Env<'_>) {
        let Some(offer) = self.forks[i].leg.our_offer.clone() else {
            return;
        };
        let Ok(answer) = pbx_sdp::parse(&resp.body) else {
            return;
        };
        let Ok(neg) = pbx_sdp::accept_answer(&offer, &answer) else {
            return;
        };
        self.forks[i].leg.neg = Some(neg);
        self.forks[i].leg.configure(env);
        // A delayed-offer caller cannot get early media without 100rel.
        if self.early.is_some() || self.a_answer.is_none() {
            return;
        }
        if let (Some(a), Some(b)) = (self.a.media, self.forks[i].leg.media) {
            env.media.connect(a, b);
        }
        self.early = Some(i);
        let r = self.response_to_caller(StatusCode::SESSION_PROGRESS, true);
        self.send_provisional(r, env);
    }

    /// A 1xx to the caller: reliably (RFC 3262) when the caller requires
    /// it; while one is unacknowledged further ones are skipped (they only
    /// report progress).
    fn send_provisional(&mut self, r: Response, env: &mut Env<'_>) {
        if self.a_100rel {
            let _ = env
                .ep
                .send_reliable_provisional(env.now, self.inbound.key, r);
        } else {
            let _ = env.ep.send_response(env.now, self.inbound.key, r);
        }
    }

    /// A PRACK from the caller (`matched`: it acknowledged one of our
    /// reliable provisionals).
    pub fn on_prack(&mut self, key: TxnKey, req: &Request, matched: bool, env: &mut Env<'_>) {
        let status = if matched {
            StatusCode::OK
        } else {
            StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST
        };
        self.reply(key, req, status, env);
    }

    fn on_fork_answer(&mut self, i: usize, resp: Response, env: &mut Env<'_>) {
        // RFC 6026 / §13.2.2.4: every 2xx gets its ACK; an extra one (other
        // fork, or after the call ended) then gets a BYE.
        let extra = !self.ringing() || self.winner.is_some_and(|w| w != i);
        if self.winner == Some(i) {
            if let Some(ack) = &self.forks[i].leg.last_ack {
                env.ep
                    .send_stateless(self.forks[i].leg.target, &Message::Request(ack.clone()));
            }
            return;
        }
        let f = &mut self.forks[i];
        let Ok(mut dialog) = Dialog::uac(&f.invite, &resp) else {
            return;
        };
        let seq = f.invite.headers.cseq().map_or(1, |c| c.seq);
        let ack = dialog.ack(seq, &f.leg.local.via(&env.ep.new_branch()));
        env.ep
            .send_stateless(f.leg.target, &Message::Request(ack.clone()));
        if extra {
            let bye = dialog.new_request(Method::Bye, &f.leg.local.via(&env.ep.new_branch()));
            if let Some(k) = env.send_request(f.leg.target, bye) {
                self.own(k, Role::Bye);
            }
            let f = &mut self.forks[i];
            f.state = ForkState::Done(Some(StatusCode::OK));
            f.leg.release(env);
            self.maybe_finished(env);
            return;
        }
        dialog.handle_response(&resp);
        f.leg.dialog = Some(dialog);
        f.leg.last_ack = Some(ack);
        f.state = ForkState::Answered;
        let neg = f
            .leg
            .our_offer
            .as_ref()
            .and_then(|o| pbx_sdp::parse(&resp.body).ok().map(|a| (o.clone(), a)))
            .and_then(|(o, a)| pbx_sdp::accept_answer(&o, &a).ok());
        let Some(neg) = neg else {
            // A 2xx without a usable answer: end this leg; the others ring on.
            self.hang_up_leg(Side::Fork(i), env);
            let f = &mut self.forks[i];
            f.state = ForkState::Done(Some(StatusCode::NOT_ACCEPTABLE_HERE));
            f.leg.release(env);
            return self.forks_settled(env);
        };
        f.leg.remote_hold = is_hold(neg.direction);
        f.leg.neg = Some(neg);
        f.leg.configure(env);
        f.leg.peer_timer = has_option(&resp.headers, &HeaderName::Supported, "timer")
            || has_option(&resp.headers, &HeaderName::Require, "timer");
        if let Some((se, refresher)) = session_expires(&resp.headers)
            && !self.p.session_expires.is_zero()
        {
            // We sent the INVITE: refresher=uac means us (RFC 4028 §7.2).
            let we = refresher
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case("uac"));
            self.start_session_timer(Side::Fork(i), se, we, env);
        }
        self.bridge_winner(i, env);
    }

    /// Fork `i` answered (or a picker joined as it): the other forks are
    /// cancelled, the caller is answered (if not up yet) and bridged with it.
    fn bridge_winner(&mut self, i: usize, env: &mut Env<'_>) {
        self.winner = Some(i);
        self.early = Some(i);
        self.cancel_forks(Some(i), env);
        if self.forks[i].group_member {
            // A group member answered: the call is theirs now.
            let m = self.forks[i].ext.clone();
            // A user, or an outside number (`external:NUMBER`) rung through a trunk.
            self.destination = if m.starts_with("external:") {
                m.clone()
            } else {
                format!("user:{m}")
            };
            if let Some(t) = self.target.as_mut() {
                t.hunt = false;
            }
            env.effect(Effect::Joined { ext: m });
        }
        if self.xfer.is_some() {
            return self.transfer_done(i, env);
        }
        if std::mem::take(&mut self.in_queue) {
            // The agent answered: the caller stops waiting (music and announcements).
            self.app_gone(env);
        }
        let was_up = self.caller_up();
        if let (Some(a), Some(b)) = (self.a.media, self.forks[i].leg.media) {
            if was_up {
                // The caller heard an application or our ringback: the
                // media engine lets go of its leg before the bridge.
                env.media.app_detach(a);
                self.a_tone = false;
            }
            env.media.connect(a, b);
            if !self.p.blind_transfer_code.is_empty() || !self.p.attended_transfer_code.is_empty() {
                env.media.watch_digits(a, true);
                env.media.watch_digits(b, true);
            }
            env.effect(Effect::Answered {
                caller: a,
                callee: b,
                destination: self.destination.clone(),
            });
        }
        self.state = CallState::Answered;
        if was_up {
            // 200 OK went to the caller when the application answered.
            return;
        }
        self.answer_caller(env);
    }

    /// The users whose phones ring for this call now: a user rung directly (or
    /// by a failover), or the members of a ring group's stage. Empty unless the
    /// call is ringing; a trunk's forks ring nobody of the tenant.
    pub fn ringing_users(&self) -> Vec<&str> {
        if self.state != CallState::Ringing
            || self.xfer.is_some()
            || self.target.as_ref().is_none_or(|t| t.external)
        {
            return Vec::new();
        }
        let mut out: Vec<&str> = Vec::new();
        for f in &self.forks {
            if f.generation == self.generation
                && matches!(f.state, ForkState::Trying | ForkState::Ringing)
                && !out.contains(&f.ext.as_str())
            {
                out.push(&f.ext);
            }
        }
        out
    }

    /// The caller's INVITE server transaction.
    pub fn inbound_key(&self) -> TxnKey {
        self.inbound.key
    }

    /// Call pickup: user `ext` answers this ringing call from their own phone
    /// with `picker`, an INVITE of theirs (`*8`, `**EXT`). The INVITE becomes
    /// the call's answered party: it gets a 200 OK (the SDP answer to its
    /// offer, or our offer for a delayed offer; the endpoint resends it until
    /// the ACK), the forks still ringing are cancelled, the caller is answered
    /// (unless an application answered it before) and bridged with the picker
    /// through the relay, and the call becomes `user:EXT`'s.
    ///
    /// `Err` carries the final status the picker's INVITE should get (the call
    /// is left as it was): 480 when the call no longer rings, 400/488 for an
    /// offer we cannot answer, 503 without media ports.
    pub fn pickup(
        &mut self,
        picker: Inbound,
        ext: &str,
        env: &mut Env<'_>,
    ) -> Result<(), StatusCode> {
        if self.ringing_users().is_empty() {
            return Err(StatusCode::TEMPORARILY_UNAVAILABLE);
        }
        let idx = self.forks.len();
        let call_id = picker
            .invite
            .headers
            .call_id()
            .unwrap_or_default()
            .to_owned();
        let tag = env.ep.new_tag();
        let origin_id = self.p.id.wrapping_add(idx as u64 + 1);
        let mut leg = Leg::new(
            call_id,
            tag.clone(),
            picker.source,
            picker.local.clone(),
            Origin::new(origin_id, picker.source.addr.ip()),
        );
        let Some((m, addr)) = env.media.allocate(self.p.id, picker.source.addr.ip()) else {
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        };
        leg.media = Some(m);
        leg.media_addr = Some(addr);
        leg.sdp = LegSdp::new(Origin::new(origin_id, addr.ip()));
        let codecs = self.offer_codecs();
        let local = leg
            .local_media(&codecs, self.p.telephone_event_pt)
            .expect("media address set just above");
        let body = if picker.invite.body.is_empty() {
            // A delayed offer: ours goes in the 200, the answer comes in the ACK.
            let offer = leg.sdp.offer(&local);
            let b = offer.to_bytes();
            leg.our_offer = Some(offer);
            b
        } else {
            let answered = pbx_sdp::parse(&picker.invite.body)
                .map_err(|_| StatusCode::BAD_REQUEST)
                .and_then(|offer| {
                    leg.sdp
                        .answer(&offer, &local)
                        .map_err(|_| StatusCode::NOT_ACCEPTABLE_HERE)
                });
            let (answer, neg) = match answered {
                Ok(a) => a,
                Err(status) => {
                    leg.release(env);
                    return Err(status);
                }
            };
            leg.remote_hold = is_hold(neg.direction);
            leg.neg = Some(neg);
            leg.configure(env);
            answer.to_bytes()
        };
        let mut r = picker.invite.make_response(StatusCode::OK);
        r.set_to_tag(&tag);
        r.headers
            .push(HeaderName::Contact, leg.local.contact("vpbx"));
        r.headers.push(HeaderName::Allow, ALLOW);
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = Bytes::from(body);
        leg.dialog = Dialog::uas(&picker.invite, &r, 0).ok();
        let _ = env.ep.send_response(env.now, picker.key, r);
        env.effect(Effect::OwnTag(tag));
        env.effect(Effect::OwnTxn(picker.key));
        let uri = picker
            .invite
            .headers
            .from()
            .map_or_else(|| picker.invite.uri.clone(), |f| f.uri);
        self.forks.push(Fork {
            generation: self.generation,
            // Like a group member who answers: the call becomes the picker's.
            group_member: true,
            trunk: None,
            heard: true,
            auth_tries: 0,
            ext: ext.to_owned(),
            uri,
            key: None,
            invite: picker.invite,
            state: ForkState::Answered,
            leg,
        });
        self.bridge_winner(idx, env);
        Ok(())
    }

    /// The 200 OK to the caller's INVITE (with the SDP answer, or our
    /// offer for a delayed offer), RFC 4028 negotiation, the UAS dialog.
    fn answer_caller(&mut self, env: &mut Env<'_>) {
        self.answer_ms = Some(env.wall_ms);
        let mut r = self.response_to_caller(StatusCode::OK, true);
        if !self.p.session_expires.is_zero() {
            // RFC 4028 §9: the caller refreshes when it supports timers
            // (its choice of refresher wins), else we do.
            let se = self
                .a_se
                .as_ref()
                .map_or(self.p.session_expires.as_secs() as u32, |(s, _)| *s)
                .max(self.p.min_se.as_secs() as u32);
            let refresher = match (&self.a_se, self.a.peer_timer) {
                (_, false) => "uas",
                (Some((_, Some(r))), true) if r.eq_ignore_ascii_case("uas") => "uas",
                _ => "uac",
            };
            r.headers.push(
                session_expires_header(),
                format!("{se};refresher={refresher}"),
            );
            if refresher == "uac" {
                r.headers.push(HeaderName::Require, "timer");
            }
            self.start_session_timer(Side::In, se, refresher == "uas", env);
        }
        self.a.dialog = Dialog::uas(&self.inbound.invite, &r, 0).ok();
        let _ = env.ep.send_response(env.now, self.inbound.key, r);
    }

    fn leg_code(side: Side) -> u32 {
        match side {
            Side::In => 0,
            Side::Fork(i) => i as u32 + 1,
        }
    }

    fn side_of_code(&self, code: u32) -> Option<Side> {
        match code {
            0 => Some(Side::In),
            n => {
                let i = n as usize - 1;
                (i < self.forks.len()).then_some(Side::Fork(i))
            }
        }
    }

    /// (Re)arms the RFC 4028 timer of a leg: refresh at half the interval
    /// when we refresh, else expire at interval − min(32 s, interval/3).
    fn start_session_timer(&mut self, side: Side, secs: u32, we_refresh: bool, env: &mut Env<'_>) {
        let interval = Duration::from_secs(u64::from(secs.max(1)));
        let leg = self.leg_mut(side);
        let epoch = leg.timer.map_or(1, |t| t.epoch + 1);
        leg.timer = Some(SessionTimer {
            interval,
            we_refresh,
            epoch,
        });
        let after = if we_refresh {
            interval / 2
        } else {
            interval - (interval / 3).min(Duration::from_secs(32))
        };
        env.timer(
            after,
            CallTimer::Session {
                leg: Self::leg_code(side),
                epoch,
            },
        );
    }

    /// Every fork is final and none answered: the outcome decides.
    fn forks_settled(&mut self, env: &mut Env<'_>) {
        if !self.ringing() {
            return self.maybe_finished(env);
        }
        let current = self.generation;
        let forks = || self.forks.iter().filter(move |f| f.generation == current);
        if forks().any(|f| matches!(f.state, ForkState::Trying | ForkState::Ringing)) {
            return;
        }
        let mut statuses: Vec<Option<StatusCode>> = forks()
            .filter_map(|f| match f.state {
                ForkState::Done(s) => Some(s),
                _ => None,
            })
            .collect();
        statuses.append(&mut self.dead);
        if self.target.as_ref().is_some_and(|t| t.external) {
            return self.external_unanswered(&statuses, env);
        }
        self.unanswered(Outcome::of_forks(&statuses), env);
    }

    /// A trunk did not connect the call: the next trunk for a dead or failing one
    /// (no response, 408, 5xx) when there is one, else the caller gets the provider's
    /// answer (busy as busy; a challenge we could not answer as 503).
    fn external_unanswered(&mut self, statuses: &[Option<StatusCode>], env: &mut Env<'_>) {
        let status = statuses
            .iter()
            .copied()
            .next()
            .flatten()
            .unwrap_or(StatusCode::REQUEST_TIMEOUT);
        let hunt = self.target.as_ref().is_some_and(|t| t.hunt);
        if hunt && pbx_trunk::should_fail_over(status) {
            self.state = CallState::Routing;
            env.effect(Effect::Hunt {
                hop: self.hops,
                busy: false,
            });
            return;
        }
        let outcome = match status.as_u16() {
            486 | 600 | 603 => Outcome::Busy,
            401 | 407 => Outcome::Failed(StatusCode::SERVICE_UNAVAILABLE),
            408 => Outcome::NoAnswer,
            _ => Outcome::Failed(status),
        };
        self.finish_unanswered(outcome, env);
    }

    /// A 1xx/2xx to the caller: our tag, Contact, and for `sdp` the answer
    /// to the caller's offer (or, for a delayed offer in the 2xx, ours).
    fn response_to_caller(&mut self, status: StatusCode, sdp: bool) -> Response {
        let mut r = self.inbound.invite.make_response(status);
        r.set_to_tag(&self.a.tag);
        r.headers
            .push(HeaderName::Contact, self.a.local.contact("vpbx"));
        if status.is_success() {
            r.headers.push(HeaderName::Allow, ALLOW);
        }
        if sdp {
            let body = match &self.a_answer {
                Some(ans) => Some(ans.to_bytes()),
                None if status.is_success() => self.local(Side::In).map(|l| {
                    let offer = self.a.sdp.offer(&l);
                    let b = offer.to_bytes();
                    self.a.our_offer = Some(offer);
                    b
                }),
                None => None,
            };
            if let Some(b) = body {
                r.headers.push(HeaderName::ContentType, "application/sdp");
                r.body = Bytes::from(b);
            }
        }
        r
    }

    /// The caller cancelled (the endpoint matched the CANCEL to our INVITE
    /// server transaction `cancel_key` is the CANCEL's own).
    pub fn on_cancel(&mut self, cancel_key: TxnKey, cancel: &Request, env: &mut Env<'_>) {
        let ok = cancel.make_response(StatusCode::OK);
        let _ = env.ep.send_response(env.now, cancel_key, ok);
        if self.caller_up() {
            // Too late: the INVITE was answered (RFC 3261 §9.2); a BYE follows.
            return;
        }
        if matches!(
            self.state,
            CallState::Routing | CallState::Ringing | CallState::App
        ) {
            self.cancel_forks(None, env);
            self.finish_unanswered(Outcome::Cancelled, env);
        }
    }

    /// The ACK for a 2xx we sent (`invite` is its INVITE server
    /// transaction). For a delayed offer it carries the answer.
    pub fn on_ack(&mut self, ack: &Request, env: &mut Env<'_>) {
        let side = self.side_of_tag(ack.headers.to_tag().unwrap_or_default());
        let Some(side) = side else { return };
        let leg = self.leg_mut(side);
        if let Some(offer) = leg.our_offer.take() {
            if ack.body.is_empty() {
                leg.our_offer = Some(offer);
                return;
            }
            let Some(neg) = pbx_sdp::parse(&ack.body)
                .ok()
                .and_then(|a| pbx_sdp::accept_answer(&offer, &a).ok())
            else {
                // §13.2.2.4 / RFC 3264: a bad answer in the ACK ends the session.
                return self.hang_up(HangupBy::System, "bad_sdp", env);
            };
            leg.remote_hold = is_hold(neg.direction);
            leg.neg = Some(neg);
            let hold_changed = self.sync_hold(side, env);
            self.leg(side).configure(env);
            if self.state == CallState::Answered
                && let (Some(a), Some(b)) = (
                    self.a.media,
                    self.winner.and_then(|w| self.forks[w].leg.media),
                )
            {
                env.media.connect(a, b);
            }
            let _ = hold_changed;
            if side == Side::In && std::mem::take(&mut self.app_wait_ack) {
                self.app_started(env);
            }
        }
    }

    /// No ACK came for our 2xx to the caller: the call cannot go on.
    pub fn on_ack_timeout(&mut self, env: &mut Env<'_>) {
        self.hang_up(HangupBy::System, "ack_timeout", env);
    }

    fn side_of_tag(&self, tag: &str) -> Option<Side> {
        if tag == self.a.tag {
            return Some(Side::In);
        }
        self.forks
            .iter()
            .position(|f| f.leg.tag == tag)
            .map(Side::Fork)
    }

    /// A request inside one of the call's dialogs (To tag is ours).
    pub fn on_request(&mut self, key: TxnKey, req: Request, env: &mut Env<'_>) {
        let Some(side) = self.side_of_tag(req.headers.to_tag().unwrap_or_default()) else {
            return self.reply(
                key,
                &req,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                env,
            );
        };
        if side == Side::In
            && self.caller_up()
            && matches!(
                self.state,
                CallState::App | CallState::Routing | CallState::Ringing
            )
        {
            return self.on_request_unbridged(key, req, env);
        }
        // Before the answer only the caller's early dialog exists for BYE.
        if req.method == Method::Bye && self.state != CallState::Answered {
            self.reply(key, &req, StatusCode::OK, env);
            if side == Side::In
                && matches!(
                    self.state,
                    CallState::Routing | CallState::Ringing | CallState::App
                )
            {
                self.cancel_forks(None, env);
                return self.finish_unanswered(Outcome::Cancelled, env);
            }
            if let Side::Fork(i) = side
                && matches!(self.forks[i].state, ForkState::Ringing | ForkState::Trying)
            {
                self.forks[i].state = ForkState::Done(None);
                self.forks[i].leg.release(env);
                self.forks_settled(env);
            }
            return;
        }
        let in_dialog = self.leg(side).dialog.is_some();
        let transferor = self.xfer.as_ref().and_then(|x| x.by) == Some(side);
        let held = self.consult.as_ref().map(|c| c.held) == Some(side)
            || self.xfer.as_ref().and_then(|x| x.consult_held) == Some(side);
        let bridged = side == self.anchor || Some(side) == self.winner.map(Side::Fork);
        if !in_dialog || self.state != CallState::Answered || !(bridged || transferor || held) {
            return self.reply(
                key,
                &req,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                env,
            );
        }
        if let Some(d) = self.leg_mut(side).dialog.as_mut()
            && d.handle_remote_request(&req).is_err()
        {
            // §12.2.2: a lower CSeq is answered 500.
            return self.reply(key, &req, StatusCode::SERVER_INTERNAL_ERROR, env);
        }
        match req.method {
            Method::Bye if self.consult.is_some() => {
                self.reply(key, &req, StatusCode::OK, env);
                self.bye_in_consult(side, env);
            }
            Method::Bye if held => {
                // The held party hung up while the target was still ringing.
                self.reply(key, &req, StatusCode::OK, env);
                self.cancel_forks(None, env);
                self.xfer = None;
                let anchor = self.anchor;
                self.hang_up_leg(anchor, env);
                let by = if side == Side::In {
                    HangupBy::Caller
                } else {
                    HangupBy::Callee
                };
                self.end(Outcome::Answered, by, Some(200), "normal", env);
            }
            Method::Bye if transferor => {
                // The transferor leaves; the transfer goes on without it.
                self.reply(key, &req, StatusCode::OK, env);
                self.transferor_left(env);
            }
            Method::Bye if self.xfer.is_some() => {
                // The party being transferred hung up: the transfer is moot.
                self.reply(key, &req, StatusCode::OK, env);
                self.cancel_forks(None, env);
                let by = if side == Side::In {
                    HangupBy::Caller
                } else {
                    HangupBy::Callee
                };
                if let Some(t) = self.xfer.as_ref().and_then(|x| x.by) {
                    self.hang_up_leg(t, env);
                }
                self.xfer = None;
                self.end(Outcome::Answered, by, Some(200), "normal", env);
            }
            Method::Refer => self.on_refer(side, key, &req, env),
            Method::Bye => {
                self.reply(key, &req, StatusCode::OK, env);
                let by = if side == Side::In {
                    HangupBy::Caller
                } else {
                    HangupBy::Callee
                };
                if let Some(o) = self.other(side) {
                    self.hang_up_leg(o, env);
                }
                self.end(Outcome::Answered, by, Some(200), "normal", env);
            }
            Method::Invite | Method::Update => self.on_offer(side, key, &req, env),
            Method::Info => self.on_info(side, key, &req, env),
            Method::Options => self.reply(key, &req, StatusCode::OK, env),
            Method::Prack => self.reply(
                key,
                &req,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                env,
            ),
            _ => {
                let mut r = req.make_response(StatusCode::METHOD_NOT_ALLOWED);
                r.headers.push(HeaderName::Allow, ALLOW);
                let _ = env.ep.send_response(env.now, key, r);
            }
        }
    }

    /// SIP INFO: DTMF (`application/dtmf-relay` or `application/dtmf`) goes
    /// to the other leg as RFC 4733 when it negotiated telephone-event,
    /// else as the same INFO; other INFO bodies are acknowledged.
    fn on_info(&mut self, side: Side, key: TxnKey, req: &Request, env: &mut Env<'_>) {
        let digit = info_digit(req);
        let Some((digit, duration)) = digit else {
            return self.reply(key, req, StatusCode::OK, env);
        };
        self.reply(key, req, StatusCode::OK, env);
        if side == Side::In && self.app.is_some() {
            return self.app_digit(digit, env);
        }
        let Some(o) = self.other(side) else { return };
        let sent = self
            .leg(o)
            .media
            .is_some_and(|m| env.media.send_digit(m, digit, duration));
        if sent {
            return;
        }
        let leg = self.leg_mut(o);
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let via = leg.local.via(&env.ep.new_branch());
        let mut info = dialog.new_request(Method::Info, &via);
        info.headers
            .push(HeaderName::ContentType, "application/dtmf-relay");
        info.body = Bytes::from(format!(
            "Signal={digit}\r\nDuration={}\r\n",
            duration.as_millis()
        ));
        let target = leg.target;
        if let Some(k) = env.send_request(target, info) {
            self.own(k, Role::Bye);
        }
    }

    /// A re-INVITE or UPDATE: answer it on this leg, and pass the change of
    /// hold state to the other leg as our own offer.
    fn on_offer(&mut self, side: Side, key: TxnKey, req: &Request, env: &mut Env<'_>) {
        if self.leg(side).reinvite.is_some() && req.method == Method::Invite {
            // §14.2 glare: our re-INVITE on this leg is pending.
            return self.reply(key, req, StatusCode::REQUEST_PENDING, env);
        }
        let local = self.local(side);
        let mut r = req.make_response(StatusCode::OK);
        r.headers
            .push(HeaderName::Contact, self.leg(side).local.contact("vpbx"));
        r.headers.push(HeaderName::Allow, ALLOW);
        if req.body.is_empty() {
            if req.method == Method::Invite
                && let Some(l) = local
            {
                // Delayed offer in a re-INVITE: we offer, the ACK answers.
                let leg = self.leg_mut(side);
                let offer = leg.sdp.offer(&l);
                r.headers.push(HeaderName::ContentType, "application/sdp");
                r.body = Bytes::from(offer.to_bytes());
                leg.our_offer = Some(offer);
            }
            self.refresh_from_peer(side, req, &mut r, env);
            let _ = env.ep.send_response(env.now, key, r);
            return;
        }
        let parsed = pbx_sdp::parse(&req.body);
        let answered = match (parsed, local) {
            (Ok(offer), Some(l)) => self.leg_mut(side).sdp.answer(&offer, &l).ok(),
            _ => None,
        };
        let Some((answer, neg)) = answered else {
            return self.reply(key, req, StatusCode::NOT_ACCEPTABLE_HERE, env);
        };
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = Bytes::from(answer.to_bytes());
        self.refresh_from_peer(side, req, &mut r, env);
        let _ = env.ep.send_response(env.now, key, r);
        let leg = self.leg_mut(side);
        leg.remote_hold = is_hold(neg.direction);
        leg.neg = Some(neg);
        leg.configure(env);
        self.sync_hold(side, env);
    }

    /// A re-INVITE or UPDATE from the peer refreshes the session (RFC 4028
    /// §9): answer with the interval and who refreshes next, and re-arm.
    fn refresh_from_peer(
        &mut self,
        side: Side,
        req: &Request,
        r: &mut Response,
        env: &mut Env<'_>,
    ) {
        if self.p.session_expires.is_zero() {
            return;
        }
        let asked = session_expires(&req.headers);
        let current = self.leg(side).timer;
        let (secs, refresher) = match (asked, current) {
            (Some((s, rf)), _) => (s, rf),
            (None, Some(t)) => (t.interval.as_secs() as u32, None),
            (None, None) => return,
        };
        let secs = secs.max(self.p.min_se.as_secs() as u32);
        // The peer sent this request, so it is the UAC: it keeps refreshing
        // unless it asked us to.
        let peer_refreshes = refresher
            .as_deref()
            .is_none_or(|x| x.eq_ignore_ascii_case("uac"));
        let word = if peer_refreshes { "uac" } else { "uas" };
        r.headers
            .push(session_expires_header(), format!("{secs};refresher={word}"));
        if peer_refreshes && has_option(&req.headers, &HeaderName::Supported, "timer") {
            r.headers.push(HeaderName::Require, "timer");
        }
        self.start_session_timer(side, secs, !peer_refreshes, env);
    }

    /// Passes `side`'s hold state to the other leg: when it changed, the
    /// other leg gets a re-INVITE with `sendonly` (hold) or `sendrecv`.
    fn sync_hold(&mut self, side: Side, env: &mut Env<'_>) -> bool {
        let Some(o) = self.other(side) else {
            return false;
        };
        let want = self.leg(side).remote_hold;
        if self.leg(o).local_hold == want {
            return false;
        }
        self.set_local_hold(o, want, env);
        true
    }

    /// We hold (or resume) the peer of leg `side`: the relay's timeout, music
    /// on hold for it, and our re-offer (`sendonly` / `sendrecv`).
    fn set_local_hold(&mut self, side: Side, on: bool, env: &mut Env<'_>) {
        self.leg_mut(side).local_hold = on;
        self.leg(side).configure(env);
        self.music_on_hold(side, on, env);
        self.reoffer(side, env);
    }

    /// Starts or stops music on hold towards the party on leg `side`.
    fn music_on_hold(&mut self, side: Side, on: bool, env: &mut Env<'_>) {
        let Some(m) = self.leg(side).media else {
            return;
        };
        if on {
            if !self.moh_class.is_empty() && !self.leg(side).moh {
                let playing = env.media.app_moh(m, &self.moh_class);
                self.leg_mut(side).moh = playing;
            }
        } else if std::mem::take(&mut self.leg_mut(side).moh) {
            env.media.app_detach(m);
        }
    }

    /// Sends our offer on leg `side` in a re-INVITE (or marks it to be sent
    /// when the one in flight completes).
    fn reoffer(&mut self, side: Side, env: &mut Env<'_>) {
        if self.leg(side).reinvite.is_some() {
            self.leg_mut(side).reoffer = true;
            return;
        }
        let Some(l) = self.local(side) else { return };
        let leg = self.leg_mut(side);
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let via = leg.local.via(&env.ep.new_branch());
        let mut req = dialog.new_request(Method::Invite, &via);
        req.headers
            .push(HeaderName::Contact, leg.local.contact("vpbx"));
        req.headers.push(HeaderName::Allow, ALLOW);
        if let Some(t) = leg.timer {
            req.headers.push(HeaderName::Supported, "timer");
            req.headers.push(
                session_expires_header(),
                format!("{};refresher=uac", t.interval.as_secs()),
            );
        }
        req.headers.push(HeaderName::ContentType, "application/sdp");
        let offer = leg.sdp.offer(&l);
        req.body = Bytes::from(offer.to_bytes());
        leg.our_offer = Some(offer);
        leg.reoffer = false;
        let target = leg.target;
        if let Some(k) = env.send_request(target, req) {
            self.leg_mut(side).reinvite = Some(k);
            self.own(k, Role::ReInvite(side));
        }
    }

    fn on_reinvite_response(&mut self, side: Side, key: TxnKey, resp: Response, env: &mut Env<'_>) {
        if resp.status.is_provisional() {
            return;
        }
        if !self.leg_up(side) {
            return;
        }
        let leg = self.leg_mut(side);
        if resp.status.is_success() {
            let Some(dialog) = leg.dialog.as_mut() else {
                return;
            };
            if leg.reinvite != Some(key) {
                // A retransmitted 2xx: the same ACK again.
                if let Some(ack) = &leg.last_ack {
                    env.ep
                        .send_stateless(leg.target, &Message::Request(ack.clone()));
                }
                return;
            }
            dialog.handle_response(&resp);
            let seq = resp.headers.cseq().map_or(dialog.local_seq, |c| c.seq);
            let ack = dialog.ack(seq, &leg.local.via(&env.ep.new_branch()));
            env.ep
                .send_stateless(leg.target, &Message::Request(ack.clone()));
            leg.last_ack = Some(ack);
            if let (Some(offer), Ok(answer)) = (leg.our_offer.take(), pbx_sdp::parse(&resp.body))
                && let Ok(neg) = pbx_sdp::accept_answer(&offer, &answer)
            {
                leg.neg = Some(neg);
                leg.configure(env);
            }
            if let Some(t) = leg.timer {
                let (secs, refresher) =
                    session_expires(&resp.headers).unwrap_or((t.interval.as_secs() as u32, None));
                let we = refresher
                    .as_deref()
                    .is_none_or(|r| r.eq_ignore_ascii_case("uac"));
                self.start_session_timer(side, secs, we, env);
            }
        } else {
            leg.our_offer = None;
            if resp.status == StatusCode::REQUEST_PENDING {
                leg.reoffer = true;
            }
            // RFC 4028 §10: a refresh answered 408 or 481 means the peer is gone.
            if matches!(resp.status.as_u16(), 408 | 481) {
                leg.reinvite = None;
                return self.hang_up(HangupBy::System, "session_refresh_failed", env);
            }
        }
        let leg = self.leg_mut(side);
        leg.reinvite = None;
        if leg.reoffer {
            self.reoffer(side, env);
        }
    }

    /// RFC 3515 REFER from a bridged leg: blind transfer of the other
    /// party to the Refer-To extension (attended when it carries Replaces).
    fn on_refer(&mut self, side: Side, key: TxnKey, req: &Request, env: &mut Env<'_>) {
        let refer_to = req
            .headers
            .get(&refer_to_header())
            .and_then(|v| sip_msg::NameAddr::parse(v).ok());
        let Some(to) = refer_to else {
            return self.reply(key, req, StatusCode::BAD_REQUEST, env);
        };
        let replaces = to
            .uri
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Replaces"))
            .and_then(|(_, v)| parse_replaces(&String::from_utf8_lossy(&sip_msg::unescape(v))));
        let Some(ext) = to.uri.user.clone().filter(|u| !u.is_empty()) else {
            return self.reply(key, req, StatusCode::BAD_REQUEST, env);
        };
        if self.xfer.is_some() || self.winner.is_none() {
            return self.reply(key, req, StatusCode::REQUEST_PENDING, env);
        }
        let Some(stay) = self.other(side) else {
            return self.reply(
                key,
                req,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                env,
            );
        };
        let r = req.make_response(StatusCode::new(202).unwrap_or(StatusCode::OK));
        let _ = env.ep.send_response(env.now, key, r);
        let by_ext = self.ext_of(side);
        let attended = replaces.is_some();
        self.xfer = Some(Xfer {
            by: Some(side),
            by_ext: by_ext.clone(),
            to: ext.clone(),
            prev_anchor: self.anchor,
            prev_winner: self.winner,
            consult_held: None,
        });
        self.transfers.push(crate::outcome::Transfer {
            attended,
            by: by_ext,
            to: format!("user:{ext}"),
            at_ms: env.wall_ms,
        });
        self.notify(side, "SIP/2.0 100 Trying", false, env);
        self.anchor = stay;
        self.winner = None;
        self.hops = 0;
        match replaces {
            // The party in the replaced dialog's other leg joins this call.
            Some((call_id, to_tag, from_tag)) => env.effect(Effect::Replace {
                call_id,
                to_tag,
                from_tag,
            }),
            None => env.effect(Effect::Transfer { ext }),
        }
    }

    /// (The call whose dialog a Replaces names.) Gives up the leg bridged
    /// with the dialog whose our-tag is `tag` and peer tag `from_tag`, and
    /// ends: the transferor's leg here gets BYE. `None` if no such
    /// answered dialog.
    pub fn hand_over(&mut self, tag: &str, from_tag: &str, env: &mut Env<'_>) -> Option<Handover> {
        if self.state != CallState::Answered || self.xfer.is_some() {
            return None;
        }
        let side = self.side_of_tag(tag)?;
        let peer_tag = self.leg(side).dialog.as_ref()?.id.remote_tag.clone();
        if !peer_tag.eq_ignore_ascii_case(from_tag) {
            return None;
        }
        let keep = self.other(side)?;
        let ext = self.ext_of(keep);
        let (uri, invite) = match keep {
            Side::In => (self.inbound.invite.uri.clone(), self.inbound.invite.clone()),
            Side::Fork(i) => (self.forks[i].uri.clone(), self.forks[i].invite.clone()),
        };
        let stub = {
            let l = self.leg(keep);
            Leg::new(
                l.call_id.clone(),
                l.tag.clone(),
                l.target,
                l.local.clone(),
                l.sdp.origin().clone(),
            )
        };
        let leg = std::mem::replace(self.leg_mut(keep), stub);
        self.hang_up_leg(side, env);
        let by = if side == Side::In {
            HangupBy::Caller
        } else {
            HangupBy::Callee
        };
        self.end(Outcome::Answered, by, Some(200), "transferred", env);
        Some(Handover {
            leg,
            ext,
            uri,
            invite,
        })
    }

    /// (The call that got the REFER with Replaces.) The replaced dialog's
    /// other party arrives: bridge it with the anchor, like an answer.
    pub fn adopt(&mut self, h: Handover, env: &mut Env<'_>) {
        if self.state != CallState::Answered || self.xfer.is_none() {
            // Nothing to join any more: the leg is ours to end.
            let mut leg = h.leg;
            if let Some(d) = leg.dialog.as_mut() {
                let via = leg.local.via(&env.ep.new_branch());
                let bye = d.new_request(Method::Bye, &via);
                let _ = env.send_request(leg.target, bye);
            }
            leg.release(env);
            return;
        }
        env.effect(Effect::OwnTag(h.leg.tag.clone()));
        env.effect(Effect::Joined { ext: h.ext.clone() });
        let timer = h.leg.timer;
        let i = self.forks.len();
        self.forks.push(Fork {
            generation: self.generation,
            group_member: false,
            trunk: None,
            heard: true,
            auth_tries: 0,
            ext: h.ext,
            uri: h.uri,
            key: None,
            invite: h.invite,
            state: ForkState::Answered,
            leg: h.leg,
        });
        self.winner = Some(i);
        if let Some(t) = timer {
            self.start_session_timer(
                Side::Fork(i),
                t.interval.as_secs() as u32,
                t.we_refresh,
                env,
            );
        }
        self.transfer_done(i, env);
        // Either side may have been held by the transferor: now each side's
        // hold state is the other's.
        self.sync_hold(Side::Fork(i), env);
    }

    /// The Replaces named no dialog we could take over.
    pub fn replace_failed(&mut self, env: &mut Env<'_>) {
        self.transfer_failed(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, env);
    }

    /// An RFC 4733 digit the relay saw on `leg`: the blind-transfer
    /// feature code, then the extension, ended by `#` or a pause.
    ///
    /// While a media application runs on the caller's leg, the caller's
    /// digits (RFC 4733 or inband, as the relay detects them) are its input.
    pub fn on_digit(&mut self, leg: MediaLeg, digit: char, env: &mut Env<'_>) {
        if self.app.is_some() && self.a.media == Some(leg) {
            return self.app_digit(digit, env);
        }
        if self.state != CallState::Answered || self.xfer.is_some() || self.consult.is_some() {
            return;
        }
        let Some(side) = [self.anchor]
            .into_iter()
            .chain(self.winner.map(Side::Fork))
            .find(|s| self.leg(*s).media == Some(leg))
        else {
            return;
        };
        let blind = self.p.blind_transfer_code.clone();
        let attended = self.p.attended_transfer_code.clone();
        let timeout = self.p.digit_timeout;
        let l = self.leg_mut(side);
        l.digits_epoch += 1;
        let epoch = l.digits_epoch;
        if let Some((ext, kind)) = l.collecting.as_mut() {
            if digit == '#' {
                let (ext, kind) = (std::mem::take(ext), *kind);
                l.collecting = None;
                return self.feature_transfer(side, ext, kind, env);
            }
            ext.push(digit);
        } else {
            l.digits.push(digit);
            if l.digits.len() > 8 {
                l.digits.remove(0);
            }
            let kind = if !blind.is_empty() && l.digits.ends_with(&blind) {
                false
            } else if !attended.is_empty() && l.digits.ends_with(&attended) {
                true
            } else {
                return;
            };
            l.digits.clear();
            l.collecting = Some((String::new(), kind));
        }
        env.timer(
            timeout,
            CallTimer::Digits {
                leg: Self::leg_code(side),
                epoch,
            },
        );
    }

    /// `##` + extension: a blind transfer by the phone that dialled it. The
    /// dialler leaves at once (as in Asterisk); a failed transfer ends the
    /// call.
    fn feature_transfer(&mut self, side: Side, ext: String, attended: bool, env: &mut Env<'_>) {
        if ext.is_empty() || self.xfer.is_some() || self.consult.is_some() {
            return;
        }
        let Some(stay) = self.other(side) else { return };
        let by_ext = self.ext_of(side);
        if attended {
            // Hold the other party, ring the target for the dialler.
            self.xfer = Some(Xfer {
                by: None,
                by_ext,
                to: ext.clone(),
                prev_anchor: self.anchor,
                prev_winner: self.winner,
                consult_held: Some(stay),
            });
            self.set_local_hold(stay, true, env);
            self.anchor = side;
            self.winner = None;
            self.hops = 0;
            env.effect(Effect::Transfer { ext });
            return;
        }
        self.transfers.push(crate::outcome::Transfer {
            attended: false,
            by: by_ext.clone(),
            to: format!("user:{ext}"),
            at_ms: env.wall_ms,
        });
        self.xfer = Some(Xfer {
            by: None,
            by_ext: by_ext.clone(),
            to: ext.clone(),
            prev_anchor: self.anchor,
            prev_winner: self.winner,
            consult_held: None,
        });
        self.anchor = stay;
        self.winner = None;
        self.hops = 0;
        self.hang_up_leg(side, env);
        self.leg_mut(side).release(env);
        env.effect(Effect::Left { ext: by_ext });
        env.effect(Effect::Transfer { ext });
    }

    /// The extension behind a side (the caller, or the user a fork rang).
    fn ext_of(&self, side: Side) -> String {
        match side {
            Side::In => self.p.caller.clone(),
            Side::Fork(i) => self.forks[i].ext.clone(),
        }
    }

    /// RFC 3515 §2.4.5 NOTIFY with a sipfrag of the transfer's progress.
    fn notify(&mut self, side: Side, frag: &str, last: bool, env: &mut Env<'_>) {
        let leg = self.leg_mut(side);
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let via = leg.local.via(&env.ep.new_branch());
        let mut n = dialog.new_request(Method::Notify, &via);
        let h = &mut n.headers;
        h.push(HeaderName::Event, "refer");
        h.push(
            subscription_state_header(),
            if last {
                "terminated;reason=noresource"
            } else {
                "active;expires=60"
            },
        );
        h.push(HeaderName::Contact, leg.local.contact("vpbx"));
        h.push(HeaderName::ContentType, "message/sipfrag;version=2.0");
        n.body = Bytes::from(format!("{frag}\r\n"));
        let target = leg.target;
        if let Some(k) = env.send_request(target, n) {
            self.own(k, Role::Bye);
        }
    }

    /// The transfer target answered fork `i`: bridge it with the anchor,
    /// tell the transferor, and let it go.
    fn transfer_done(&mut self, i: usize, env: &mut Env<'_>) {
        let Some(x) = self.xfer.take() else { return };
        if let Some(held) = x.consult_held {
            // `*2`: the dialler talks to the target; the held party waits.
            if let (Some(a), Some(b)) = (self.leg(self.anchor).media, self.forks[i].leg.media) {
                env.media.connect(a, b);
                env.media.watch_digits(b, true);
            }
            self.consult = Some(Consult {
                by: self.anchor,
                by_ext: x.by_ext,
                held,
                prev_anchor: x.prev_anchor,
                prev_winner: x.prev_winner,
            });
            return;
        }
        if let (Some(a), Some(b)) = (self.leg(self.anchor).media, self.forks[i].leg.media) {
            env.media.connect(a, b);
            if !self.p.blind_transfer_code.is_empty() || !self.p.attended_transfer_code.is_empty() {
                env.media.watch_digits(b, true);
            }
        }
        self.destination = format!("user:{}", x.to);
        if let Some(by) = x.by {
            self.notify(by, "SIP/2.0 200 OK", true, env);
            self.hang_up_leg(by, env);
            self.leg_mut(by).release(env);
            env.effect(Effect::Left { ext: x.by_ext });
        }
        // The hold state of the anchor now applies towards the new party.
        let anchor = self.anchor;
        self.sync_hold(anchor, env);
    }

    /// The transfer target could not be reached: tell the transferor and
    /// give it its call back, or end the call if it already left.
    fn transfer_failed(&mut self, status: StatusCode, env: &mut Env<'_>) {
        let Some(x) = self.xfer.take() else { return };
        self.cancel_forks(None, env);
        if let Some(held) = x.consult_held {
            // The target did not answer: back to the held party.
            self.anchor = x.prev_anchor;
            self.winner = x.prev_winner;
            self.resume_after_consult(held, env);
            return;
        }
        match x.by {
            Some(by) => {
                let frag = format!("SIP/2.0 {} {}", status.as_u16(), status.canonical_reason());
                self.notify(by, &frag, true, env);
                self.anchor = x.prev_anchor;
                self.winner = x.prev_winner;
                if let (Some(a), Some(b)) = (
                    self.leg(self.anchor).media,
                    self.winner.and_then(|w| self.forks[w].leg.media),
                ) {
                    env.media.connect(a, b);
                }
                if let Some(t) = self.transfers.last_mut() {
                    t.to = format!("{} (failed: {})", t.to, status.as_u16());
                }
            }
            None => {
                let anchor = self.anchor;
                self.hang_up_leg(anchor, env);
                self.end(
                    Outcome::Answered,
                    HangupBy::System,
                    Some(status.as_u16()),
                    "transfer_failed",
                    env,
                );
            }
        }
    }

    /// Reconnects the held party with the side it was bridged to and takes
    /// it off hold.
    fn resume_after_consult(&mut self, held: Side, env: &mut Env<'_>) {
        if let (Some(a), Some(b)) = (
            self.leg(self.anchor).media,
            self.winner.and_then(|w| self.forks[w].leg.media),
        ) {
            env.media.connect(a, b);
        }
        self.set_local_hold(held, false, env);
    }

    /// A BYE during a `*2` consultation. The dialler hanging up hands the
    /// held party to the target; the target hanging up gives the dialler its
    /// call back; the held party hanging up leaves dialler and target talking.
    fn bye_in_consult(&mut self, side: Side, env: &mut Env<'_>) {
        let Some(c) = self.consult.take() else { return };
        if side == c.by {
            self.leg_mut(side).release(env);
            env.effect(Effect::Left {
                ext: c.by_ext.clone(),
            });
            self.anchor = c.held;
            if let Some(w) = self.winner {
                let to = self.forks[w].ext.clone();
                self.destination = format!("user:{to}");
                self.transfers.push(crate::outcome::Transfer {
                    attended: true,
                    by: c.by_ext,
                    to: format!("user:{to}"),
                    at_ms: env.wall_ms,
                });
            }
            self.resume_after_consult(c.held, env);
        } else if side == c.held {
            self.leg_mut(side).release(env);
        } else {
            // The target left: dialler and held party again.
            if let Side::Fork(i) = side {
                self.forks[i].state = ForkState::Done(Some(StatusCode::OK));
                self.forks[i].leg.release(env);
            }
            self.anchor = c.prev_anchor;
            self.winner = c.prev_winner;
            self.resume_after_consult(c.held, env);
        }
    }

    /// The transferor hung up during the transfer.
    fn transferor_left(&mut self, env: &mut Env<'_>) {
        let Some(x) = self.xfer.as_mut() else { return };
        if let Some(by) = x.by.take() {
            let ext = x.by_ext.clone();
            self.leg_mut(by).release(env);
            env.effect(Effect::Left { ext });
        }
    }

    /// A timer the call armed.
    pub fn on_timer(&mut self, t: CallTimer, env: &mut Env<'_>) {
        match t {
            CallTimer::Ring(g) if g == self.generation && self.ringing() => {
                self.cancel_forks(None, env);
                for f in &mut self.forks {
                    if matches!(f.state, ForkState::Trying | ForkState::Ringing) {
                        f.state = ForkState::Done(Some(StatusCode::REQUEST_TIMEOUT));
                    }
                }
                self.unanswered(Outcome::NoAnswer, env);
            }
            CallTimer::Ring(_) => {}
            CallTimer::FirstResponse(g) if g == self.generation && self.ringing() => {
                let current = self.generation;
                let silent = self
                    .forks
                    .iter()
                    .filter(|f| f.generation == current)
                    .all(|f| !f.heard);
                if !silent {
                    return;
                }
                // A dead trunk: its INVITE goes (no CANCEL without a response, RFC 3261
                // §9.1) and the next trunk is tried.
                for f in self.forks.iter_mut().filter(|f| f.generation == current) {
                    if matches!(f.state, ForkState::Trying | ForkState::Ringing) {
                        f.state = ForkState::Done(Some(StatusCode::REQUEST_TIMEOUT));
                        f.leg.release(env);
                    }
                }
                self.forks_settled(env);
            }
            CallTimer::FirstResponse(_) => {}
            CallTimer::Session { leg, epoch } => {
                let Some(side) = self.side_of_code(leg) else {
                    return;
                };
                let Some(t) = self.leg(side).timer else {
                    return;
                };
                if t.epoch != epoch || !self.leg_up(side) {
                    return;
                }
                if t.we_refresh {
                    // A refresh is an offer with unchanged SDP (same o= version).
                    self.reoffer(side, env);
                } else {
                    self.hang_up(HangupBy::System, "session_timeout", env);
                }
            }
            CallTimer::Digits { leg, epoch } => {
                let Some(side) = self.side_of_code(leg) else {
                    return;
                };
                let l = self.leg_mut(side);
                if l.digits_epoch != epoch {
                    return;
                }
                if let Some((ext, kind)) = l.collecting.take() {
                    self.feature_transfer(side, ext, kind, env);
                }
            }
            CallTimer::Linger => {
                if self.state == CallState::Ended {
                    env.effect(Effect::Finished);
                }
            }
            CallTimer::App { app, token } => self.on_app_timer(app, token, env),
            CallTimer::AppGrace => self.on_app_grace(env),
        }
    }

    /// The relay saw no RTP on `leg` for its timeout.
    pub fn on_media_timeout(&mut self, leg: MediaLeg, env: &mut Env<'_>) {
        if self.state != CallState::Answered {
            if self.caller_up() && self.a.media == Some(leg) && self.state != CallState::Ended {
                let reason = if self.a.remote_hold {
                    "rtp_hold_timeout"
                } else {
                    "rtp_timeout"
                };
                self.hang_up(HangupBy::System, reason, env);
            }
            return;
        }
        let held = [self.anchor]
            .into_iter()
            .chain(self.winner.map(Side::Fork))
            .find(|s| self.leg(*s).media == Some(leg))
            .map(|s| {
                let l = self.leg(s);
                l.remote_hold || l.local_hold
            });
        let Some(held) = held else { return };
        let reason = if held {
            "rtp_hold_timeout"
        } else {
            "rtp_timeout"
        };
        self.hang_up(HangupBy::System, reason, env);
    }

    /// Ends an answered call from our side: BYE on both legs.
    pub fn hang_up(&mut self, by: HangupBy, reason: &str, env: &mut Env<'_>) {
        match self.state {
            CallState::Answered => {
                self.cancel_forks(self.winner, env);
                let mut sides = vec![self.anchor];
                sides.extend(self.winner.map(Side::Fork));
                if let Some(x) = self.xfer.take() {
                    sides.extend(x.by);
                    sides.extend(x.consult_held);
                }
                sides.extend(self.consult.take().map(|c| c.held));
                for s in sides {
                    self.hang_up_leg(s, env);
                }
                self.end(Outcome::Answered, by, Some(200), reason, env);
            }
            CallState::Routing | CallState::Ringing | CallState::App if self.caller_up() => {
                self.drop_caller(by, reason, true, env);
            }
            CallState::Routing | CallState::Ringing | CallState::App => {
                self.finish_unanswered(Outcome::Failed(StatusCode::SERVICE_UNAVAILABLE), env);
            }
            CallState::Ended => {}
        }
    }

    fn hang_up_leg(&mut self, side: Side, env: &mut Env<'_>) {
        let leg = self.leg_mut(side);
        let Some(dialog) = leg.dialog.as_mut() else {
            return;
        };
        let via = leg.local.via(&env.ep.new_branch());
        let bye = dialog.new_request(Method::Bye, &via);
        let target = leg.target;
        if let Some(k) = env.send_request(target, bye) {
            self.own(k, Role::Bye);
        }
    }

    fn reply(&mut self, key: TxnKey, req: &Request, status: StatusCode, env: &mut Env<'_>) {
        let r = req.make_response(status);
        let _ = env.ep.send_response(env.now, key, r);
    }

    /// The call is over: free media, write the record, and go once no fork
    /// can still answer.
    fn end(
        &mut self,
        outcome: Outcome,
        by: HangupBy,
        cause: Option<u16>,
        reason: &str,
        env: &mut Env<'_>,
    ) {
        if self.state == CallState::Ended {
            return;
        }
        self.state = CallState::Ended;
        if self.app.is_none() {
            // (A finishing application keeps the caller's leg: its
            // recording is there.)
            self.a.release(env);
        }
        for f in &mut self.forks {
            f.leg.release(env);
        }
        if !self.record_written {
            self.record_written = true;
            let outcome = if self.answer_ms.is_some() {
                Outcome::Answered
            } else {
                outcome
            };
            env.effect(Effect::Record(Box::new(CallRecord {
                tenant_id: self.p.tenant_id,
                call_id: self.a.call_id.clone(),
                leg_call_ids: self.forks.iter().map(|f| f.leg.call_id.clone()).collect(),
                caller: self.p.caller.clone(),
                caller_name: self.p.caller_name.clone(),
                dialed: self.p.dialed.clone(),
                destination: self.destination.clone(),
                start_ms: self.start_ms,
                answer_ms: self.answer_ms,
                end_ms: env.wall_ms,
                disposition: outcome.disposition(),
                hangup_by: by,
                sip_cause: cause,
                hangup_reason: reason.to_owned(),
                transfers: self.transfers.clone(),
                recording: None,
                trunk: self
                    .winner
                    .and_then(|w| self.forks.get(w))
                    .or(self.forks.last())
                    .and_then(|f| f.trunk.as_ref())
                    .map(|t| t.name.clone()),
            })));
        }
        self.maybe_finished(env);
    }

    fn maybe_finished(&mut self, env: &mut Env<'_>) {
        if self.state != CallState::Ended {
            return;
        }
        if self.app.is_some() {
            // Wait for the application (a recording's end) a little.
            if !std::mem::replace(&mut self.grace_armed, true) {
                env.timer(app::GRACE, CallTimer::AppGrace);
            }
            return;
        }
        if self
            .forks
            .iter()
            .any(|f| matches!(f.state, ForkState::Trying | ForkState::Ringing))
        {
            env.timer(LINGER, CallTimer::Linger);
        } else {
            env.effect(Effect::Finished);
        }
    }
}

/// Whether the peer holds us, given *our* negotiated direction: it sends
/// nothing we should play (we only receive, or nothing flows).
fn is_hold(ours: Direction) -> bool {
    matches!(ours, Direction::RecvOnly | Direction::Inactive)
}

/// A display name as a quoted string (with a trailing space), or nothing.
fn display(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let escaped: String = name
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\" ")
}

fn session_expires_header() -> HeaderName {
    HeaderName::parse("Session-Expires").unwrap_or(HeaderName::Other("Session-Expires".into()))
}

fn min_se_header() -> HeaderName {
    HeaderName::parse("Min-SE").unwrap_or(HeaderName::Other("Min-SE".into()))
}

/// Whether an option tag is listed in Supported/Require (any of their lines).
fn has_option(h: &sip_msg::Headers, name: &HeaderName, tag: &str) -> bool {
    h.get_all(name)
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(tag))
}

/// RFC 4028 Session-Expires: delta-seconds and the refresher parameter.
fn session_expires(h: &sip_msg::Headers) -> Option<(u32, Option<String>)> {
    let v = h.get(&session_expires_header())?;
    let mut parts = v.split(';');
    let secs = parts.next()?.trim().parse::<u32>().ok()?;
    let refresher = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("refresher")
            .then(|| v.trim().to_ascii_lowercase())
    });
    Some((secs, refresher))
}

fn refer_to_header() -> HeaderName {
    HeaderName::parse("Refer-To").unwrap_or(HeaderName::Other("Refer-To".into()))
}

fn subscription_state_header() -> HeaderName {
    HeaderName::parse("Subscription-State")
        .unwrap_or(HeaderName::Other("Subscription-State".into()))
}

/// RFC 3891 Replaces: `call-id;to-tag=…;from-tag=…` (any order of params).
fn parse_replaces(v: &str) -> Option<(String, String, String)> {
    let mut parts = v.split(';');
    let call_id = parts.next()?.trim().to_owned();
    let (mut to, mut from) = (None, None);
    for p in parts {
        let (k, val) = p.split_once('=')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "to-tag" => to = Some(val.trim().to_owned()),
            "from-tag" => from = Some(val.trim().to_owned()),
            _ => {}
        }
    }
    Some((call_id, to?, from?))
}

/// The digit and duration of a DTMF INFO (`application/dtmf-relay`:
/// `Signal=5` / `Duration=160`; `application/dtmf`: the digit alone).
fn info_digit(req: &Request) -> Option<(char, Duration)> {
    let ct = req
        .headers
        .get(&HeaderName::ContentType)?
        .to_ascii_lowercase();
    let body = std::str::from_utf8(&req.body).ok()?;
    let valid = |c: char| {
        c.is_ascii_digit() || matches!(c.to_ascii_uppercase(), '*' | '#' | 'A' | 'B' | 'C' | 'D')
    };
    let (mut digit, mut ms) = (None, 250u64);
    if ct.starts_with("application/dtmf-relay") {
        for line in body.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "signal" => digit = v.trim().chars().next(),
                "duration" => ms = v.trim().parse().unwrap_or(250),
                _ => {}
            }
        }
    } else if ct.starts_with("application/dtmf") {
        digit = body.trim().chars().next();
    }
    // RFC 4733 event 10/11 are * and #; some phones send them as numbers.
    let digit = match digit? {
        c if valid(c) => c.to_ascii_uppercase(),
        _ => match body.trim().trim_start_matches("Signal=").trim() {
            "10" => '*',
            "11" => '#',
            _ => return None,
        },
    };
    Some((digit, Duration::from_millis(ms.clamp(40, 8000))))
}
