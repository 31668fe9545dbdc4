//! Server-side verification: the response digest alone
//! ([`verify_response`]) and the whole decision in the right order
//! ([`Verifier::authenticate`]).

use std::net::IpAddr;
use std::sync::Arc;

use subtle::ConstantTimeEq as _;

use crate::credentials::{Credentials, Qop};
use crate::hash::{Ha1, QopAuth, request_digest};
use crate::nonce::{DEFAULT_NONCE_EXPIRY_SECS, NonceCheck, NonceKey};
use crate::replay::{DEFAULT_REPLAY_CAPACITY, NcCheck, ReplayGuard, SharedReplayGuard};

/// Why a response digest did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The credentials name a different algorithm than the HA1 given.
    #[error("credentials use {credentials}, HA1 is {ha1}")]
    AlgorithmMismatch {
        /// The algorithm in the credentials.
        credentials: crate::Algorithm,
        /// The algorithm of the HA1.
        ha1: crate::Algorithm,
    },
    /// RFC 2069 credentials (no `qop`). vpbx always challenges with
    /// `qop="auth"` and refuses these: without a nonce count there is no
    /// replay protection.
    #[error("credentials without qop (RFC 2069) are refused")]
    QopRequired,
    /// The response digest is wrong (wrong password, or the request was
    /// altered).
    #[error("response digest does not match")]
    Mismatch,
}

