//! SIP digest authentication, pure: no clock reads, no sockets, no unseeded
//! randomness — time comes in as unix seconds, randomness as bytes.
//!
//! - [`parse_credentials`]: `Authorization` / `Proxy-Authorization` values.
//! - [`ChallengeParams`]: `WWW-Authenticate` / `Proxy-Authenticate` values,
//!   always `qop="auth"`, MD5 and/or SHA-256 (RFC 8760), strongest first.
//! - [`NonceKey`]: stateless HMAC nonces bound to issue time, realm and
//!   source address; expiry gives `stale=true`.
//! - [`ReplayGuard`]: nonce-count replay protection in fixed memory
//!   (25 bytes per tracked nonce); [`SharedReplayGuard`] for many threads.
//! - [`verify_response`] / [`Ha1`]: constant-time digest check against a
//!   cached HA1 — the plaintext password is not needed on the hot path.
//! - [`Verifier`]: all of the above in the right order, returning a
//!   [`Verdict`].
//! - [`parse_challenge`] / [`authorization_value`]: the client side.
//!
//! Supported: `Digest` with `algorithm=MD5` or `SHA-256`, `qop=auth`.
//! Refused: `-sess` algorithms, `SHA-512-256`, `auth-int`, and — on the
//! server — RFC 2069 credentials without qop (no nonce count, so no replay
//! protection). The client side does answer RFC 2069 challenges.
//!
//! A registrar's round trip:
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use sip_auth::*;
//!
//! let mut verifier = Verifier::new(NonceKey::from_bytes([9; 32]), VerifierConfig::default());
//! let phone = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
//! let now = 1_700_000_000;
//!
//! // 1. REGISTER without credentials → 401 with a challenge.
//! let nonce = verifier.issue_nonce("a.example", phone, now, [0, 0, 0, 0, 0, 0, 0, 1]);
//! let www_authenticate = ChallengeParams { realm: "a.example", nonce: &nonce, opaque: None, stale: false }
//!     .header_value(Algorithm::Md5);
//!
//! // 2. The phone answers it.
//! let challenge = parse_challenge(&www_authenticate).unwrap();
//! let authorization = authorization_value(&challenge, &ClientRequest {
//!     method: "REGISTER", uri: "sip:a.example", username: "201", password: "s3cret",
//!     cnonce: "f00d", nc: 1,
//! });
//!
//! // 3. The registrar checks it against the cached HA1.
//! let ha1 = Ha1::from_password(Algorithm::Md5, "201", "a.example", "s3cret");
//! let credentials = parse_credentials(&authorization).unwrap();
//! let request = RequestContext { method: "REGISTER", realm: "a.example", source: phone, now: now + 1 };
//! assert_eq!(verifier.authenticate(&credentials, &request, Some(&ha1)), Verdict::Authenticated);
//! // The same Authorization again is a replay.
//! assert_eq!(verifier.authenticate(&credentials, &request, Some(&ha1)), Verdict::Replayed);
//! ```

mod challenge;
mod client;
mod credentials;
mod hash;
mod nonce;
mod parse;
mod replay;
mod verify;

pub use challenge::{Challenge, ChallengeParams, parse_challenge, pick_challenge};
pub use client::{ClientRequest, authorization_value};
pub use credentials::{Credentials, NonceCount, Qop, ResponseDigest, parse_credentials};
pub use hash::{Algorithm, Ha1, Ha1Error};
pub use nonce::{DEFAULT_NONCE_EXPIRY_SECS, NonceCheck, NonceId, NonceKey, ValidNonce};
pub use parse::ParseError;
pub use replay::{DEFAULT_REPLAY_CAPACITY, NcCheck, ReplayGuard, SharedReplayGuard, WAYS};
pub use verify::{RequestContext, Verdict, Verifier, VerifierConfig, VerifyError, verify_response};

/// Every error of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header value did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A response digest did not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A stored HA1 did not load.
    #[error(transparent)]
    Ha1(#[from] Ha1Error),
}
