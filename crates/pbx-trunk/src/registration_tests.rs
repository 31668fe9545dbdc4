#![allow(clippy::unwrap_used)]
//! The registration client against a provider built from sip-auth's own
//! verifier (a real digest check, not a string compare), in virtual time.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use sip_auth::{
    Algorithm, ChallengeParams, Ha1, NonceKey, RequestContext, Verdict, Verifier, VerifierConfig,
    parse_credentials,
};
use sip_msg::{HeaderName, Message, Request, Response, StatusCode, Transport};

use super::*;

const REALM: &str = "sip.newoperator.example";
const SECRET: &str = "sdfsddf^$#$";

fn config() -> RegistrationConfig {
    RegistrationConfig {
        user: "74952345678".into(),
        domain: REALM.into(),
        auth_user: String::new(),
        secret: SECRET.into(),
        host: "127.0.0.1".into(),
        port: 5070,
        transport: Transport::Udp,
        expires: Duration::from_secs(3600),
        contact_user: "trk-7a1c".into(),
        contact_host_port: "192.0.2.10:5060".into(),
        user_agent: "vpbx/0.1".into(),
        backoff: Backoff::default(),
    }
}

/// A registrar: digest-checks with sip-auth's verifier, grants `grant` s.
struct Provider {
    verifier: Verifier,
    ha1: Ha1,
    algorithm: Algorithm,
    /// Unix seconds at virtual t0.
    unix0: u64,
    salt: u64,
    grant: u32,
    /// `Some(h)`: answer 401 (`h` = WWW-Authenticate) or 407.
    proxy: bool,
    registered: Option<u32>,
}

impl Provider {
    fn new(password: &str) -> Provider {
        Provider {
            verifier: Verifier::new(NonceKey::from_bytes([9; 32]), VerifierConfig::default()),
            ha1: Ha1::from_password(Algorithm::Md5, "74952345678", REALM, password),
            algorithm: Algorithm::Md5,
            unix0: 1_700_000_000,
            salt: 0,
            grant: 3600,
            proxy: false,
            registered: None,
        }
    }

    fn source() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
    }

    fn challenge(&mut self, req: &Request, unix: u64, stale: bool) -> Response {
        self.salt += 1;
        let nonce = self
            .verifier
            .issue_nonce(REALM, Self::source(), unix, self.salt.to_be_bytes());
        let value = ChallengeParams {
            realm: REALM,
            nonce: &nonce,
            opaque: Some("op"),
            stale,
        }
        .header_value(self.algorithm);
        let (status, header) = if self.proxy {
            (
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                HeaderName::ProxyAuthenticate,
            )
        } else {
            (StatusCode::UNAUTHORIZED, HeaderName::WwwAuthenticate)
        };
        let mut r = req.make_response(status);
        r.set_to_tag("prov");
        r.headers.push(header, value);
        r
    }

    /// The provider's answer to `req` at virtual time `secs` after t0.
    fn handle(&mut self, req: &Request, secs: u64) -> Response {
        let unix = self.unix0 + secs;
        let header = if self.proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        let Some(value) = req.headers.get(&header) else {
            return self.challenge(req, unix, false);
        };
        let creds = parse_credentials(value).unwrap();
        assert_eq!(
            &*creds.uri,
            req.uri.to_string(),
            "digest-uri is the Request-URI"
        );
        let verdict = self.verifier.authenticate(
            &creds,
            &RequestContext {
                method: "REGISTER",
                realm: REALM,
                source: Self::source(),
                now: unix,
            },
            Some(&self.ha1),
        );
        match verdict {
            Verdict::Authenticated => {
                let expires = req.headers.expires().unwrap();
                let mut r = req.make_response(StatusCode::OK);
                r.set_to_tag("prov");
                if expires == 0 {
                    self.registered = None;
                } else {
                    let granted = expires.min(self.grant);
                    self.registered = Some(granted);
                    let contact = req.headers.get(&HeaderName::Contact).unwrap();
                    r.headers.push(
                        HeaderName::Contact,
                        "<sip:someone-else@198.51.100.1>;expires=999",
                    );
                    r.headers
                        .push(HeaderName::Contact, format!("{contact};expires={granted}"));
                }
                r
            }
            Verdict::Stale | Verdict::Replayed => self.challenge(req, unix, true),
            // Kamailio-style: a wrong password gets a fresh challenge.
            Verdict::Challenge | Verdict::Rejected => self.challenge(req, unix, false),
        }
    }
}

struct Harness {
    reg: Registration,
    t0: Instant,
    statuses: Vec<RegistrationStatus>,
}