/// Checks the `response` of `credentials` for a request with `method`
/// against `ha1`, comparing in constant time. Allocation-free.
///
/// HA2 uses `credentials.uri` as sent; the caller should check that it
/// designates the Request-URI. Requires `qop=auth`.
pub fn verify_response(
    credentials: &Credentials<'_>,
    method: &str,
    ha1: &Ha1,
) -> Result<(), VerifyError> {
    if credentials.algorithm != ha1.algorithm() {
        return Err(VerifyError::AlgorithmMismatch {
            credentials: credentials.algorithm,
            ha1: ha1.algorithm(),
        });
    }
    let (Some(Qop::Auth), Some(nc), Some(cnonce)) =
        (credentials.qop, &credentials.nc, &credentials.cnonce)
    else {
        return Err(VerifyError::QopRequired);
    };
    let expected = request_digest(
        ha1,
        method,
        &credentials.uri,
        &credentials.nonce,
        Some(QopAuth {
            nc: nc.text(),
            cnonce,
        }),
    );
    if bool::from(expected.as_bytes().ct_eq(credentials.response.as_bytes())) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Settings of a [`Verifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Nonce lifetime in seconds (default 300).
    pub nonce_expiry_secs: u64,
    /// Nonces tracked by the replay guard (default 65,536; 25 bytes each).
    /// Ignored by [`Verifier::with_shared_guard`].
    pub replay_capacity: usize,
}

impl Default for VerifierConfig {
    fn default() -> VerifierConfig {
        VerifierConfig {
            nonce_expiry_secs: DEFAULT_NONCE_EXPIRY_SECS,
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
        }
    }
}

/// The request the credentials arrived on.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The SIP method (`REGISTER`, `INVITE`, …) — it enters HA2.
    pub method: &'a str,
    /// The realm the server expects for this request (the tenant domain).
    pub realm: &'a str,
    /// The source address the request came from (nonces are bound to it).
    pub source: IpAddr,
    /// Now, in unix seconds.
    pub now: u64,
}

/// What to do with a request after checking its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Good credentials, first use of this nonce count: let it through.
    Authenticated,
    /// Credentials for another realm, or a nonce we did not issue to this
    /// realm and source (tampered, from before a key change, or the phone's
    /// address changed): challenge afresh. Not a failed guess.
    Challenge,
    /// Our nonce, but expired or no longer tracked by the replay guard:
    /// challenge with `stale=true`. Not a failed guess.
    Stale,
    /// Correct digest with a nonce count already used — a captured request
    /// replayed, or a confused client. Recommended answer: challenge with
    /// `stale=true` (a real phone recomputes; a replayer cannot). Whether it
    /// counts toward a ban is the caller's policy.
    Replayed,
    /// Wrong password, unknown user, algorithm the user has no HA1 for, or
    /// RFC 2069 credentials — deliberately indistinguishable. Answer with a
    /// fresh challenge (or 403) and count a failed guess.
    Rejected,
}

impl Verdict {
    /// True for outcomes that count as a failed authentication for bans.
    pub fn is_failure(self) -> bool {
        self == Verdict::Rejected
    }
}

#[derive(Debug)]
enum Guard {
    Owned(ReplayGuard),
    Shared(Arc<SharedReplayGuard>),
}

/// Nonce key, expiry and replay guard together: issues nonces and decides on
/// credentials in the order that keeps each check honest.
///
/// Every use of a nonce must reach the same replay guard. A server with
/// several shards gives each shard a `Verifier` built with
/// [`Verifier::with_shared_guard`] over one [`SharedReplayGuard`]; a
/// per-shard [`Verifier::new`] is only safe when one thread sees all
/// authenticated requests.
#[derive(Debug)]
pub struct Verifier {
    key: NonceKey,
    config: VerifierConfig,
    guard: Guard,
}

impl Verifier {
    /// A verifier with its own replay guard (allocated now).
    pub fn new(key: NonceKey, config: VerifierConfig) -> Verifier {
        Verifier {
            key,
            guard: Guard::Owned(ReplayGuard::new(config.replay_capacity)),
            config,
        }
    }

    /// A verifier recording nonce counts in a guard shared with others.
    pub fn with_shared_guard(
        key: NonceKey,
        config: VerifierConfig,
        guard: Arc<SharedReplayGuard>,
    ) -> Verifier {
        Verifier {
            key,
            guard: Guard::Shared(guard),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Nonces the replay guard tracks now (a metric).
    pub fn replay_len(&self) -> usize {
        match &self.guard {
            Guard::Owned(g) => g.len(),
            Guard::Shared(g) => g.len(),
        }
    }

    /// Most nonces the replay guard tracks.
    pub fn replay_capacity(&self) -> usize {
        match &self.guard {
            Guard::Owned(g) => g.capacity(),
            Guard::Shared(g) => g.capacity(),
        }
    }

    /// Heap bytes of the replay guard (constant).
    pub fn replay_memory_bytes(&self) -> usize {
        match &self.guard {
            Guard::Owned(g) => g.memory_bytes(),
            Guard::Shared(g) => g.memory_bytes(),
        }
    }

    /// Issues a nonce for a challenge; see [`NonceKey::issue`] about `salt`.
    pub fn issue_nonce(&self, realm: &str, source: IpAddr, now: u64, salt: [u8; 8]) -> String {
        self.key.issue(realm, source, now, salt)
    }

    /// Checks a nonce without recording anything.
    pub fn check_nonce(&self, nonce: &str, realm: &str, source: IpAddr, now: u64) -> NonceCheck {
        self.key
            .check(nonce, realm, source, now, self.config.nonce_expiry_secs)
    }

    /// Decides on `credentials` (already parsed) for `request`.
    ///
    /// `ha1` is the stored HA1 of `(credentials.username, request.realm,
    /// credentials.algorithm)`, or `None` when there is no such user (or the
    /// user has no HA1 for that algorithm): the same digest work is done and
    /// the same [`Verdict::Rejected`] returned, so an unknown user and a wrong
    /// password look alike, including in timing.
    ///
    /// Order: realm → nonce MAC and age → qop → digest (constant time) →
    /// nonce count. The count is recorded only after the digest verified, so
    /// someone who merely saw a challenge cannot burn a phone's counts.
    pub fn authenticate(
        &mut self,
        credentials: &Credentials<'_>,
        request: &RequestContext<'_>,
        ha1: Option<&Ha1>,
    ) -> Verdict {
        if !credentials.realm.eq_ignore_ascii_case(request.realm) {
            return Verdict::Challenge;
        }
        let nonce = match self.check_nonce(
            &credentials.nonce,
            request.realm,
            request.source,
            request.now,
        ) {
            NonceCheck::Valid(v) => v,
            NonceCheck::Stale => return Verdict::Stale,
            NonceCheck::Invalid => return Verdict::Challenge,
        };
        let dummy;
        let (ha1, known) = match ha1 {
            Some(h) if h.algorithm() == credentials.algorithm => (h, true),
            _ => {
                dummy = Ha1::dummy(credentials.algorithm);
                (&dummy, false)
            }
        };
        let verified = verify_response(credentials, request.method, ha1);
        if !known || verified.is_err() {
            return Verdict::Rejected;
        }
        let nc = credentials
            .nc
            .expect("verify_response succeeds only with qop=auth, which parse_credentials pairs with nc")
            .value();
        let recorded = match &mut self.guard {
            Guard::Owned(g) => g.check_and_record(nonce, nc),
            Guard::Shared(g) => g.check_and_record(nonce, nc),
        };
        match recorded {
            NcCheck::Accepted => Verdict::Authenticated,
            NcCheck::Replayed => Verdict::Replayed,
            NcCheck::Stale => Verdict::Stale,
        }
    }
}
