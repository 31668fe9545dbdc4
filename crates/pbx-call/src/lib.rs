//! The B2BUA call engine, pure and sans-IO.
//!
//! A [`Call`] is one inbound leg (the caller's INVITE, answered by us as a
//! UAS) and the outbound legs it forks to (one INVITE per registered contact
//! of the callee, sent by us as a UAC). Each leg is its own SIP dialog with
//! its own SDP offer/answer (its own `o=` line and version); only intent
//! crosses legs (hold, resume). The call owns its legs; nothing about it is
//! shared.
//!
//! The call does not own sockets, timers or the transaction layer. Every
//! method takes an [`Env`]: the current time, the shard's
//! [`sip_txn::Endpoint`] (which sends and retransmits), a [`MediaControl`]
//! (the RTP relay) and a list of [`Effect`]s the caller carries out (arm a
//! timer, route a transaction's events here, write the call record). Tests
//! drive it with a real `Endpoint` in virtual time and a recording media
//! double.
//!
//! Outcomes follow the PBX vocabulary: a user is *busy* when every contact
//! said busy, *no answer* when `ring_timeout` passes, *unavailable* when no
//! contact is reachable; the user's `on_busy` / `on_no_answer` /
//! `on_unavailable` decide what follows ([`Effect::Route`] for `user:`),
//! else the caller gets the matching SIP status. A failover to any other
//! destination (`voicemail:`, `ivr:`, …) is an [`Effect::Goto`].
//!
//! vpbx may also answer a call itself: [`Call::run_app`] starts a media
//! application ([`pbx_app::MediaApp`]: voice menu, announcement, voicemail)
//! on the caller's leg. The call answers in G.711 (what the media engine
//! speaks), feeds the application the caller's digits (RFC 4733, inband,
//! SIP INFO), playback and recording ends and its timers, and turns its
//! actions into the `app_*` methods of [`MediaControl`], SIP (200 OK, BYE)
//! and [`Effect::Goto`] / [`Effect::App`] for the server. Ringing a user
//! after that plays ringback to the caller, and the answer bridges the
//! legs (the outbound offer carries G.711 only, the caller's codec first).
//! A party put on hold hears music on hold ([`Call::set_moh_class`]).

mod call;
mod env;
pub mod group;
mod outcome;
pub mod queue;

pub use call::{
    Call, CallParams, CallState, Fork, ForkTarget, Handover, Inbound, LegSummary, RingTarget,
    TrunkFork,
};
pub use env::{CallTimer, Effect, Env, LocalSip, MediaControl, MediaLeg, MediaSetup, ToneKind};
pub use outcome::{CallRecord, Disposition, HangupBy, Outcome, Transfer};
