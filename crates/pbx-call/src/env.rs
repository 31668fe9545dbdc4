//! What a call needs from the shard that runs it, and what it asks back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pbx_core::Destination;
use pbx_sdp::Negotiated;
use sip_txn::{Endpoint, Target, TxnKey};

use crate::outcome::CallRecord;

pub use pbx_media::tones::ToneKind;

/// A relay leg (one RTP/RTCP port pair), as the relay names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaLeg(pub u64);

/// How the relay should treat one leg after an offer/answer.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaSetup {
    pub negotiated: Negotiated,
    /// The peer put this leg on hold (or we did): the longer RTP timeout applies.
    pub on_hold: bool,
}

/// The RTP relay, as seen by a call. The server implements it over
/// `pbx-relay`; unit tests record the calls.
pub trait MediaControl: std::fmt::Debug {
    /// A port pair for a new leg owned by call `owner` whose peer is at
    /// `peer`; `None` when the pool is exhausted. Returns the address to put
    /// in SDP for that peer (internal or external).
    fn allocate(&mut self, owner: u64, peer: std::net::IpAddr) -> Option<(MediaLeg, SocketAddr)>;
    /// New or changed negotiated media for `leg` (resets latching).
    fn configure(&mut self, leg: MediaLeg, setup: &MediaSetup);
    /// Relay between `a` and `b` (both ways); replaces earlier pairings.
    fn connect(&mut self, a: MediaLeg, b: MediaLeg);
    /// Gives the port pair back.
    fn release(&mut self, leg: MediaLeg);
    /// Sends an RFC 4733 event on `leg` (SIP INFO DTMF from the other
    /// side); false when the leg negotiated no telephone-event.
    fn send_digit(&mut self, leg: MediaLeg, digit: char, duration: std::time::Duration) -> bool;
    /// Report RFC 4733 digits received on `leg` (feature codes).
    fn watch_digits(&mut self, leg: MediaLeg, on: bool);

    // ----- media applications (issue 4). Every method has a default that
    // does nothing, so a relay without a media engine still compiles; the
    // call then behaves as if each playback and recording ended at once.

    /// Plays `prompts` back to back on `leg` (to its remote), replacing any
    /// playback, tone or music; the relay's own stream stops meanwhile.
    /// Report the end with [`Call::on_play_done`](crate::Call::on_play_done)`(id)`
    /// (not needed after [`MediaControl::app_stop`]). With `barge_in` a digit
    /// may cut it short. Digits heard on `leg` (RFC 4733, inband) go to
    /// [`Call::on_digit`](crate::Call::on_digit). False when nothing can
    /// be played (no engine, a codec it cannot speak): the call takes the
    /// playback as ended.
    fn app_play(
        &mut self,
        _leg: MediaLeg,
        _id: u64,
        _prompts: &[pbx_app::PromptRef],
        _barge_in: bool,
    ) -> bool {
        false
    }
    /// Stops the playback (or tone) on `leg`; silence follows. A recording
    /// in progress goes on (the caller hanging up during voicemail stops
    /// playback only; the recording ends by `app_stop_record`).
    fn app_stop(&mut self, _leg: MediaLeg) {}
    /// Records what `leg`'s remote says (after a beep when `beep`), ending by
    /// itself after `max_ms` or `silence_end_ms` of silence; report the end
    /// with [`Call::on_app_event`](crate::Call::on_app_event)`(Event::RecordDone{..})`.
    /// False when no recording can start (the call then takes it as an
    /// empty, silent one).
    fn app_record(
        &mut self,
        _leg: MediaLeg,
        _max_ms: u64,
        _silence_end_ms: u64,
        _beep: bool,
    ) -> bool {
        false
    }
    /// Ends the recording on `leg` now; its `RecordDone` follows. False when
    /// none is running (the call then reports an empty one itself).
    fn app_stop_record(&mut self, _leg: MediaLeg) -> bool {
        false
    }
    /// Plays a call-progress tone on `leg` until stopped or replaced.
    fn app_tone(&mut self, _leg: MediaLeg, _kind: ToneKind) -> bool {
        false
    }
    /// Plays music on hold of `class` on `leg` (its peer is held).
    fn app_moh(&mut self, _leg: MediaLeg, _class: &str) -> bool {
        false
    }
    /// Ends whatever the media engine does on `leg` (playback, tone, music,
    /// recording): back to relaying with the leg it is connected to.
    fn app_detach(&mut self, _leg: MediaLeg) {}
}

/// Our own SIP address on the flow a leg uses: what goes in Via sent-by and
/// Contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSip {
    /// `UDP`, `TCP`, …
    pub transport: sip_msg::Transport,
    /// `host:port` as advertised (external IP when the peer is outside).
    pub host_port: String,
}

impl LocalSip {
    pub(crate) fn via(&self, branch: &str) -> String {
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport, self.host_port
        )
    }

    pub(crate) fn contact(&self, user: &str) -> String {
        match &self.transport {
            sip_msg::Transport::Udp => format!("<sip:{user}@{}>", self.host_port),
            t => format!(
                "<sip:{user}@{};transport={}>",
                self.host_port,
                t.to_string().to_ascii_lowercase()
            ),
        }
    }
}

