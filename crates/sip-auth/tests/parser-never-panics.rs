//! Property tests: the header parsers never panic, and what the server
//! builds the client parses back.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sip_auth::*;

/// Fragments that steer random input into the parser's deeper states.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Digest ".to_owned()),
        Just("username=".to_owned()),
        Just("realm=".to_owned()),
        Just("nonce=".to_owned()),
        Just("uri=".to_owned()),
        Just("response=".to_owned()),
        Just("qop=".to_owned()),
        Just("nc=".to_owned()),
        Just("cnonce=".to_owned()),
        Just("algorithm=".to_owned()),
        Just("stale=".to_owned()),
        Just("auth".to_owned()),
        Just("SHA-256".to_owned()),
        Just("00000001".to_owned()),
        Just("6629fae49393a05397450978507c4ef1".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just(",".to_owned()),
        Just(" ".to_owned()),
        Just("\r\n ".to_owned()),
        Just("=".to_owned()),
        any::<char>().prop_map(String::from),
        "[ -~]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn parsers_never_panic_on_arbitrary_strings(s in any::<String>()) {
        let _ = parse_credentials(&s);
        let _ = parse_challenge(&s);
    }

    #[test]
    fn parsers_never_panic_on_digest_shaped_strings(parts in proptest::collection::vec(fragment(), 0..40)) {
        let s: String = parts.concat();
        if let Ok(c) = parse_credentials(&s) {
            // Whatever parses can be verified without panicking.
            let ha1 = Ha1::from_password(c.algorithm, &c.username, &c.realm, "x");
            let _ = verify_response(&c, "REGISTER", &ha1);
        }
        let _ = parse_challenge(&s);
    }

    #[test]
    fn built_challenges_parse_back(realm in any::<String>().prop_filter("no control chars", |r| !r.chars().any(|c| c.is_control())),
                                   opaque in proptest::option::of("[ -~]{0,20}"),
                                   stale in any::<bool>(),
                                   sha in any::<bool>()) {
        let alg = if sha { Algorithm::Sha256 } else { Algorithm::Md5 };
        let p = ChallengeParams { realm: &realm, nonce: "n", opaque: opaque.as_deref(), stale };
        let text = p.header_value(alg);
        let c = parse_challenge(&text).unwrap();
        prop_assert_eq!(c.realm.as_ref(), realm.as_str());
        prop_assert_eq!(c.opaque.as_deref(), opaque.as_deref());
        prop_assert_eq!(c.stale, stale);
        prop_assert_eq!(c.algorithm, alg);
    }
}
