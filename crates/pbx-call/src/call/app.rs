//! Media applications on the caller's leg (issue 4): a voice menu, an
//! announcement, voicemail. The application is a pure state machine
//! ([`pbx_app::MediaApp`]); the call feeds it events and turns its actions
//! into SIP (answer, BYE), relay commands ([`MediaControl`](crate::MediaControl)'s
//! `app_*` methods) and effects for the server ([`Effect::Goto`],
//! [`Effect::App`]).

use std::collections::VecDeque;
use std::time::Duration;

use pbx_app::{Action, Event, MediaApp, PlayId, TimerToken};
use pbx_core::Destination;
use pbx_sdp::Codec;
use sip_msg::{HeaderName, Method, Request, StatusCode};
use sip_txn::TxnKey;

use super::{ALLOW, Call, CallState, Side, is_hold};
use crate::env::{CallTimer, Effect, Env, ToneKind};
use crate::outcome::{HangupBy, Outcome};

/// How long a call whose caller hung up waits for its application to
/// finish (a recording being closed) before it goes anyway.
pub(super) const GRACE: Duration = Duration::from_secs(10);

/// Destinations walked in one call (IVR → user → voicemail → …) before the
/// call is ended as a loop; the server's `max_hops` counts when larger.
const MAX_WALK_HOPS: u32 = 20;

/// Events one input may cause an application to see (its own synthetic
/// `PlayDone`s included) before the call stops feeding it: a guard against
/// an application that loops on playbacks that cannot be played.
const MAX_EVENTS_PER_INPUT: usize = 256;

/// The application running on the caller's leg.
#[derive(Debug)]
pub(crate) struct AppRun {
    app: Box<dyn MediaApp + Send>,
    /// Which application of the call this is (1, 2, …).
    id: u32,
    /// The caller is gone: only a recording's end is still reported.
    draining: bool,
}

/// Whether the media engine plays and listens in `c`, and the relay bridges it with any other
/// such codec: G.711 A-law and µ-law (converted by a table) and G.722 (transcoded to and from
/// G.711).
pub(super) fn is_engine_codec(c: &Codec) -> bool {
    static_engine_codec(&c.name).is_some()
}

/// The static-payload-type codec for an engine codec's name (PCMU 0, PCMA 8, G722 9).
pub(super) fn static_engine_codec(name: &str) -> Option<Codec> {
    if name.eq_ignore_ascii_case("PCMU") {
        Some(Codec::pcmu())
    } else if name.eq_ignore_ascii_case("PCMA") {
        Some(Codec::pcma())
    } else if name.eq_ignore_ascii_case("G722") {
        Some(Codec::new(9, "G722", 8000))
    } else {
        None
    }
}

/// The relay's playback id for playback `play` of application `app`.
fn play_id(app: u32, play: PlayId) -> u64 {
    (u64::from(app) << 32) | u64::from(play.0)
}

impl Call {
    /// The caller's INVITE was answered with a 2xx (by a fork or by an
    /// application).
    pub(super) fn caller_up(&self) -> bool {
        self.answer_ms.is_some()
    }

    /// Whether leg `side` is in an established session (re-INVITEs, session
    /// timers): every leg of a bridged call, and the caller's leg once an
    /// application answered it.
    pub(super) fn leg_up(&self, side: Side) -> bool {
        match self.state {
            CallState::Answered => true,
            CallState::Ended => false,
            _ => side == Side::In && self.caller_up(),
        }
    }

    /// The music-on-hold class a held party hears (`"default"` unless set;
    /// empty: silence, as before music on hold existed).
    pub fn set_moh_class(&mut self, class: impl Into<String>) {
        self.moh_class = class.into();
    }

    /// What the call reached, for the record (`ivr:main`, `announce:closed`),
    /// when the server starts an application for the number dialled.
    /// [`Effect::Goto`] and [`Call::ring`] set it themselves.
    pub fn set_destination(&mut self, dest: impl Into<String>) {
        self.destination = dest.into();
    }

    /// Whether a media application runs on the caller's leg (also while it
    /// finishes after the caller left).
    pub fn has_app(&self) -> bool {
        self.app.is_some()
    }

