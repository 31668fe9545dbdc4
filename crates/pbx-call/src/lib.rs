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
//! else the caller gets the matching SIP status.

mod call;
mod env;
mod outcome;

pub use call::{
    Call, CallParams, CallState, Fork, ForkTarget, Handover, Inbound, LegSummary, RingTarget,
};
pub use env::{CallTimer, Effect, Env, LocalSip, MediaControl, MediaLeg, MediaSetup, ToneKind};
pub use outcome::{CallRecord, Disposition, HangupBy, Outcome, Transfer};
