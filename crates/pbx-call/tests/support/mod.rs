//! The shard in miniature for the call engine's scenario tests: a real
//! transaction endpoint in virtual time, SIP messages as text, and a media
//! double that records what the relay and its media engine were told.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pbx_app::PromptRef;
use pbx_call::{
    Call, CallParams, CallRecord, CallTimer, Effect, Env, ForkTarget, Inbound, LocalSip,
    MediaControl, MediaLeg, MediaSetup, RingTarget, ToneKind,
};
use sip_msg::{Limits, Message, Method, Request, Response, StatusCode, parse_datagram};
use sip_txn::{Endpoint, Event, Flow, Output, Related, Target, TxnKey};

/// What the call asked the media engine to do on a leg.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AppCall {
    Play {
        leg: u64,
        id: u64,
        prompts: Vec<PromptRef>,
        barge_in: bool,
    },
    Stop(u64),
    Record {
        leg: u64,
        max_ms: u64,
        silence_end_ms: u64,
        beep: bool,
    },
    StopRecord(u64),
    Tone(u64, ToneKind),
    Moh(u64, String),
    Detach(u64),
}

#[derive(Debug, Default)]
pub(crate) struct FakeMedia {
    pub(crate) next: u64,
    pub(crate) allocated: Vec<u64>,
    pub(crate) released: Vec<u64>,
    pub(crate) connected: Vec<(u64, u64)>,
    pub(crate) configured: Vec<(u64, MediaSetup)>,
    pub(crate) digits: Vec<(u64, char)>,
    pub(crate) watched: Vec<u64>,
    pub(crate) exhausted: bool,
    /// Every media-application request, in order.
    pub(crate) app: Vec<AppCall>,
    /// The engine cannot play (no engine, or a codec it cannot speak).
    pub(crate) no_engine: bool,
}

impl FakeMedia {
    /// The id of the last playback started.
    pub(crate) fn last_play(&self) -> Option<(u64, Vec<PromptRef>)> {
        self.app.iter().rev().find_map(|a| match a {
            AppCall::Play { id, prompts, .. } => Some((*id, prompts.clone())),
            _ => None,
        })
    }
}

impl MediaControl for FakeMedia {
    fn allocate(&mut self, _owner: u64, _peer: std::net::IpAddr) -> Option<(MediaLeg, SocketAddr)> {
        if self.exhausted {
            return None;
        }
        self.next += 1;
        self.allocated.push(self.next);
        let port = 30_000 + 2 * self.next as u16;
        Some((
            MediaLeg(self.next),
            SocketAddr::from(([127, 0, 0, 1], port)),
        ))
    }
    fn configure(&mut self, leg: MediaLeg, setup: &MediaSetup) {
        self.configured.push((leg.0, setup.clone()));
    }
    fn connect(&mut self, a: MediaLeg, b: MediaLeg) {
        self.connected.push((a.0, b.0));
    }
    fn release(&mut self, leg: MediaLeg) {
        self.released.push(leg.0);
    }
    fn watch_digits(&mut self, leg: MediaLeg, on: bool) {
        if on {
            self.watched.push(leg.0);
        }
    }
    fn send_digit(&mut self, leg: MediaLeg, digit: char, _d: Duration) -> bool {
        self.digits.push((leg.0, digit));
        true
    }
    fn app_play(&mut self, leg: MediaLeg, id: u64, prompts: &[PromptRef], barge_in: bool) -> bool {
        if self.no_engine {
            return false;
        }
        self.app.push(AppCall::Play {
            leg: leg.0,
            id,
            prompts: prompts.to_vec(),
            barge_in,
        });
        true
    }
    fn app_stop(&mut self, leg: MediaLeg) {
        self.app.push(AppCall::Stop(leg.0));
    }
    fn app_record(&mut self, leg: MediaLeg, max_ms: u64, silence_end_ms: u64, beep: bool) -> bool {
        if self.no_engine {
            return false;
        }
        self.app.push(AppCall::Record {
            leg: leg.0,
            max_ms,
            silence_end_ms,
            beep,
        });
        true
    }
    fn app_stop_record(&mut self, leg: MediaLeg) -> bool {
        self.app.push(AppCall::StopRecord(leg.0));
        !self.no_engine
    }
    fn app_tone(&mut self, leg: MediaLeg, kind: ToneKind) -> bool {
        self.app.push(AppCall::Tone(leg.0, kind));
        !self.no_engine
    }
    fn app_moh(&mut self, leg: MediaLeg, class: &str) -> bool {
        self.app.push(AppCall::Moh(leg.0, class.to_owned()));
        !self.no_engine
    }
    fn app_detach(&mut self, leg: MediaLeg) {
        self.app.push(AppCall::Detach(leg.0));
    }
}