    /// Starts a media application on the caller's leg. The call must be
    /// looking up its destination ([`CallState::Routing`]: new, or after an
    /// [`Effect::Goto`] / [`Effect::App`] with a final action); otherwise
    /// the application is dropped. The caller's leg is answered (when the
    /// application asks) with G.711, the caller's first offered of PCMU and
    /// PCMA, and telephone-event: the media engine speaks nothing else. A
    /// caller offering neither gets 488.
    pub fn run_app(&mut self, app: Box<dyn MediaApp + Send>, env: &mut Env<'_>) {
        if self.state != CallState::Routing || self.a.media.is_none() {
            return;
        }
        if !self.prepare_app_media(env) {
            return self.finish_unanswered(Outcome::Failed(StatusCode::NOT_ACCEPTABLE_HERE), env);
        }
        self.stop_tone(env);
        self.apps += 1;
        self.state = CallState::App;
        self.app = Some(AppRun {
            app,
            id: self.apps,
            draining: false,
        });
        if self.a.neg.is_none() && !self.caller_up() {
            // A delayed offer: our offer goes in the 200 now, and the
            // application starts once the ACK's answer says where to send.
            self.answer_caller(env);
            self.app_wait_ack = true;
            return;
        }
        self.app_started(env);
    }

    /// Starts a media application as early media: the caller's leg is never answered.
    /// The application's answer is a 183 Session Progress with the SDP answer (G.711 as
    /// for [`Call::run_app`]), and when it hangs up (or fails, or the call cannot go on)
    /// the caller gets `status` with `reason` as its phrase instead of a BYE; a CANCEL
    /// meanwhile gets 487 as usual. A caller without an SDP offer (a delayed offer
    /// cannot hear early media) or without a media leg gets the status at once, as does
    /// one offering no engine codec. The call must be in [`CallState::Routing`].
    pub fn run_early_app(
        &mut self,
        app: Box<dyn MediaApp + Send>,
        status: StatusCode,
        reason: &str,
        env: &mut Env<'_>,
    ) {
        if self.state != CallState::Routing {
            return;
        }
        self.early_final = Some((status, reason.to_owned()));
        if self.a_answer.is_none() || self.a.media.is_none() || !self.prepare_app_media(env) {
            return self.finish_unanswered(Outcome::Failed(status), env);
        }
        self.run_app(app, env);
    }

    /// Ends an unanswered call with `status` and `reason` as its phrase (what
    /// [`Call::run_early_app`] sends when no announcement can be played).
    pub fn refuse(&mut self, status: StatusCode, reason: &str, env: &mut Env<'_>) {
        if self.state == CallState::Ended || self.caller_up() {
            return;
        }
        self.early_final = Some((status, reason.to_owned()));
        self.finish_unanswered(Outcome::Failed(status), env);
    }

    pub(super) fn app_started(&mut self, env: &mut Env<'_>) {
        if self.state == CallState::App {
            self.drive_app(Event::Started, env);
        }
    }

    /// The relay leg of the caller (where applications play and record).
    pub fn caller_media(&self) -> Option<crate::MediaLeg> {
        self.a.media
    }

    /// The destination of the last [`Effect::Goto`] cannot be reached
    /// (unknown, or a kind the server does not run): an answered caller
    /// gets a BYE, another one 480.
    pub fn goto_failed(&mut self, env: &mut Env<'_>) {
        if self.state == CallState::Routing {
            self.finish_unanswered(Outcome::Unavailable, env);
        }
    }

    /// An event for the running application: `Digit` (however the server
    /// learned it), `RecordDone` (the relay's recording on the caller's leg
    /// ended), `PlayDone` (of the current playback; prefer
    /// [`Call::on_play_done`] with the relay's id), `Timer`. `Hangup` hangs
    /// the call up (the caller gets a BYE) and lets the application finish.
    /// Ignored when no application runs.
    pub fn on_app_event(&mut self, ev: Event, env: &mut Env<'_>) {
        let Some(run) = self.app.as_ref() else {
            return;
        };
        match ev {
            Event::Started => {}
            Event::Hangup => self.hang_up(HangupBy::System, "app_hangup", env),
            Event::RecordDone { .. } => self.drive_app(ev, env),
            _ if run.draining => {}
            ev => self.drive_app(ev, env),
        }
    }