impl Harness {
    fn new(cfg: RegistrationConfig) -> Harness {
        Harness {
            reg: Registration::new(cfg, 7).unwrap(),
            t0: Instant::now(),
            statuses: Vec::new(),
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    /// Drains actions; returns the REGISTERs sent, each parsed back from
    /// its bytes after a Via is added (proving it is valid SIP).
    fn sent(&mut self) -> Vec<(Request, u32)> {
        let mut out = Vec::new();
        while let Some(a) = self.reg.poll_action() {
            match a {
                RegistrationAction::Send {
                    mut request,
                    target,
                    cseq,
                } => {
                    assert_eq!(target, self.reg.config().target());
                    assert!(request.headers.get(&HeaderName::Via).is_none());
                    request.headers.push_front(
                        HeaderName::Via,
                        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKtest;rport",
                    );
                    let bytes = request.to_bytes();
                    let Message::Request(parsed) =
                        sip_msg::parse_datagram(&bytes, &Default::default()).unwrap()
                    else {
                        panic!("a request");
                    };
                    assert_eq!(parsed.headers.cseq().unwrap().seq, cseq);
                    out.push((parsed, cseq));
                }
                RegistrationAction::StatusChanged(s) => self.statuses.push(s),
            }
        }
        out
    }

    fn one(&mut self) -> Request {
        let mut v = self.sent();
        assert_eq!(v.len(), 1, "exactly one REGISTER: {v:?}");
        v.remove(0).0
    }

    fn reply(&mut self, secs: u64, r: &Response) {
        self.reg.on_response(self.at(secs), r);
    }
}

fn cseq(r: &Request) -> u32 {
    r.headers.cseq().unwrap().seq
}

fn response(req: &Request, code: u16) -> Response {
    let mut r = req.make_response(StatusCode::new(code).unwrap());
    r.set_to_tag("prov");
    r
}

#[test]
fn the_first_register_is_valid_sip_with_the_documented_headers() {
    let mut cfg = config();
    cfg.transport = Transport::Tcp;
    let mut h = Harness::new(cfg);
    h.reg.start(h.t0);
    let r = h.one();
    assert_eq!(r.method, Method::Register);
    assert_eq!(r.uri.to_string(), "sip:sip.newoperator.example");
    let from = r.headers.from().unwrap();
    let to = r.headers.to().unwrap();
    assert_eq!(
        from.uri.to_string(),
        "sip:74952345678@sip.newoperator.example"
    );
    assert_eq!(to.uri, from.uri);
    assert!(from.tag().is_some_and(|t| !t.is_empty()));
    assert_eq!(to.tag(), None);
    assert_eq!(cseq(&r), 1);
    assert_eq!(r.headers.max_forwards(), Some(70));
    assert_eq!(r.headers.expires(), Some(3600));
    assert_eq!(r.headers.get(&HeaderName::UserAgent), Some("vpbx/0.1"));
    assert_eq!(
        r.headers.get(&HeaderName::Contact),
        Some("<sip:trk-7a1c@192.0.2.10:5060;transport=tcp>")
    );
    assert!(r.headers.get(&HeaderName::Authorization).is_none());
    assert_eq!(h.reg.status(), &RegistrationStatus::Registering);
    assert_eq!(h.statuses, [RegistrationStatus::Registering]);
    assert_eq!(h.reg.poll_timer(), Some(h.t0 + TRANSACTION_GUARD));
    // The target is reg_host:reg_port.
    assert_eq!(
        h.reg.config().target(),
        SendTarget {
            host: "127.0.0.1".into(),
            port: 5070,
            transport: Transport::Tcp
        }
    );
}

#[test]
fn challenge_then_200_then_refresh_before_expiry_then_a_stale_nonce_is_answered_again() {
    let mut p = Provider::new(SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r1 = h.one();
    let c401 = p.handle(&r1, 0);
    assert_eq!(c401.status, StatusCode::UNAUTHORIZED);
    h.reply(0, &c401);
    let r2 = h.one();
    assert_eq!(cseq(&r2), 2);
    assert_eq!(r2.headers.call_id(), r1.headers.call_id());
    assert_eq!(r2.headers.from_tag(), r1.headers.from_tag());
    let ok = p.handle(&r2, 0);
    assert_eq!(ok.status, StatusCode::OK, "the digest verifies");
    h.reply(0, &ok);
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Registered {
            expires_at: h.at(3600)
        }
    );
    assert_eq!(h.reg.last_response().unwrap().code, 200);
    // Refresh 30 s before expiry, nothing before.
    assert_eq!(h.reg.poll_timer(), Some(h.at(3570)));
    h.reg.tick(h.at(3569));
    assert!(h.sent().is_empty());
    h.reg.tick(h.at(3570));
    let r3 = h.one();
    assert_eq!(cseq(&r3), 3);
    assert_eq!(r3.headers.call_id(), r1.headers.call_id());
    // The cached challenge is reused with the next nonce count …
    let creds = r3.headers.get(&HeaderName::Authorization).unwrap();
    assert!(creds.contains("nc=00000002"), "{creds}");
    // … but after an hour the provider's nonce is stale: 401 stale=true.
    let stale = p.handle(&r3, 3570);
    assert!(
        stale
            .headers
            .get(&HeaderName::WwwAuthenticate)
            .unwrap()
            .contains("stale=true")
    );
    h.reply(3570, &stale);
    // Still registered while the refresh goes on.
    assert!(matches!(
        h.reg.status(),
        RegistrationStatus::Registered { .. }
    ));
    let r4 = h.one();
    assert_eq!(cseq(&r4), 4);
    let ok = p.handle(&r4, 3570);
    assert_eq!(ok.status, StatusCode::OK);
    h.reply(3570, &ok);
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Registered {
            expires_at: h.at(3570 + 3600)
        }
    );
    assert_eq!(h.reg.poll_timer(), Some(h.at(3570 + 3570)));
}

#[test]
fn a_refresh_challenged_with_a_new_nonce_without_stale_is_answered_once() {
    let mut p = Provider::new(SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    // The provider restarted with a new key: our cached nonce is unknown.
    p.verifier = Verifier::new(NonceKey::from_bytes([3; 32]), VerifierConfig::default());
    h.reg.tick(h.at(3570));
    let r = h.one();
    let c = p.handle(&r, 3570);
    assert_eq!(c.status, StatusCode::UNAUTHORIZED);
    assert!(
        !c.headers
            .get(&HeaderName::WwwAuthenticate)
            .unwrap()
            .contains("stale")
    );
    h.reply(3570, &c);
    let r = h.one();
    let ok = p.handle(&r, 3570);
    assert_eq!(ok.status, StatusCode::OK);
    h.reply(3570, &ok);
    assert!(matches!(
        h.reg.status(),
        RegistrationStatus::Registered { .. }
    ));
}

#[test]
fn a_407_is_answered_with_proxy_authorization() {
    let mut p = Provider::new(SECRET);
    p.proxy = true;
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    assert!(r.headers.get(&HeaderName::ProxyAuthorization).is_some());
    assert!(r.headers.get(&HeaderName::Authorization).is_none());
    h.reply(0, &p.handle(&r, 0));
    assert!(matches!(
        h.reg.status(),
        RegistrationStatus::Registered { .. }
    ));
}

#[test]
fn sha256_challenges_are_answered_and_verify() {
    let mut p = Provider::new(SECRET);
    p.algorithm = Algorithm::Sha256;
    p.ha1 = Ha1::from_password(Algorithm::Sha256, "74952345678", REALM, SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    assert!(
        r.headers
            .get(&HeaderName::Authorization)
            .unwrap()
            .contains("algorithm=SHA-256")
    );
    let ok = p.handle(&r, 0);
    assert_eq!(ok.status, StatusCode::OK);
}

#[test]
fn the_auth_user_is_the_digest_username_when_set() {
    let mut cfg = config();
    cfg.auth_user = "authname".into();
    let mut p = Provider::new(SECRET);
    p.ha1 = Ha1::from_password(Algorithm::Md5, "authname", REALM, SECRET);
    let mut h = Harness::new(cfg);
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    assert!(
        r.headers
            .get(&HeaderName::Authorization)
            .unwrap()
            .contains("username=\"authname\"")
    );
    assert_eq!(
        r.headers.from().unwrap().uri.user.as_deref(),
        Some("74952345678")
    );
    assert_eq!(p.handle(&r, 0).status, StatusCode::OK);
}

#[test]
fn a_wrong_password_fails_and_retries_with_backoff_that_grows_and_is_capped() {
    let mut p = Provider::new("not-the-secret");
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let mut now = 0u64;
    let mut delays = Vec::new();
    for attempt in 1..=9u32 {
        let r = h.one();
        assert!(r.headers.get(&HeaderName::Authorization).is_none());
        h.reply(now, &p.handle(&r, now));
        // The challenge is answered exactly once …
        let r = h.one();
        assert!(r.headers.get(&HeaderName::Authorization).is_some());
        let again = p.handle(&r, now);
        assert_eq!(again.status, StatusCode::UNAUTHORIZED);
        h.reply(now, &again);
        // … and the second challenge is a failure: nothing more is sent.
        assert!(h.sent().is_empty());
        let RegistrationStatus::Failed { reason, retry_at } = h.reg.status().clone() else {
            panic!("failed: {:?}", h.reg.status());
        };
        assert!(reason.contains("credentials rejected"), "{reason}");
        assert_eq!(h.reg.failures(), attempt);
        let delay = retry_at - h.at(now);
        let nominal = Backoff::default().nominal(attempt);
        assert!(
            delay <= nominal && delay >= nominal * 4 / 5,
            "{delay:?} vs {nominal:?}"
        );
        delays.push(delay);
        // Nothing happens before the retry time.
        h.reg.tick(retry_at - Duration::from_millis(1));
        assert!(h.sent().is_empty());
        now = (retry_at - h.t0).as_secs() + 1;
        h.reg.tick(h.at(now));
    }
    assert!(delays[0] >= Duration::from_secs(24) && delays[0] <= Duration::from_secs(30));
    assert!(delays.windows(2).take(4).all(|w| w[1] > w[0]), "{delays:?}");
    assert!(
        delays[5..]
            .iter()
            .all(|d| *d <= Duration::from_secs(600) && *d >= Duration::from_secs(480))
    );
}

#[test]
fn a_second_401_with_the_same_nonce_is_a_failure_and_stale_with_a_new_nonce_is_not() {
    let www = |nonce: &str, stale: bool| {
        ChallengeParams {
            realm: REALM,
            nonce,
            opaque: None,
            stale,
        }
        .header_value(Algorithm::Md5)
    };
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut c = response(&r, 401);
    c.headers
        .push(HeaderName::WwwAuthenticate, www("N1", false));
    h.reply(0, &c);
    let r = h.one();
    // stale=true with a new nonce: answered.
    let mut c = response(&r, 401);
    c.headers.push(HeaderName::WwwAuthenticate, www("N2", true));
    h.reply(0, &c);
    let r = h.one();
    assert!(
        r.headers
            .get(&HeaderName::Authorization)
            .unwrap()
            .contains("nonce=\"N2\"")
    );
    // The same nonce again, not stale: wrong credentials.
    let mut c = response(&r, 401);
    c.headers
        .push(HeaderName::WwwAuthenticate, www("N2", false));
    h.reply(0, &c);
    assert!(h.sent().is_empty());
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
}

#[test]
fn a_registrar_that_only_ever_says_stale_is_given_up_after_three_challenges() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let mut sent = 1;
    let mut r = h.one();
    for i in 0..10 {
        let mut c = response(&r, 401);
        c.headers.push(
            HeaderName::WwwAuthenticate,
            format!(r#"Digest realm="{REALM}", nonce="S{i}", qop="auth", stale=true"#),
        );
        h.reply(0, &c);
        match h.sent().pop() {
            Some((next, _)) => {
                sent += 1;
                r = next;
            }
            None => break,
        }
    }
    assert_eq!(sent, 4, "the first REGISTER and three answers");
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
}

#[test]
fn an_unanswerable_challenge_fails_without_a_panic() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut c = response(&r, 401);
    c.headers
        .push(HeaderName::WwwAuthenticate, "Basic realm=\"x\"");
    h.reply(0, &c);
    assert!(h.sent().is_empty());
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
    let r = {
        h.reg.tick(h.at(30));
        h.one()
    };
    h.reply(30, &response(&r, 401)); // no challenge header at all
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
}

#[test]
fn a_423_is_retried_at_once_with_min_expires() {
    let mut cfg = config();
    cfg.expires = Duration::from_secs(60);
    let mut h = Harness::new(cfg);
    h.reg.start(h.t0);
    let r = h.one();
    assert_eq!(r.headers.expires(), Some(60));
    let mut c = response(&r, 423);
    c.headers.push(HeaderName::MinExpires, "300");
    h.reply(1, &c);
    let r = h.one();
    assert_eq!(r.headers.expires(), Some(300));
    assert_eq!(cseq(&r), 2);
    let ok = response(&r, 200); // no Contact, no Expires: the requested 300
    h.reply(1, &ok);
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Registered {
            expires_at: h.at(301)
        }
    );
    // 300 s: refresh at max(150, 270) = 270 s after the 200.
    assert_eq!(h.reg.poll_timer(), Some(h.at(271)));
    h.reg.tick(h.at(271));
    assert_eq!(h.one().headers.expires(), Some(300), "Min-Expires is kept");
}

#[test]
fn a_423_without_a_larger_min_expires_is_a_failure() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut c = response(&r, 423);
    c.headers.push(HeaderName::MinExpires, "60");
    h.reply(0, &c);
    assert!(h.sent().is_empty());
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
}

