//! The registrar's decisions end to end: challenge → client answer →
//! `Verifier::authenticate`, with time passed in.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};

use sip_auth::*;

const T0: u64 = 1_700_000_000;
const REALM: &str = "a.example";

fn phone() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))
}

fn verifier() -> Verifier {
    Verifier::new(NonceKey::from_bytes([5; 32]), VerifierConfig::default())
}

fn ctx(now: u64) -> RequestContext<'static> {
    RequestContext {
        method: "REGISTER",
        realm: REALM,
        source: phone(),
        now,
    }
}

/// A challenge for `algorithm` issued at `issued` and the phone's answer with `nc`.
fn answer(v: &Verifier, algorithm: Algorithm, issued: u64, password: &str, nc: u32) -> String {
    let nonce = v.issue_nonce(REALM, phone(), issued, issued.to_be_bytes());
    answer_nonce(&nonce, algorithm, password, nc)
}

fn answer_nonce(nonce: &str, algorithm: Algorithm, password: &str, nc: u32) -> String {
    let challenge = ChallengeParams {
        realm: REALM,
        nonce,
        opaque: Some("op"),
        stale: false,
    }
    .header_value(algorithm);
    let ch = parse_challenge(&challenge).unwrap();
    authorization_value(
        &ch,
        &ClientRequest {
            method: "REGISTER",
            uri: "sip:a.example",
            username: "201",
            password,
            cnonce: "c0ffee",
            nc,
        },
    )
}

fn ha1(algorithm: Algorithm) -> Ha1 {
    Ha1::from_password(algorithm, "201", REALM, "s3cret")
}

fn decide(v: &mut Verifier, authorization: &str, now: u64, ha1: Option<&Ha1>) -> Verdict {
    let c = parse_credentials(authorization).unwrap();
    v.authenticate(&c, &ctx(now), ha1)
}

#[test]
fn client_answer_authenticates_for_md5_and_sha256() {
    for alg in Algorithm::STRONGEST_FIRST {
        let mut v = verifier();
        let a = answer(&v, alg, T0, "s3cret", 1);
        assert!(a.contains(&format!("algorithm={alg}")), "{a}");
        assert_eq!(
            decide(&mut v, &a, T0 + 1, Some(&ha1(alg))),
            Verdict::Authenticated,
            "{alg}"
        );
    }
}

#[test]
fn a_cached_ha1_loaded_from_hex_authenticates_like_the_password() {
    let mut v = verifier();
    let stored = ha1(Algorithm::Sha256).as_hex().to_owned();
    let loaded = Ha1::from_hex(Algorithm::Sha256, &stored).unwrap();
    let a = answer(&v, Algorithm::Sha256, T0, "s3cret", 1);
    assert_eq!(
        decide(&mut v, &a, T0, Some(&loaded)),
        Verdict::Authenticated
    );
}

#[test]
fn wrong_password_and_unknown_user_get_the_same_rejection() {
    let mut v = verifier();
    let wrong = answer(&v, Algorithm::Md5, T0, "guess", 1);
    let w = decide(&mut v, &wrong, T0, Some(&ha1(Algorithm::Md5)));
    let right = answer(&v, Algorithm::Md5, T0 + 1, "s3cret", 1);
    let u = decide(&mut v, &right, T0 + 1, None);
    assert_eq!(w, Verdict::Rejected);
    assert_eq!(u, Verdict::Rejected);
    assert!(w.is_failure());
}

#[test]
fn sha256_answer_for_a_user_with_only_an_md5_ha1_is_rejected() {
    let mut v = verifier();
    let a = answer(&v, Algorithm::Sha256, T0, "s3cret", 1);
    assert_eq!(
        decide(&mut v, &a, T0, Some(&ha1(Algorithm::Md5))),
        Verdict::Rejected
    );
}

#[test]
fn nonce_is_accepted_at_expiry_and_stale_at_expiry_plus_one() {
    let mut v = verifier();
    let expiry = v.config().nonce_expiry_secs;
    assert_eq!(expiry, 300);
    let a1 = answer(&v, Algorithm::Md5, T0, "s3cret", 1);
    assert_eq!(
        decide(&mut v, &a1, T0 + expiry, Some(&ha1(Algorithm::Md5))),
        Verdict::Authenticated
    );
    let a2 = answer(&v, Algorithm::Md5, T0, "s3cret", 2);
    let stale = decide(&mut v, &a2, T0 + expiry + 1, Some(&ha1(Algorithm::Md5)));
    assert_eq!(stale, Verdict::Stale);
    assert!(!stale.is_failure(), "a stale nonce is not a failed guess");
}