    /// The relay finished playback `id` (the id given to
    /// [`MediaControl::app_play`](crate::MediaControl::app_play)); one of an
    /// earlier application is ignored.
    pub fn on_play_done(&mut self, id: u64, env: &mut Env<'_>) {
        let app = (id >> 32) as u32;
        let play = PlayId(id as u32);
        if self
            .app
            .as_ref()
            .is_some_and(|r| r.id == app && !r.draining)
        {
            self.drive_app(Event::PlayDone(play), env);
        }
    }

    pub(super) fn app_digit(&mut self, digit: char, env: &mut Env<'_>) {
        if self.app.as_ref().is_some_and(|r| !r.draining) {
            self.drive_app(Event::Digit(digit), env);
        }
    }

    pub(super) fn on_app_timer(&mut self, app: u32, token: u32, env: &mut Env<'_>) {
        if self
            .app
            .as_ref()
            .is_some_and(|r| r.id == app && !r.draining)
        {
            self.drive_app(Event::Timer(TimerToken(token)), env);
        }
    }

    /// The application did not finish in time after the caller left.
    pub(super) fn on_app_grace(&mut self, env: &mut Env<'_>) {
        self.grace_armed = false;
        if self.state == CallState::Ended && self.app.take().is_some() {
            self.after_app(env);
        }
    }

    /// Makes the caller's leg speak a codec of the media engine (G.711 or
    /// G.722), answering the offer again if it chose another codec; false if
    /// the caller offered none of them.
    fn prepare_app_media(&mut self, env: &mut Env<'_>) -> bool {
        if self.a_codecs.is_some() || self.caller_up() {
            return true;
        }
        // The configured engine codecs in preference order (G.711 when none is).
        let mut engine: Vec<Codec> = self
            .p
            .codecs
            .iter()
            .filter(|c| is_engine_codec(c))
            .cloned()
            .collect();
        if engine.is_empty() {
            engine = vec![Codec::pcma(), Codec::pcmu()];
        }
        if self.inbound.invite.body.is_empty() {
            // Delayed offer: our offer in the 200 carries engine codecs only.
            self.a_codecs = Some(engine);
            return true;
        }
        if !self
            .a
            .neg
            .as_ref()
            .is_some_and(|n| is_engine_codec(&n.codec))
        {
            let offer = pbx_sdp::parse(&self.inbound.invite.body).ok();
            let local = self.a.local_media(&engine, self.p.telephone_event_pt);
            let answered = match (offer, local) {
                (Some(o), Some(l)) => self.a.sdp.answer(&o, &l).ok(),
                _ => None,
            };
            let Some((answer, neg)) = answered else {
                return false;
            };
            self.a.remote_hold = is_hold(neg.direction);
            self.a.neg = Some(neg);
            self.a_answer = Some(answer);
            self.a.configure(env);
        }
        let Some(c) = self
            .a
            .neg
            .as_ref()
            .and_then(|n| static_engine_codec(&n.codec.name))
        else {
            return false;
        };
        // The negotiated codec first; the other engine codecs stay acceptable
        // in a re-offer (the relay converts between them): both G.711 laws,
        // and G.722 when configured.
        let mut codecs = vec![c];
        for other in engine.into_iter().chain([Codec::pcma(), Codec::pcmu()]) {
            if !codecs
                .iter()
                .any(|k| k.name.eq_ignore_ascii_case(&other.name))
            {
                codecs.push(other);
            }
        }
        self.a_codecs = Some(codecs);
        true
    }