pub(crate) const CALLER: &str = "127.0.0.1:5071";
pub(crate) const PHONE_1: &str = "127.0.0.1:5081";
pub(crate) const PHONE_2: &str = "127.0.0.1:5082";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn target(s: &str) -> Target {
    Target {
        flow: Flow(0),
        addr: addr(s),
        reliable: false,
    }
}

pub(crate) fn local() -> LocalSip {
    LocalSip {
        transport: sip_msg::Transport::Udp,
        host_port: "127.0.0.1:5060".into(),
    }
}

pub(crate) fn parse(text: &str) -> Message {
    let t = text.replace('\n', "\r\n");
    parse_datagram(t.as_bytes(), &Limits::default()).unwrap()
}

pub(crate) fn sdp(port: u16, codecs: &str, dir: &str) -> String {
    let pts: Vec<&str> = codecs.split(' ').collect();
    let mut s = format!(
        "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {port} RTP/AVP {codecs} 101\n"
    );
    for pt in pts {
        let name = match pt {
            "0" => "PCMU",
            "9" => "G722",
            "3" => "GSM",
            _ => "PCMA",
        };
        s.push_str(&format!("a=rtpmap:{pt} {name}/8000\n"));
    }
    s.push_str("a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n");
    s.push_str(&format!("a={dir}\n"));
    s
}

pub(crate) fn invite_text(body: &str) -> String {
    format!(
        "INVITE sip:1002@t.test SIP/2.0\n\
         Via: SIP/2.0/UDP {CALLER};branch=z9hG4bKcaller1;rport\n\
         Max-Forwards: 70\n\
         From: \"Alice\" <sip:1001@t.test>;tag=alice1\n\
         To: <sip:1002@t.test>\n\
         Call-ID: call-1@caller\n\
         CSeq: 2 INVITE\n\
         Contact: <sip:1001@{CALLER}>\n\
         Content-Type: application/sdp\n\
         Content-Length: {}\n\n{}",
        body.replace('\n', "\r\n").len(),
        body
    )
}

/// The caller's ACK for our 2xx (`tag`: ours), with an SDP answer when `body` is not empty.
pub(crate) fn ack_from_caller(tag: &str, body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\n"
    };
    format!(
        "ACK sip:vpbx@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKack{tag}\nMax-Forwards: 70\n\
         From: <sip:1001@t.test>;tag=alice1\nTo: <sip:1002@t.test>;tag={tag}\nCall-ID: call-1@caller\nCSeq: 2 ACK\n\
         {ct}Content-Length: {}\n\n{body}",
        body.replace('\n', "\r\n").len()
    )
}

pub(crate) fn user(ext: &str) -> RingTarget {
    RingTarget {
        ext: ext.into(),
        name: format!("User {ext}"),
        ring_timeout: Duration::from_secs(20),
        contacts: Vec::new(),
        on_busy: None,
        on_no_answer: None,
        on_unavailable: None,
        group: false,
        hunt: false,
        external: false,
        first_response: None,
    }
}

pub(crate) fn contact(a: &str) -> ForkTarget {
    ForkTarget {
        uri: sip_msg::Uri::parse(&format!("sip:1002@{a}")).unwrap(),
        target: target(a),
        local: local(),
        member: None,
        trunk: None,
    }
}