#[test]
fn expiry_is_configurable() {
    let mut v = Verifier::new(
        NonceKey::from_bytes([5; 32]),
        VerifierConfig {
            nonce_expiry_secs: 30,
            ..VerifierConfig::default()
        },
    );
    let a = answer(&v, Algorithm::Md5, T0, "s3cret", 1);
    assert_eq!(
        decide(&mut v, &a, T0 + 31, Some(&ha1(Algorithm::Md5))),
        Verdict::Stale
    );
}

#[test]
fn tampered_nonce_gets_a_fresh_challenge_not_a_failure() {
    let mut v = verifier();
    let nonce = v.issue_nonce(REALM, phone(), T0, [1; 8]);
    let mut bytes = nonce.into_bytes();
    bytes[3] = if bytes[3] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(bytes).unwrap();
    // The attacker computes a correct digest over the tampered nonce.
    let a = answer_nonce(&tampered, Algorithm::Md5, "s3cret", 1);
    let verdict = decide(&mut v, &a, T0, Some(&ha1(Algorithm::Md5)));
    assert_eq!(verdict, Verdict::Challenge);
    assert!(!verdict.is_failure());
    let forged = answer_nonce("made-up-nonce", Algorithm::Md5, "s3cret", 1);
    assert_eq!(
        decide(&mut v, &forged, T0, Some(&ha1(Algorithm::Md5))),
        Verdict::Challenge
    );
}

#[test]
fn nonce_issued_for_another_source_or_realm_gets_a_fresh_challenge() {
    let mut v = verifier();
    let elsewhere = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let nonce = v.issue_nonce(REALM, elsewhere, T0, [1; 8]);
    let a = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 1);
    assert_eq!(
        decide(&mut v, &a, T0, Some(&ha1(Algorithm::Md5))),
        Verdict::Challenge
    );

    let other_realm_nonce = v.issue_nonce("b.example", phone(), T0, [1; 8]);
    let a = answer_nonce(&other_realm_nonce, Algorithm::Md5, "s3cret", 1);
    assert_eq!(
        decide(&mut v, &a, T0, Some(&ha1(Algorithm::Md5))),
        Verdict::Challenge
    );

    // Credentials naming another realm than the request's tenant.
    let a = answer(&v, Algorithm::Md5, T0, "s3cret", 1);
    let c = parse_credentials(&a).unwrap();
    let ctx_b = RequestContext {
        realm: "b.example",
        ..ctx(T0)
    };
    assert_eq!(
        v.authenticate(&c, &ctx_b, Some(&ha1(Algorithm::Md5))),
        Verdict::Challenge
    );
}

#[test]
fn replayed_authorization_is_refused_and_the_next_count_works() {
    let mut v = verifier();
    let nonce = v.issue_nonce(REALM, phone(), T0, [1; 8]);
    let first = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 1);
    let h = ha1(Algorithm::Md5);
    assert_eq!(decide(&mut v, &first, T0, Some(&h)), Verdict::Authenticated);
    assert_eq!(decide(&mut v, &first, T0 + 5, Some(&h)), Verdict::Replayed);
    let second = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 2);
    assert_eq!(
        decide(&mut v, &second, T0 + 60, Some(&h)),
        Verdict::Authenticated
    );
    assert_eq!(
        decide(&mut v, &second, T0 + 61, Some(&h)),
        Verdict::Replayed
    );
}

#[test]
fn out_of_order_counts_within_the_window_are_accepted_once_each() {
    let mut v = verifier();
    let nonce = v.issue_nonce(REALM, phone(), T0, [1; 8]);
    let h = ha1(Algorithm::Md5);
    let a3 = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 3);
    let a2 = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 2);
    assert_eq!(decide(&mut v, &a3, T0, Some(&h)), Verdict::Authenticated);
    assert_eq!(decide(&mut v, &a2, T0, Some(&h)), Verdict::Authenticated);
    assert_eq!(decide(&mut v, &a2, T0, Some(&h)), Verdict::Replayed);
    assert_eq!(decide(&mut v, &a3, T0, Some(&h)), Verdict::Replayed);
}

#[test]
fn wrong_guesses_do_not_burn_the_phones_nonce_counts() {
    let mut v = verifier();
    let nonce = v.issue_nonce(REALM, phone(), T0, [1; 8]);
    let h = ha1(Algorithm::Md5);
    for nc in 1..=3 {
        let guess = answer_nonce(&nonce, Algorithm::Md5, "guess", nc);
        assert_eq!(decide(&mut v, &guess, T0, Some(&h)), Verdict::Rejected);
    }
    let real = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 1);
    assert_eq!(decide(&mut v, &real, T0, Some(&h)), Verdict::Authenticated);
}

