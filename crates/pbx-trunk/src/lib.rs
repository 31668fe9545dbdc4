//! Provider trunks, pure: the state machines and decisions the server needs
//! to use a SIP trunk, with time and randomness passed in. No tokio, no
//! sockets, no clock reads; nothing here panics on what the network sends.
//!
//! # [`Registration`]: the outbound REGISTER client (RFC 3261 §10.2)
//!
//! A dedicated trunk (seed 003 §4.5.2 `sip_registration: yes`) registers its
//! account at the provider so that the provider sends its calls to vpbx.
//!
//! - **Requests**: `REGISTER sip:reg_domain` (§10.2: no user part; without
//!   a domain `sip:reg_host:reg_port`), To = From = `sip:reg_user@reg_domain`
//!   with a From tag, one Call-ID for the whole life of the registration and
//!   CSeq + 1 per request (§10.2.4 "SHOULD use the same Call-ID"), Contact
//!   `sip:TOKEN@our-host:port[;transport=tcp]` with the token the server
//!   chooses (inbound INVITEs to it identify the trunk), `Expires`,
//!   `Max-Forwards: 70`, `User-Agent`. No Via: the server adds one with a
//!   fresh branch, as for every client transaction (see `pbx-call`).
//! - **Digest** (RFC 3261 §22.2, RFC 2617, RFC 8760): a 401/407 is answered
//!   through [`sip_auth::authorization_value`] (MD5 or SHA-256, `qop=auth`
//!   with a seeded cnonce and `nc`). The answered challenge is cached and
//!   reused on refreshes with the next `nc`, so a refresh normally costs one
//!   round trip. A challenge to credentials computed for a challenge just
//!   received is a failure (wrong password) unless it says `stale=true` with
//!   a new nonce; a challenge repeating a nonce already answered is a
//!   failure too; at most three challenges per attempt.
//! - **Lifetime**: the granted expiry is our Contact's `expires` parameter
//!   (matched by the token), else the `Expires` header, else what was asked
//!   (§10.2.4), never more than asked. The refresh goes at [`refresh_after`]`(granted)` =
//!   `max(granted/2, granted − 30 s)`. A 423 is retried at once with its
//!   `Min-Expires` (if larger and at most one day).
//! - **Failures** (403, 404, 5xx, any other final, Timer F, transport
//!   errors, and a [`TRANSACTION_GUARD`] of 40 s if the transaction layer
//!   never reports back): retry after [`Backoff`] — 30 s doubling to 10 min,
//!   less up to 20 % seeded jitter — and never before a `Retry-After` the
//!   registrar sent (capped at 1 h). A 403 or rejected credentials retry
//!   just as slowly; the status says why.
//! - **Stray responses** (another Call-ID, an older CSeq, another method)
//!   are ignored, as are provisional responses.
//! - **Stop** (trunk removed, registration off, shutdown): `Expires: 0`
//!   with `;expires=0` on the Contact (§10.2.2) if a binding may exist.
//! - **Timers**: one at a time — refresh, retry, or the transaction guard —
//!   exposed by [`Registration::poll_timer`] and fired by
//!   [`Registration::tick`].
//!
//! # [`Qualify`]: OPTIONS pings (RFC 3261 §11)
//!
//! An OPTIONS every `interval` (60 s; 10 s while Down). Any final response,
//! even 404/405/501, means the peer is alive (as Asterisk's qualify treats
//! it) and the round-trip time is recorded; none within `timeout` (5 s) is
//! a miss. Hysteresis: `down_after` (2) misses in a row make the trunk Down,
//! one answer makes it Up again. Unknown and Up trunks are usable; the
//! router skips Down ones ([`Qualify::is_usable`], [`failover_plan`]).
//!
//! # Outbound INVITE credentials
//!
//! [`authorization_for`] / [`authorized_retry`]: a 401/407 to an INVITE vpbx
//! sent on a trunk is answered with the trunk's username and secret; the
//! retry keeps Call-ID, From tag and body and takes CSeq + 1 (§22.2).
//!
//! # Failover
//!
//! [`failover_plan`] orders a call's trunks by priority, leaves out those at
//! their call limit (not for emergency calls) and those qualify marks Down
//! (unless nothing else is left), and gives every attempt its
//! `failover_timeout` for a first response — a dead trunk costs the caller
//! seconds, not Timer B's 32 s. [`should_fail_over`] says which final
//! responses move on to the next trunk (408, 5xx).
//!
//! # Run loop
//!
//! After every input, drain the actions, then wait for the timer:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use pbx_trunk::{Registration, RegistrationAction, RegistrationConfig};
//! use sip_msg::HeaderName;
//!
//! let config = RegistrationConfig {
//!     user: "74952345678".into(),
//!     domain: "sip.newoperator.example".into(),
//!     secret: "sdfsddf^$#$".into(),
//!     contact_user: "trk-1f3a".into(),
//!     contact_host_port: "192.0.2.10:5060".into(),
//!     ..Default::default()
//! };
//! let mut reg = Registration::new(config, 42).expect("valid config");
//! let now = Instant::now(); // the server's (pausable) clock
//! reg.start(now);
//! while let Some(action) = reg.poll_action() {
//!     match action {
//!         RegistrationAction::Send { mut request, target, cseq } => {
//!             request.headers.push_front(
//!                 HeaderName::Via,
//!                 "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnew;rport",
//!             );
//!             // ep.send_request(now, target_for(&target), *request), and
//!             // remember the transaction key ↦ (trunk, cseq) for on_timeout.
//!             let _ = (target, cseq);
//!         }
//!         RegistrationAction::StatusChanged(status) => {
//!             // log it, publish it for `vpbx trunks`
//!             let _ = status;
//!         }
//!     }
//! }
//! assert_eq!(reg.poll_timer(), Some(now + Duration::from_secs(40)));
//! ```

mod auth;
mod common;
mod failover;
mod qualify;
mod registration;
mod rng;

pub use auth::{AuthError, AuthHeader, TrunkCredentials, authorization_for, authorized_retry};
pub use common::SendTarget;
pub use failover::{
    Attempt, DEFAULT_FAILOVER_TIMEOUT, FailoverPlan, Skipped, TrunkCandidate, failover_plan,
    should_fail_over,
};
pub use qualify::{Qualify, QualifyAction, QualifyConfig, QualifyStatus};
pub use registration::{
    Backoff, ConfigError, LastResponse, Registration, RegistrationAction, RegistrationConfig,
    RegistrationStatus, TRANSACTION_GUARD, refresh_after,
};

/// Every error of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A trunk's configuration cannot produce valid requests.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A challenge could not be answered.
    #[error(transparent)]
    Auth(#[from] AuthError),
}