#[test]
fn a_503_retry_after_is_honoured_and_a_huge_one_is_capped() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut c = response(&r, 503);
    c.headers.push(HeaderName::RetryAfter, "300 (maintenance)");
    h.reply(10, &c);
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Failed {
            reason: "503 Service Unavailable".into(),
            retry_at: h.at(310)
        }
    );
    h.reg.tick(h.at(309));
    assert!(h.sent().is_empty());
    h.reg.tick(h.at(310));
    let r = h.one();
    let mut c = response(&r, 503);
    c.headers.push(HeaderName::RetryAfter, "999999999");
    h.reply(310, &c);
    let RegistrationStatus::Failed { retry_at, .. } = h.reg.status().clone() else {
        panic!()
    };
    assert_eq!(retry_at, h.at(310 + 3600));
    // A Retry-After shorter than the backoff does not shorten it.
    h.reg.tick(retry_at);
    let r = h.one();
    let mut c = response(&r, 503);
    c.headers.push(HeaderName::RetryAfter, "1");
    let now = 310 + 3600;
    h.reply(now, &c);
    let RegistrationStatus::Failed { retry_at, .. } = h.reg.status().clone() else {
        panic!()
    };
    assert!(retry_at - h.at(now) >= Backoff::default().nominal(3) * 4 / 5);
}