    /// Feeds `first` to the application and carries out what it asks,
    /// feeding it the events the call makes up itself (a playback that
    /// could not start ends at once).
    fn drive_app(&mut self, first: Event, env: &mut Env<'_>) {
        let mut queue = VecDeque::from([first]);
        let mut fed = 0;
        while let Some(ev) = queue.pop_front() {
            fed += 1;
            if fed > MAX_EVENTS_PER_INPUT {
                break;
            }
            let Some(run) = self.app.as_mut() else {
                break;
            };
            run.app.handle_event(env.wall_ms, ev);
            let actions: Vec<Action> = std::iter::from_fn(|| run.app.poll_action()).collect();
            let (id, draining) = (run.id, run.draining);
            if run.app.is_finished() {
                self.app = None;
            }
            for a in actions {
                self.app_action(id, draining, a, &mut queue, env);
            }
        }
        self.after_app(env);
    }

    /// An application gone from a call that already ended: the caller's
    /// leg goes, then the call.
    fn after_app(&mut self, env: &mut Env<'_>) {
        if self.app.is_none() && self.state == CallState::Ended {
            self.a.release(env);
            self.maybe_finished(env);
        }
    }

    fn app_action(
        &mut self,
        app: u32,
        draining: bool,
        action: Action,
        queue: &mut VecDeque<Event>,
        env: &mut Env<'_>,
    ) {
        let leg = self.a.media;
        match action {
            Action::Answer if self.early_final.is_some() => {
                if !self.caller_up() && !draining && self.state == CallState::App {
                    let r = self.response_to_caller(StatusCode::SESSION_PROGRESS, true);
                    self.send_provisional(r, env);
                }
            }
            Action::Answer => {
                if !self.caller_up() && !draining && self.state == CallState::App {
                    self.answer_caller(env);
                }
            }
            Action::Play {
                id,
                prompts,
                barge_in,
            } => {
                if draining {
                    return;
                }
                let played = leg
                    .is_some_and(|m| env.media.app_play(m, play_id(app, id), &prompts, barge_in));
                if !played {
                    queue.push_back(Event::PlayDone(id));
                }
            }
            Action::Moh { class } => {
                if !draining && let Some(m) = leg {
                    let class = if class.is_empty() {
                        self.moh_class.clone()
                    } else {
                        class
                    };
                    env.media.app_moh(m, &class);
                }
            }
            Action::StopPlay => {
                if let Some(m) = leg {
                    env.media.app_stop(m);
                }
            }
            Action::Record {
                max_ms,
                silence_end_ms,
                beep,
            } => {
                let started = !draining
                    && leg.is_some_and(|m| env.media.app_record(m, max_ms, silence_end_ms, beep));
                if !started {
                    queue.push_back(Event::RecordDone {
                        duration_ms: 0,
                        silent: true,
                    });
                }
            }
            Action::StopRecord => {
                if !leg.is_some_and(|m| env.media.app_stop_record(m)) {
                    queue.push_back(Event::RecordDone {
                        duration_ms: 0,
                        silent: true,
                    });
                }
            }
            Action::StartTimer { token, at_ms } => {
                if !draining {
                    let after = Duration::from_millis(at_ms.saturating_sub(env.wall_ms));
                    env.timer(
                        after,
                        CallTimer::App {
                            app,
                            token: token.0,
                        },
                    );
                }
            }
            // A cancelled timer that fires anyway is stale to the application.
            Action::CancelTimer { .. } => {}
            // An early-media application has nowhere to walk on to: it ends the call.
            Action::Goto(_) if !draining && self.early_final.is_some() => {
                self.finish_unanswered(Outcome::Failed(StatusCode::FORBIDDEN), env);
            }
            Action::Goto(dest) if !draining => self.goto(dest, env),
            Action::Hangup if !draining => {
                if self.caller_up() {
                    self.drop_caller(HangupBy::System, "normal", true, env);
                } else {
                    self.finish_unanswered(
                        Outcome::Failed(StatusCode::TEMPORARILY_UNAVAILABLE),
                        env,
                    );
                }
            }
            a @ (Action::EnterMailbox(_) | Action::Authenticated { .. }) if !draining => {
                // The server starts the next application with run_app.
                if self.state == CallState::App {
                    self.state = CallState::Routing;
                    env.effect(Effect::App(a));
                }
            }
            Action::Goto(_)
            | Action::Hangup
            | Action::EnterMailbox(_)
            | Action::Authenticated { .. } => {}
            other => env.effect(Effect::App(other)),
        }
    }