/// A shard in miniature: one endpoint, one call, virtual time.
pub(crate) struct Harness {
    pub(crate) now: Instant,
    pub(crate) wall_ms: u64,
    pub(crate) ep: Endpoint,
    pub(crate) media: FakeMedia,
    pub(crate) call: Option<Call>,
    /// Everything transmitted, with its destination.
    pub(crate) sent: Vec<(SocketAddr, Message)>,
    pub(crate) effects: Vec<Effect>,
    pub(crate) records: Vec<CallRecord>,
    pub(crate) timers: Vec<(Instant, CallTimer)>,
    pub(crate) invite_key: Option<TxnKey>,
    pub(crate) finished: bool,
    /// What the next call is created with.
    pub(crate) params: CallParams,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness {
            now: Instant::now(),
            wall_ms: 1_800_000_000_000,
            ep: Endpoint::new(sip_txn::Config {
                id_prefix: "vp00".into(),
                ..sip_txn::Config::default()
            }),
            media: FakeMedia::default(),
            call: None,
            sent: Vec::new(),
            effects: Vec::new(),
            records: Vec::new(),
            timers: Vec::new(),
            invite_key: None,
            finished: false,
            params: params(),
        }
    }

    pub(crate) fn with(&mut self, f: impl FnOnce(&mut Call, &mut Env<'_>)) {
        let mut effects = Vec::new();
        let mut call = self.call.take().unwrap();
        {
            let mut env = Env {
                now: self.now,
                wall_ms: self.wall_ms,
                ep: &mut self.ep,
                media: &mut self.media,
                effects: &mut effects,
            };
            f(&mut call, &mut env);
        }
        self.call = Some(call);
        self.apply(effects);
        self.pump();
    }

    pub(crate) fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match &e {
                Effect::Record(r) => self.records.push((**r).clone()),
                Effect::Timer(at, t) => self.timers.push((*at, *t)),
                Effect::Finished => self.finished = true,
                _ => {}
            }
            self.effects.push(e);
        }
    }

    /// Transmits and hands endpoint events to the call, as the shard does.
    pub(crate) fn pump(&mut self) {
        loop {
            match self.ep.poll_output() {
                Output::Transmit(t) => {
                    let m = parse_datagram(&t.data, &Limits::default()).unwrap();
                    self.sent.push((t.target.addr, m));
                }
                Output::Event(e) => self.event(e),
                Output::Timeout(_) | Output::Idle => return,
            }
        }
    }

    pub(crate) fn event(&mut self, e: Event) {
        if self.call.is_none() {
            if let Event::NewRequest {
                key,
                request,
                source,
                ..
            } = e
            {
                self.invite_key = Some(key);
                let mut effects = Vec::new();
                let call = {
                    let mut env = Env {
                        now: self.now,
                        wall_ms: self.wall_ms,
                        ep: &mut self.ep,
                        media: &mut self.media,
                        effects: &mut effects,
                    };
                    Call::new(
                        self.params.clone(),
                        Inbound {
                            key,
                            invite: request,
                            source,
                            local: local(),
                        },
                        &mut env,
                    )
                };
                self.call = Some(call);
                self.apply(effects);
            }
            return;
        }
        match e {
            Event::NewRequest {
                key,
                request,
                related,
                ..
            } => match (request.method.clone(), related) {
                (Method::Cancel, Related::Cancels(_)) => {
                    self.with(|c, env| c.on_cancel(key, &request, env))
                }
                _ => self.with(|c, env| c.on_request(key, request, env)),
            },
            Event::AckReceived { request, .. } => self.with(|c, env| c.on_ack(&request, env)),
            Event::Response { key, response } => {
                self.with(|c, env| c.on_response(key, response, env))
            }
            Event::TimedOut { key, .. } | Event::TransportError { key } => {
                self.with(|c, env| c.on_txn_failed(key, env))
            }
            Event::AckTimedOut { .. } => self.with(|c, env| c.on_ack_timeout(env)),
            _ => {}
        }
    }

    pub(crate) fn receive(&mut self, from: &str, text: &str) {
        let m = parse(text);
        self.ep.handle_message(self.now, target(from), m);
        self.pump();
    }

    pub(crate) fn receive_msg(&mut self, from: &str, m: Message) {
        self.ep.handle_message(self.now, target(from), m);
        self.pump();
    }

    pub(crate) fn advance(&mut self, d: Duration) {
        self.now += d;
        self.ep.handle_timeout(self.now);
        self.pump();
        let due: Vec<CallTimer> = self
            .timers
            .iter()
            .filter(|(at, _)| *at <= self.now)
            .map(|(_, t)| *t)
            .collect();
        self.timers.retain(|(at, _)| *at > self.now);
        for t in due {
            self.with(|c, env| c.on_timer(t, env));
        }
    }

    pub(crate) fn take_sent(&mut self) -> Vec<(SocketAddr, Message)> {
        std::mem::take(&mut self.sent)
    }

    pub(crate) fn requests_to(&self, to: &str, method: Method) -> Vec<Request> {
        self.sent
            .iter()
            .filter(|(a, _)| *a == addr(to))
            .filter_map(|(_, m)| match m {
                Message::Request(r) if r.method == method => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn responses_to(&self, to: &str) -> Vec<Response> {
        self.sent
            .iter()
            .filter(|(a, _)| *a == addr(to))
            .filter_map(|(_, m)| match m {
                Message::Response(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn call(&self) -> &Call {
        self.call.as_ref().unwrap()
    }

    /// Starts a call from the caller (with an SDP offer) and rings `contacts`.
    pub(crate) fn start(&mut self, contacts: &[&str]) {
        self.receive(CALLER, &invite_text(&sdp(4000, "8 0", "sendrecv")));
        let mut t = user("1002");
        t.contacts = contacts.iter().map(|a| contact(a)).collect();
        self.with(|c, env| c.ring(t, env));
    }

    /// The phone at `phone` answers the INVITE it got with `status`.
    pub(crate) fn answer(&mut self, phone: &str, status: u16, body: Option<String>) -> Response {
        let inv = self
            .requests_to(phone, Method::Invite)
            .into_iter()
            .next()
            .unwrap();
        let mut r = inv.make_response(StatusCode::new(status).unwrap());
        r.set_to_tag(&format!("tag{}", phone.rsplit(':').next().unwrap()));
        r.headers
            .push(sip_msg::HeaderName::Contact, format!("<sip:1002@{phone}>"));
        if let Some(b) = body {
            r.headers
                .push(sip_msg::HeaderName::ContentType, "application/sdp");
            r.body = bytes::Bytes::from(b.replace('\n', "\r\n"));
        }
        self.receive_msg(phone, Message::Response(r.clone()));
        r
    }
}

pub(crate) fn params() -> CallParams {
    CallParams {
        id: 7,
        tenant_id: 1,
        domain: "t.test".into(),
        caller: "1001".into(),
        caller_name: "Alice".into(),
        dialed: "1002".into(),
        codecs: vec![pbx_sdp::Codec::pcma(), pbx_sdp::Codec::pcmu()],
        telephone_event_pt: 101,
        max_hops: 4,
        user_agent: "vpbx-test".into(),
        session_expires: Duration::from_secs(1800),
        min_se: Duration::from_secs(90),
        blind_transfer_code: "##".into(),
        attended_transfer_code: "*2".into(),
        digit_timeout: Duration::from_secs(3),
    }
}

pub(crate) fn final_status(h: &Harness, to: &str) -> Option<u16> {
    h.responses_to(to)
        .iter()
        .filter(|r| r.headers.cseq().is_some_and(|c| c.method == Method::Invite))
        .map(|r| r.status.as_u16())
        .find(|s| *s >= 200)
}

/// A request from the caller inside the dialog our 200 OK made (`tag`: ours).
pub(crate) fn from_caller(tag: &str, method: &str, cseq: u32, extra: &str, body: &str) -> String {
    format!(
        "{method} sip:vpbx@127.0.0.1:5060 SIP/2.0\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKc{method}{cseq}\nMax-Forwards: 70\n\
         From: <sip:1001@t.test>;tag=alice1\nTo: <sip:1002@t.test>;tag={tag}\nCall-ID: call-1@caller\nCSeq: {cseq} {method}\n\
         Contact: <sip:1001@{CALLER}>\n{extra}Content-Length: {}\n\n{body}",
        body.replace('\n', "\r\n").len()
    )
}

impl Harness {
    /// The 2xx responses the caller got to its INVITE.
    pub(crate) fn oks_to_caller(&self) -> Vec<Response> {
        self.responses_to(CALLER)
            .into_iter()
            .filter(|r| r.status.as_u16() == 200)
            .filter(|r| r.headers.cseq().is_some_and(|c| c.method == Method::Invite))
            .collect()
    }

    /// Our tag towards the caller, from the 200 OK it got.
    pub(crate) fn caller_tag(&self) -> String {
        self.oks_to_caller()[0].headers.to_tag().unwrap().to_owned()
    }

    /// The caller's ACK for our 200 OK.
    pub(crate) fn ack(&mut self) {
        let tag = self.caller_tag();
        self.receive(CALLER, &ack_from_caller(&tag, ""));
    }

    /// Effects of one kind seen so far.
    pub(crate) fn gotos(&self) -> Vec<(pbx_core::Destination, u32)> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Goto { dest, hop } => Some((dest.clone(), *hop)),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn app_effects(&self) -> Vec<pbx_app::Action> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::App(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }
}