#[test]
fn a_403_is_a_failure_retried_slowly_with_the_reason_kept() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut c = response(&r, 403);
    c.reason = "Forbidden - account blocked".into();
    h.reply(0, &c);
    let RegistrationStatus::Failed { reason, retry_at } = h.reg.status().clone() else {
        panic!()
    };
    assert_eq!(reason, "403 Forbidden - account blocked");
    assert!(retry_at >= h.at(24));
    let last = h.reg.last_response().unwrap();
    assert_eq!(
        (last.code, last.reason.as_str()),
        (403, "Forbidden - account blocked")
    );
    assert!(h.sent().is_empty(), "no tight retry");
    assert!(
        h.statuses
            .iter()
            .any(|s| matches!(s, RegistrationStatus::Failed { .. }))
    );
}

#[test]
fn a_transaction_timeout_fails_and_one_for_another_cseq_is_ignored() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reg.on_timeout(h.at(32), cseq(&r) + 1);
    assert_eq!(h.reg.status(), &RegistrationStatus::Registering);
    h.reg.on_timeout(h.at(32), cseq(&r));
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
    // A late response to the timed-out REGISTER is ignored.
    h.reply(33, &response(&r, 200));
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
}

#[test]
fn an_unreported_transaction_is_given_up_by_the_guard_timer() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let _ = h.one();
    h.reg.tick(h.at(39));
    assert_eq!(h.reg.status(), &RegistrationStatus::Registering);
    h.reg.tick(h.t0 + TRANSACTION_GUARD);
    let RegistrationStatus::Failed { retry_at, .. } = h.reg.status().clone() else {
        panic!()
    };
    assert!(retry_at > h.t0 + TRANSACTION_GUARD);
    assert!(h.sent().is_empty());
}