#[test]
fn nonce_forgotten_by_a_full_guard_is_stale_never_accepted() {
    let mut v = Verifier::new(
        NonceKey::from_bytes([5; 32]),
        VerifierConfig {
            replay_capacity: 16,
            ..VerifierConfig::default()
        },
    );
    let h = ha1(Algorithm::Md5);
    let nonce = v.issue_nonce(REALM, phone(), T0, [0; 8]);
    let first = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 1);
    assert_eq!(decide(&mut v, &first, T0, Some(&h)), Verdict::Authenticated);
    // Many newer nonces push it out of its bucket.
    for i in 1..=200u64 {
        let a = answer(&v, Algorithm::Md5, T0 + i, "s3cret", 1);
        assert_eq!(decide(&mut v, &a, T0 + i, Some(&h)), Verdict::Authenticated);
    }
    assert!(v.replay_len() <= v.replay_capacity());
    assert_eq!(
        decide(&mut v, &first, T0 + 200, Some(&h)),
        Verdict::Stale,
        "replay after eviction"
    );
    let next = answer_nonce(&nonce, Algorithm::Md5, "s3cret", 2);
    assert_eq!(decide(&mut v, &next, T0 + 200, Some(&h)), Verdict::Stale);
}

#[test]
fn rfc_2069_credentials_with_a_valid_nonce_are_rejected() {
    let mut v = verifier();
    let nonce = v.issue_nonce(REALM, phone(), T0, [1; 8]);
    let challenge = format!(r#"Digest realm="{REALM}", nonce="{nonce}""#);
    let ch = parse_challenge(&challenge).unwrap();
    let a = authorization_value(
        &ch,
        &ClientRequest {
            method: "REGISTER",
            uri: "sip:a.example",
            username: "201",
            password: "s3cret",
            cnonce: "c",
            nc: 1,
        },
    );
    assert_eq!(
        decide(&mut v, &a, T0, Some(&ha1(Algorithm::Md5))),
        Verdict::Rejected
    );
}

#[test]
fn usernames_and_realms_with_quotes_round_trip_through_client_and_server() {
    let realm = r#"odd"realm\x"#;
    let user = r#"we"ird\user"#;
    let mut v = verifier();
    let nonce = v.issue_nonce(realm, phone(), T0, [1; 8]);
    let challenge = ChallengeParams {
        realm,
        nonce: &nonce,
        opaque: None,
        stale: false,
    }
    .header_value(Algorithm::Sha256);
    let ch = parse_challenge(&challenge).unwrap();
    let a = authorization_value(
        &ch,
        &ClientRequest {
            method: "INVITE",
            uri: "sip:100@a.example;transport=tcp",
            username: user,
            password: "p\"w",
            cnonce: "c\\n",
            nc: 7,
        },
    );
    let c = parse_credentials(&a).unwrap();
    assert_eq!(c.username, user);
    let h = Ha1::from_password(Algorithm::Sha256, user, realm, "p\"w");
    let ctx = RequestContext {
        method: "INVITE",
        realm,
        source: phone(),
        now: T0,
    };
    assert_eq!(v.authenticate(&c, &ctx, Some(&h)), Verdict::Authenticated);
}

#[test]
fn a_captured_authorization_replayed_through_another_shard_is_refused() {
    // Two shards, as a server routing requests by Call-ID would have; the
    // digest does not cover Call-ID, so the replay may land on either.
    let guard = std::sync::Arc::new(SharedReplayGuard::new(1024, 4));
    let key = NonceKey::from_bytes([5; 32]);
    let mut shard_a =
        Verifier::with_shared_guard(key.clone(), VerifierConfig::default(), guard.clone());
    let mut shard_b = Verifier::with_shared_guard(key, VerifierConfig::default(), guard);
    let h = ha1(Algorithm::Md5);
    let a = answer(&shard_a, Algorithm::Md5, T0, "s3cret", 1);
    assert_eq!(
        decide(&mut shard_a, &a, T0, Some(&h)),
        Verdict::Authenticated
    );
    assert_eq!(
        decide(&mut shard_b, &a, T0 + 1, Some(&h)),
        Verdict::Replayed
    );
    assert_eq!(shard_b.replay_len(), 1);
    assert_eq!(shard_a.replay_memory_bytes(), shard_b.replay_memory_bytes());
}