/// The call's own timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallTimer {
    /// The callee's `ring_timeout` passed (generation, so an old timer of
    /// an earlier ring target is ignored).
    Ring(u32),
    /// An outside call's trunk gave no response at all in `failover_timeout`
    /// (generation, like `Ring`).
    FirstResponse(u32),
    /// Ended calls linger until their forks are final; past this they go.
    Linger,
    /// RFC 4028 on one leg (0 = the caller's, n = fork n-1): refresh when
    /// we are the refresher, else the session expired. `epoch` ignores
    /// timers superseded by a refresh.
    Session { leg: u32, epoch: u32 },
    /// The digits after a feature code on one leg stopped coming.
    Digits { leg: u32, epoch: u32 },
    /// A timer of the media application: `app` is the call's count of
    /// applications started (a timer of an earlier one is ignored), `token`
    /// the application's [`pbx_app::TimerToken`].
    App { app: u32, token: u32 },
    /// The caller hung up while the application was still busy (a
    /// recording finishing): past this the call goes anyway.
    AppGrace,
}

/// What the shard must do for a call (beyond what the endpoint sends).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Events of this transaction (responses, timeouts, ACK of our 2xx)
    /// belong to the call.
    OwnTxn(TxnKey),
    /// In-dialog requests whose To tag is this belong to the call.
    OwnTag(String),
    /// Wake the call at this instant with [`Call::on_timer`](crate::Call::on_timer).
    Timer(Instant, CallTimer),
    /// Failover to another user (`user:` destination): look up their
    /// contacts and state, then call [`Call::ring`](crate::Call::ring) or
    /// [`Call::unreachable`](crate::Call::unreachable).
    Route { ext: String, hop: u32 },
    /// A group's stage ended unanswered ([`RingTarget::hunt`](crate::RingTarget)): ring
    /// its next stage with [`Call::ring`](crate::Call::ring), or when none is left
    /// follow the group's `on_timeout` ([`Call::unreachable`](crate::Call::unreachable)).
    /// `busy`: every member of the stage said busy.
    Hunt { hop: u32, busy: bool },
    /// A queue's attempt ended with no agent answering ([`Call::queue_ring`](crate::Call::queue_ring));
    /// the caller still waits. `busy`: every agent rung said busy.
    QueueMissed { busy: bool },
    /// A transfer to `ext`: look up their contacts and state like for
    /// [`Effect::Route`] (the user rung so far stays in the call).
    Transfer { ext: String },
    /// This user left the call (the transferor): its presence goes.
    Left { ext: String },
    /// This user joined the call (an adopted leg): it counts as in a call.
    Joined { ext: String },
    /// Attended transfer: take the other leg of the dialog (`call_id`, our
    /// tag `to_tag`, the transferor's `from_tag`) from whichever call has
    /// it, then [`Call::adopt`](crate::Call::adopt) it here (or
    /// [`Call::replace_failed`](crate::Call::replace_failed)).
    Replace {
        call_id: String,
        to_tag: String,
        from_tag: String,
    },
    /// The media application chose a destination (an IVR option,
    /// `on_timeout`, an announcement's next, a voicemail `0`…), or a
    /// user's failover names a destination other than `user:`: walk the
    /// destination graph from `dest` and call [`Call::ring`](crate::Call::ring),
    /// [`Call::unreachable`](crate::Call::unreachable) or
    /// [`Call::run_app`](crate::Call::run_app). `hop` counts the steps so far
    /// (the call stops by itself at its limit).
    Goto { dest: Destination, hop: u32 },
    /// Something for the server's side of the media application: storing or
    /// discarding a recording, mailbox changes, MWI, and the two that start
    /// the next application (`EnterMailbox` → `voicemail::Login`,
    /// `Authenticated` → `voicemail::MailboxMenu`, by
    /// [`Call::run_app`](crate::Call::run_app)).
    App(pbx_app::Action),
    /// The call was answered and its caller's leg `caller` is bridged to the
    /// answering fork's leg `callee`, which reached `destination` (e.g.
    /// `user:1002`): the shard may start recording it (once per call; a later
    /// transfer keeps a recording of `caller` going).
    Answered {
        caller: MediaLeg,
        callee: MediaLeg,
        destination: String,
    },
    /// The call ended: store the record.
    Record(Box<CallRecord>),
    /// Nothing is left to do: drop the call and its tags and transactions.
    Finished,
}

/// Everything a call method may use. Built by the shard for each input.
#[derive(Debug)]
pub struct Env<'a> {
    pub now: Instant,
    /// Wall-clock milliseconds since the Unix epoch (for the call record).
    pub wall_ms: u64,
    pub ep: &'a mut Endpoint,
    pub media: &'a mut dyn MediaControl,
    pub effects: &'a mut Vec<Effect>,
}

impl Env<'_> {
    pub(crate) fn effect(&mut self, e: Effect) {
        self.effects.push(e);
    }

    pub(crate) fn timer(&mut self, after: Duration, t: CallTimer) {
        let at = self.now + after;
        self.effects.push(Effect::Timer(at, t));
    }

    /// Sends a request in a new client transaction and claims its events.
    pub(crate) fn send_request(&mut self, target: Target, req: sip_msg::Request) -> Option<TxnKey> {
        match self.ep.send_request(self.now, target, req) {
            Ok(k) => {
                self.effects.push(Effect::OwnTxn(k));
                Some(k)
            }
            Err(_) => None,
        }
    }
}