#[test]
fn stray_responses_are_ignored() {
    let mut p = Provider::new(SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r1 = h.one();
    h.reply(0, &p.handle(&r1, 0));
    let r2 = h.one();
    // A late 200 for CSeq 1 (a retransmission's answer): ignored.
    h.reply(0, &response(&r1, 200));
    assert_eq!(h.reg.status(), &RegistrationStatus::Registering);
    // Another Call-ID with the right CSeq: ignored.
    let mut other = response(&r2, 200);
    other.headers.set(HeaderName::CallId, "someone-else");
    h.reply(0, &other);
    // Another method with the right CSeq number: ignored.
    let mut opt = response(&r2, 200);
    opt.headers
        .set(HeaderName::CSeq, format!("{} OPTIONS", cseq(&r2)));
    h.reply(0, &opt);
    // No CSeq at all: ignored, no panic.
    let mut bare = response(&r2, 200);
    bare.headers.remove(&HeaderName::CSeq);
    h.reply(0, &bare);
    // A provisional: ignored.
    h.reply(0, &response(&r2, 100));
    assert_eq!(h.reg.status(), &RegistrationStatus::Registering);
    assert!(h.reg.last_response().unwrap().code == 401);
    assert!(h.sent().is_empty());
    // The real answer still works.
    h.reply(0, &p.handle(&r2, 0));
    assert!(matches!(
        h.reg.status(),
        RegistrationStatus::Registered { .. }
    ));
    // And a response when nothing is pending: ignored.
    h.reply(1, &response(&r2, 500));
    assert!(matches!(
        h.reg.status(),
        RegistrationStatus::Registered { .. }
    ));
}

#[test]
fn the_granted_lifetime_is_our_contacts_expires_then_the_expires_header_then_the_request() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut ok = response(&r, 200);
    ok.headers.push(HeaderName::Expires, "1800");
    ok.headers.push(
        HeaderName::Contact,
        "<sip:other@198.51.100.7:5060>;expires=100, <sip:trk-7a1c@203.0.113.9:61000;transport=udp>;expires=120",
    );
    h.reply(0, &ok);
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Registered {
            expires_at: h.at(120)
        }
    );
    assert_eq!(h.reg.poll_timer(), Some(h.at(90)), "max(60, 90)");

    h.reg.tick(h.at(90));
    let r = h.one();
    let mut ok = response(&r, 200);
    ok.headers.push(HeaderName::Expires, "1800");
    ok.headers.push(
        HeaderName::Contact,
        "<sip:other@198.51.100.7:5060>;expires=100",
    );
    h.reply(90, &ok);
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Registered {
            expires_at: h.at(90 + 1800)
        }
    );

    h.reg.tick(h.at(90 + 1770));
    let r = h.one();
    h.reply(1860, &response(&r, 200));
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Registered {
            expires_at: h.at(1860 + 3600)
        }
    );
}