    /// Walks on to `dest` (the server resolves it), counting a hop; past
    /// the limit the call ends as a loop.
    pub(super) fn goto(&mut self, dest: Destination, env: &mut Env<'_>) {
        if self.state == CallState::Ended {
            return;
        }
        self.destination = dest.to_string();
        self.busy_failover = false;
        if dest == Destination::Hangup {
            return self.end_walk(StatusCode::TEMPORARILY_UNAVAILABLE, "hangup", env);
        }
        if self.walk >= MAX_WALK_HOPS.max(self.p.max_hops) {
            let loop_detected = StatusCode::new(482).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
            return self.end_walk(loop_detected, "hop_limit", env);
        }
        self.walk += 1;
        self.state = CallState::Routing;
        env.effect(Effect::Goto {
            dest,
            hop: self.walk,
        });
    }

    /// The walk ends here (`hangup`, or it went round too often, 482 Loop
    /// Detected): a BYE to an answered caller, else `status`; `reason` in
    /// the record.
    fn end_walk(&mut self, status: StatusCode, reason: &str, env: &mut Env<'_>) {
        if self.caller_up() {
            return self.drop_caller(HangupBy::System, reason, true, env);
        }
        self.app_gone(env);
        let mut r = self.inbound.invite.make_response(status);
        r.set_to_tag(&self.a.tag);
        let _ = env.ep.send_response(env.now, self.inbound.key, r);
        self.end(
            Outcome::Failed(status),
            HangupBy::System,
            Some(status.as_u16()),
            reason,
            env,
        );
    }

    /// Ringback to a caller an application answered, while forks ring.
    pub(super) fn start_ringback(&mut self, env: &mut Env<'_>) {
        if let Some(m) = self.a.media {
            self.a_tone = env.media.app_tone(m, ToneKind::Ringback);
        }
    }

    fn stop_tone(&mut self, env: &mut Env<'_>) {
        if std::mem::take(&mut self.a_tone)
            && let Some(m) = self.a.media
        {
            env.media.app_stop(m);
        }
    }

    /// The caller is gone (or being hung up): the application hears
    /// `Hangup`, playback stops, and a recording may still end and be
    /// stored.
    pub(super) fn app_gone(&mut self, env: &mut Env<'_>) {
        let Some(run) = self.app.as_mut() else {
            return;
        };
        if run.draining {
            return;
        }
        run.draining = true;
        if let Some(m) = self.a.media {
            env.media.app_stop(m);
        }
        self.drive_app(Event::Hangup, env);
    }

    /// Ends a call whose caller was answered but is not bridged (an
    /// application, or ringing after one): forks cancelled, the caller's
    /// BYE when `bye`, the application told, the record ANSWERED.
    pub(super) fn drop_caller(&mut self, by: HangupBy, reason: &str, bye: bool, env: &mut Env<'_>) {
        self.cancel_forks(None, env);
        self.stop_tone(env);
        if bye {
            self.hang_up_leg(Side::In, env);
        }
        self.app_gone(env);
        self.end(Outcome::Answered, by, Some(200), reason, env);
    }

    /// An in-dialog request from a caller that was answered but is not
    /// bridged (an application runs, or forks ring after one).
    pub(super) fn on_request_unbridged(&mut self, key: TxnKey, req: Request, env: &mut Env<'_>) {
        let Some(d) = self.a.dialog.as_mut() else {
            return self.reply(
                key,
                &req,
                StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
                env,
            );
        };
        if d.handle_remote_request(&req).is_err() {
            return self.reply(key, &req, StatusCode::SERVER_INTERNAL_ERROR, env);
        }
        match req.method {
            Method::Bye => {
                self.reply(key, &req, StatusCode::OK, env);
                self.drop_caller(HangupBy::Caller, "normal", false, env);
            }
            Method::Invite | Method::Update => self.on_offer(Side::In, key, &req, env),
            Method::Info => self.on_info(Side::In, key, &req, env),
            Method::Options => self.reply(key, &req, StatusCode::OK, env),
            // Nobody to transfer: the caller talks to vpbx itself.
            Method::Refer => self.reply(key, &req, StatusCode::FORBIDDEN, env),
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
}
