//! SIP transactions and dialogs: RFC 3261 §17 (timers A–K, RFC 6026 L and
//! M), the UA-core duties just above it (a UAS retransmits its 2xx until the
//! ACK, §13.3.1.4), RFC 3262 reliable provisionals, CANCEL (§9) and dialogs
//! (§12).
//!
//! Pure and sans-IO: no sockets, no clock reads. Every input carries the
//! `now` the caller read from its (pausable) clock, and the [`Endpoint`]
//! tells the caller what to transmit, what happened, and when to wake it.
//!
//! * Matching: responses by top-Via branch + CSeq method (§17.1.3);
//!   requests by branch + sent-by + method, ACK → INVITE (§17.2.3); RFC 2543
//!   peers (no `z9hG4bK`) by Request-URI, From tag, Call-ID, CSeq, top Via
//!   and To tag. All lookups are hash lookups; 100k+ live transactions per
//!   endpoint are fine.
//! * The transport is abstract: a [`Target`] names a [`Flow`] the caller
//!   owns (socket, connection) and the peer address. A failed send or a lost
//!   connection ([`Endpoint::handle_send_failed`],
//!   [`Endpoint::handle_transport_error`]) fails the transaction at once.
//! * States and timers carry the RFC's names: [`InviteClientState`],
//!   [`NonInviteClientState`], [`InviteServerState`],
//!   [`NonInviteServerState`], [`Timer`].
//!
//! # Serving REGISTER and OPTIONS
//!
//! Feed every parsed request with [`Endpoint::handle_message`]. A new one
//! yields [`Event::NewRequest`] with a [`TxnKey`]; answer it with
//! [`Endpoint::send_response`] (at once or later). Retransmissions never
//! reach the TU: in Trying they are absorbed, afterwards the endpoint resends
//! the last response itself, and after Timer J (64*T1 on UDP, zero on TCP) the
//! transaction ends with [`Event::Terminated`]. Requests that need no
//! transaction (a 481/400 the caller decides before matching) go out with
//! [`Endpoint::send_stateless`].
//!
//! An INVITE client transaction in Proceeding has no timer (Timer C is a
//! proxy timer): the TU ends a ringing call with [`Endpoint::cancel`].
//!
//! # Run loop
//!
//! After every input (`handle_*`) and command (`send_*`, `cancel`), drain
//! [`Endpoint::poll_output`] until it returns [`Output::Timeout`] or
//! [`Output::Idle`]; then wait for the next message, command, or the
//! deadline, and call [`Endpoint::handle_timeout`] when it passes.
//!
//! ```no_run
//! use std::time::Instant;
//! use sip_txn::{Config, Endpoint, Event, Flow, Output, Target};
//!
//! # fn recv() -> Option<(Target, sip_msg::Message)> { None }
//! # fn send(_: &Target, _: &[u8]) -> std::io::Result<()> { Ok(()) }
//! # fn wait_until(_: Option<Instant>) {}
//! let mut ep = Endpoint::new(Config::default());
//! loop {
//!     // 1. Drain: transmit, hand events to the TU, learn the next deadline.
//!     let deadline = loop {
//!         match ep.poll_output() {
//!             Output::Transmit(t) => {
//!                 if send(&t.target, &t.data).is_err() {
//!                     if let Some(key) = t.txn {
//!                         ep.handle_send_failed(Instant::now(), key);
//!                     }
//!                 }
//!             }
//!             Output::Event(Event::NewRequest { key, request, .. }) => {
//!                 // The TU answers (now, or later from another input):
//!                 let ok = request.make_response(sip_msg::StatusCode::OK);
//!                 ep.send_response(Instant::now(), key, ok).expect("fresh server transaction");
//!             }
//!             Output::Event(other) => { let _ = other; /* to the TU */ }
//!             Output::Timeout(at) => break Some(at),
//!             Output::Idle => break None,
//!         }
//!     };
//!     // 2. Wait for a message or the deadline, then feed it in with `now`.
//!     wait_until(deadline);
//!     let now = Instant::now(); // the shell reads the clock, never the core
//!     match recv() {
//!         Some((source, message)) => ep.handle_message(now, source, message),
//!         None => ep.handle_timeout(now),
//!     }
//! }
//! ```

mod config;
mod construct;
mod dialog;
mod endpoint;
mod error;
mod fsm;
mod key;
mod util;

pub use config::Config;
pub use construct::{RAck, ack_for_non_2xx, cancel_for, is_reliable_provisional, rseq_of};
pub use dialog::{Dialog, DialogError, DialogId, DialogState, RseqCheck};
pub use endpoint::{Endpoint, Event, Flow, Output, Related, Target, Transmit};
pub use error::TxnError;
pub use fsm::{
    InviteClientState, InviteServerState, NonInviteClientState, NonInviteServerState, Timer,
    TxnState,
};
pub use key::TxnKey;