#[test]
fn a_200_granting_zero_seconds_is_a_failure() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut ok = response(&r, 200);
    ok.headers.push(HeaderName::Expires, "0");
    h.reply(0, &ok);
    assert!(matches!(h.reg.status(), RegistrationStatus::Failed { .. }));
}

#[test]
fn refresh_points_follow_the_documented_rule() {
    let s = Duration::from_secs;
    assert_eq!(refresh_after(s(3600)), s(3570));
    assert_eq!(refresh_after(s(120)), s(90));
    assert_eq!(refresh_after(s(60)), s(30));
    assert_eq!(refresh_after(s(20)), s(10));
    assert_eq!(refresh_after(s(1)), s(1));
}

#[test]
fn stop_unregisters_with_expires_zero_and_the_cached_credentials() {
    let mut p = Provider::new(SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    assert_eq!(p.registered, Some(3600));
    h.reg.stop(h.at(100));
    let r = h.one();
    assert_eq!(r.headers.expires(), Some(0));
    assert_eq!(
        r.headers.get(&HeaderName::Contact),
        Some("<sip:trk-7a1c@192.0.2.10:5060>;expires=0")
    );
    assert_eq!(cseq(&r), 3);
    assert!(r.headers.get(&HeaderName::Authorization).is_some());
    let ok = p.handle(&r, 100);
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(p.registered, None, "the provider removed the binding");
    h.reply(100, &ok);
    assert_eq!(h.reg.status(), &RegistrationStatus::Unregistered);
    assert_eq!(h.reg.poll_timer(), None);
    // Idle: nothing more, ever.
    h.reg.tick(h.at(100_000));
    assert!(h.sent().is_empty());
}

#[test]
fn stop_answers_a_challenge_to_the_unregister() {
    let mut p = Provider::new(SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    // The provider forgot its nonces: the unregister is challenged.
    p.verifier = Verifier::new(NonceKey::from_bytes([4; 32]), VerifierConfig::default());
    h.reg.stop(h.at(10));
    let r = h.one();
    h.reply(10, &p.handle(&r, 10));
    let r = h.one();
    assert_eq!(r.headers.expires(), Some(0));
    h.reply(10, &p.handle(&r, 10));
    assert_eq!(h.reg.status(), &RegistrationStatus::Unregistered);
    assert_eq!(p.registered, None);
}

#[test]
fn stop_before_any_binding_sends_nothing_and_a_timed_out_unregister_gives_up() {
    let mut h = Harness::new(config());
    h.reg.stop(h.t0);
    assert!(h.sent().is_empty());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &response(&r, 503));
    h.reg.stop(h.at(1));
    assert!(h.sent().is_empty(), "no binding was ever granted");
    assert_eq!(h.reg.status(), &RegistrationStatus::Unregistered);

    // A REGISTER in flight may create a binding: stop unregisters.
    h.reg.start(h.at(2));
    let r = h.one();
    h.reg.stop(h.at(3));
    let un = h.one();
    assert_eq!(un.headers.expires(), Some(0));
    // The answer to the earlier REGISTER is now stray.
    h.reply(3, &response(&r, 200));
    h.reg.on_timeout(h.at(40), cseq(&un));
    assert_eq!(h.reg.status(), &RegistrationStatus::Unregistered);
    assert_eq!(h.reg.poll_timer(), None);
}

#[test]
fn a_new_secret_re_registers_at_once_on_the_same_call_id() {
    let mut p = Provider::new(SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let call_id = h.reg.call_id().to_owned();
    let mut cfg = config();
    cfg.secret = "new-secret".into();
    h.reg.config_changed(h.at(50), cfg).unwrap();
    let r = h.one();
    assert_eq!(r.headers.call_id(), Some(call_id.as_str()));
    assert!(
        r.headers.get(&HeaderName::Authorization).is_none(),
        "the old challenge is dropped with the old secret"
    );
    // Same config again: nothing.
    let mut cfg = config();
    cfg.secret = "new-secret".into();
    h.reg.config_changed(h.at(51), cfg).unwrap();
    assert!(h.sent().is_empty());
}

#[test]
fn a_new_registrar_unregisters_the_old_binding_and_registers_with_a_new_call_id() {
    let mut p = Provider::new(SECRET);
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let r = h.one();
    h.reply(0, &p.handle(&r, 0));
    let old_call_id = h.reg.call_id().to_owned();
    let mut cfg = config();
    cfg.domain = "sip.other.example".into();
    cfg.host = "198.51.100.20".into();
    let mut actions = Vec::new();
    h.reg.config_changed(h.at(60), cfg).unwrap();
    while let Some(a) = h.reg.poll_action() {
        actions.push(a);
    }
    let sends: Vec<(&Request, &SendTarget)> = actions
        .iter()
        .filter_map(|a| match a {
            RegistrationAction::Send {
                request, target, ..
            } => Some((&**request, target)),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 2);
    let (old, old_target) = sends[0];
    assert_eq!(old.headers.expires(), Some(0));
    assert_eq!(old.headers.call_id(), Some(old_call_id.as_str()));
    assert_eq!(old.uri.to_string(), "sip:sip.newoperator.example");
    assert_eq!(old_target.host, "127.0.0.1");
    let (new, new_target) = sends[1];
    assert_ne!(new.headers.call_id(), Some(old_call_id.as_str()));
    assert_eq!(new.uri.to_string(), "sip:sip.other.example");
    assert_eq!(new.headers.expires(), Some(3600));
    assert_eq!(new_target.host, "198.51.100.20");
    assert_eq!(h.reg.status(), &RegistrationStatus::Registering);
    // The old registrar's answer (old Call-ID) is ignored.
    h.reply(60, &response(old, 200));
    assert_eq!(h.reg.status(), &RegistrationStatus::Registering);
    h.reply(60, &response(new, 200));
    assert!(matches!(
        h.reg.status(),
        RegistrationStatus::Registered { .. }
    ));
}

#[test]
fn an_invalid_config_is_refused_with_a_precise_error() {
    let mut c = config();
    c.user = String::new();
    assert_eq!(
        Registration::new(c, 1).unwrap_err(),
        ConfigError::Missing("reg_user")
    );
    let mut c = config();
    c.domain = "bad domain".into();
    assert!(matches!(
        Registration::new(c, 1).unwrap_err(),
        ConfigError::Invalid { .. }
    ));
    let mut c = config();
    c.expires = Duration::ZERO;
    assert!(Registration::new(c, 1).is_err());
    let mut c = config();
    c.user_agent = "x\r\nVia: evil".into();
    assert!(Registration::new(c, 1).is_err());
    // And config_changed keeps the old config on an invalid new one.
    let mut h = Harness::new(config());
    let mut c = config();
    c.contact_user = String::new();
    assert!(h.reg.config_changed(h.t0, c).is_err());
    assert_eq!(h.reg.config(), &config());
}

#[test]
fn without_a_domain_the_registrar_host_and_port_make_the_request_uri() {
    let mut c = config();
    c.domain = String::new();
    let mut h = Harness::new(c);
    h.reg.start(h.t0);
    let r = h.one();
    assert_eq!(r.uri.to_string(), "sip:127.0.0.1:5070");
    assert_eq!(
        r.headers.to().unwrap().uri.to_string(),
        "sip:74952345678@127.0.0.1:5070"
    );
}

#[test]
fn two_seeds_give_different_call_ids_and_tags() {
    let a = Registration::new(config(), 1).unwrap();
    let b = Registration::new(config(), 2).unwrap();
    assert_ne!(a.call_id(), b.call_id());
    let a2 = Registration::new(config(), 1).unwrap();
    assert_eq!(a.call_id(), a2.call_id());
}

#[test]
fn a_lifetime_longer_than_asked_is_cut_to_what_was_asked() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    let mut ok = response(&r, 200);
    ok.headers.push(HeaderName::Expires, "4294967295");
    h.reply(0, &ok);
    assert_eq!(h.reg.binding_expires_at(), Some(h.at(3600)));
}

#[test]
fn the_status_summary_reads_as_one_line_for_vpbx_trunks() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    assert_eq!(
        RegistrationStatus::Registered {
            expires_at: t0 + s(3570)
        }
        .summary(t0),
        "registered, expires in 3570 s"
    );
    assert_eq!(
        RegistrationStatus::Failed {
            reason: "403 Forbidden".into(),
            retry_at: t0 + s(25)
        }
        .summary(t0),
        "failed: 403 Forbidden, retry in 25 s"
    );
    assert_eq!(RegistrationStatus::Unregistered.summary(t0), "unregistered");
}

#[test]
fn an_unbounded_backoff_is_refused() {
    let mut c = config();
    c.backoff.max = Duration::MAX;
    assert!(matches!(
        Registration::new(c, 1).unwrap_err(),
        ConfigError::Invalid {
            field: "backoff",
            ..
        }
    ));
}

#[test]
fn arbitrary_registrar_answers_never_panic_and_never_leave_an_active_machine_without_a_timer() {
    let mut rng = crate::rng::SplitMix::new(99);
    let codes = [
        100, 180, 200, 202, 302, 400, 401, 403, 404, 407, 408, 423, 480, 500, 503, 603,
    ];
    let junk = [
        "",
        "garbage",
        "Digest",
        "Digest realm=",
        r#"Digest realm="r", nonce="n", stale=maybe"#,
        r#"Digest realm="r", nonce="n", qop="auth-int""#,
        r#"Digest realm="r", nonce="n", qop="auth", stale=true"#,
        "99999999999999999999",
        "-5",
        "<sip:trk-7a1c@x>;expires=abc",
        "<sip:trk-7a1c@x>;expires=0",
        "*",
    ];
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let mut now = 0u64;
    let mut last: Option<Request> = None;
    for _ in 0..3000 {
        for (r, _) in h.sent() {
            last = Some(r);
        }
        let pick = |rng: &mut crate::rng::SplitMix, n: usize| {
            usize::try_from(rng.below_or_eq(n as u64 - 1)).unwrap()
        };
        match rng.below_or_eq(9) {
            0 => {
                now += rng.below_or_eq(700);
                h.reg.tick(h.at(now));
            }
            1 => {
                if let Some(r) = &last {
                    h.reg.on_timeout(h.at(now), cseq(r));
                }
            }
            2 => h.reg.stop(h.at(now)),
            3 => h.reg.start(h.at(now)),
            _ => {
                if let Some(r) = &last {
                    let mut resp = response(r, codes[pick(&mut rng, codes.len())]);
                    for name in [
                        HeaderName::WwwAuthenticate,
                        HeaderName::ProxyAuthenticate,
                        HeaderName::Expires,
                        HeaderName::MinExpires,
                        HeaderName::RetryAfter,
                        HeaderName::Contact,
                    ] {
                        if rng.below_or_eq(2) == 0 {
                            resp.headers.push(name, junk[pick(&mut rng, junk.len())]);
                        }
                    }
                    h.reg.on_response(h.at(now), &resp);
                }
            }
        }
        let active = !matches!(h.reg.status(), RegistrationStatus::Unregistered);
        if active {
            let timer = h
                .reg
                .poll_timer()
                .expect("an active registration has a timer");
            assert!(timer <= h.at(now) + Duration::from_secs(86_400));
        }
    }
}

#[test]
fn start_during_an_unregister_registers_again_and_ignores_the_unregisters_answer() {
    let mut h = Harness::new(config());
    h.reg.start(h.t0);
    let r = h.one();
    h.reply(0, &response(&r, 200));
    h.reg.stop(h.at(5));
    let un = h.one();
    assert_eq!(un.headers.expires(), Some(0));
    h.reg.start(h.at(6));
    let again = h.one();
    assert_eq!(again.headers.expires(), Some(3600));
    assert!(cseq(&again) > cseq(&un));
    h.reply(6, &response(&un, 200));
    assert!(matches!(
        h.reg.status(),
        RegistrationStatus::Registered { .. }
    ));
    h.reply(6, &response(&again, 200));
    assert_eq!(
        h.reg.status(),
        &RegistrationStatus::Registered {
            expires_at: h.at(3606)
        }
    );
}
