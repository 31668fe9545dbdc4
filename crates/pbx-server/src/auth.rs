//! Digest authentication of requests against a tenant (realm = domain),
//! glue between the shard and `sip-auth`.
//!
//! An unknown user and a wrong password get exactly the same answer (a
//! fresh challenge), and cost the same work: `sip-auth` verifies against a
//! dummy HA1 when the user does not exist.

use std::net::IpAddr;
use std::sync::Arc;

use rand::Rng;
use sip_auth::{
    Algorithm, ChallengeParams, NonceKey, RequestContext, SharedReplayGuard, Verdict, Verifier,
    VerifierConfig,
};
use sip_msg::{HeaderName, Request};

use crate::tenants::TenantSnap;

/// What the shard does next.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The digest username that authenticated.
    Authenticated(Box<str>),
    /// Answer 401/407 with a challenge; `failed` counts toward a ban.
    /// `nonce` is the (still valid) nonce the failed credentials used: it is
    /// challenged again rather than a new one, so a phone with a wrong
    /// password sees the same challenge and gives up instead of retrying in
    /// a loop (libre, for one, only stops when the nonce repeats).
    Challenge {
        stale: bool,
        failed: bool,
        nonce: Option<String>,
    },
}

/// One per shard. The nonce key and the nonce-count replay guard are shared
/// by all shards: a captured Authorization replayed under another Call-ID
/// lands on another shard and must still be refused.
#[derive(Debug)]
pub struct Authenticator {
    verifier: Verifier,
    rng: rand::rngs::StdRng,
}

impl Authenticator {
    pub fn new(key: [u8; 32], nonce_ttl: u64, guard: Arc<SharedReplayGuard>) -> Authenticator {
        let config = VerifierConfig {
            nonce_expiry_secs: nonce_ttl,
            ..VerifierConfig::default()
        };
        Authenticator {
            verifier: Verifier::with_shared_guard(NonceKey::from_bytes(key), config, guard),
            rng: rand::SeedableRng::from_os_rng(),
        }
    }

    /// Checks the request's credentials for the tenant's realm. `proxy`
    /// selects Proxy-Authorization (INVITE and others) over Authorization
    /// (REGISTER).
    pub fn check(
        &mut self,
        req: &Request,
        tenant: &TenantSnap,
        proxy: bool,
        source: IpAddr,
        now_s: u64,
    ) -> AuthOutcome {
        let name = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        // Pick the credentials for our realm; other schemes and realms are
        // ignored (RFC 4475 regaut01: answer with a challenge we understand).
        let mut creds = None;
        for v in req.headers.get_all(&name) {
            match sip_auth::parse_credentials(v) {
                Ok(c) if c.realm.eq_ignore_ascii_case(&tenant.domain) => {
                    creds = Some(c);
                    break;
                }
                Ok(_) => {}
                Err(e) if e.is_unsupported_scheme() => {}
                Err(_) => {
                    return AuthOutcome::Challenge {
                        stale: false,
                        failed: false,
                        nonce: None,
                    };
                }
            }
        }
        let Some(creds) = creds else {
            return AuthOutcome::Challenge {
                stale: false,
                failed: false,
                nonce: None,
            };
        };
        // The digest `uri` is not compared with the Request-URI: SIPp, and
        // phones behind SBCs that rewrite the Request-URI, put another form
        // there, and a captured response cannot be reused anyway (each nonce
        // count is accepted once, nonces are bound to realm and source IP).
        let user = tenant.users.get(&*creds.username);
        let ha1 = user.and_then(|u| u.ha1_for(creds.algorithm));
        let ctx = RequestContext {
            method: req.method.as_str(),
            realm: &tenant.domain,
            source,
            now: now_s,
        };
        match self.verifier.authenticate(&creds, &ctx, ha1) {
            Verdict::Authenticated => match user {
                Some(u) => AuthOutcome::Authenticated(u.auth_user.clone()),
                None => AuthOutcome::Challenge {
                    stale: false,
                    failed: true,
                    nonce: Some(creds.nonce.to_string()),
                },
            },
            Verdict::Stale => AuthOutcome::Challenge {
                stale: true,
                failed: false,
                nonce: None,
            },
            Verdict::Challenge => AuthOutcome::Challenge {
                stale: false,
                failed: false,
                nonce: None,
            },
            // A nonce count seen before: a fresh nonce with stale=true lets a
            // real phone go on; a replayer cannot use it without the password.
            Verdict::Replayed => AuthOutcome::Challenge {
                stale: true,
                failed: false,
                nonce: None,
            },
            // Rejected comes only after the nonce checked out as ours and fresh.
            Verdict::Rejected => AuthOutcome::Challenge {
                stale: false,
                failed: true,
                nonce: Some(creds.nonce.to_string()),
            },
        }
    }

    /// The challenge header values: one per algorithm the tenant offers,
    /// strongest first (RFC 8760 §2.4), all with the same fresh nonce.
    ///
    /// `user_hint` is the user part of To (REGISTER) or From: a user with
    /// its own `digest_algorithms` gets those. (That tells a prober the
    /// user exists, so the tenant-wide setting is the one to prefer.)
    pub fn challenge_values(
        &mut self,
        tenant: &TenantSnap,
        user_hint: Option<&str>,
        source: IpAddr,
        now_s: u64,
        stale: bool,
        reuse_nonce: Option<&str>,
    ) -> Vec<String> {
        let nonce = match reuse_nonce {
            Some(n) => n.to_owned(),
            None => {
                let salt: [u8; 8] = self.rng.random();
                self.verifier
                    .issue_nonce(&tenant.domain, source, now_s, salt)
            }
        };
        let params = ChallengeParams {
            realm: &tenant.domain,
            nonce: &nonce,
            opaque: None,
            stale,
        };
        let user = user_hint.and_then(|u| {
            tenant
                .by_ext
                .get(u)
                .and_then(|a| tenant.users.get(a))
                .or_else(|| tenant.users.get(u))
        });
        // A user's own algorithms (each once; there are two), without a Vec.
        let mut own = [Algorithm::Md5; 2];
        let mut n = 0;
        for a in user.into_iter().flat_map(|u| u.algorithms()) {
            if n < own.len() && !own[..n].contains(&a) {
                own[n] = a;
                n += 1;
            }
        }
        let algs: &[Algorithm] = match &own[..n] {
            a if !a.is_empty() => a,
            _ if tenant.algorithms.is_empty() => &[Algorithm::Md5],
            _ => &tenant.algorithms,
        };
        params.header_values(algs)
    }
}
