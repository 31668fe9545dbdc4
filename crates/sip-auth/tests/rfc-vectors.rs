//! Published example vectors (RFC 2617 §3.5, RFC 7616 §3.9.1), checked in
//! both directions: the server verifies the RFC's Authorization, and the
//! client side reproduces the RFC's response from its challenge.
#![allow(clippy::unwrap_used)]

use sip_auth::*;

const RFC2617_CHALLENGE: &str = r#"Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

const RFC2617_AUTHORIZATION: &str = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC7616_OPAQUE: &str = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS";
const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

fn rfc7616_challenge(algorithm: &str) -> String {
    format!(
        r#"Digest
    realm="http-auth@example.org",
    qop="auth, auth-int",
    algorithm={algorithm},
    nonce="{RFC7616_NONCE}",
    opaque="{RFC7616_OPAQUE}""#
    )
}

fn rfc7616_authorization(algorithm: &str, response: &str) -> String {
    format!(
        r#"Digest username="Mufasa",
    realm="http-auth@example.org",
    uri="/dir/index.html",
    algorithm={algorithm},
    nonce="{RFC7616_NONCE}",
    nc=00000001,
    cnonce="{RFC7616_CNONCE}",
    qop=auth,
    response="{response}",
    opaque="{RFC7616_OPAQUE}""#
    )
}

#[test]
fn rfc_2617_example_authorization_verifies_with_its_password() {
    let c = parse_credentials(RFC2617_AUTHORIZATION).unwrap();
    let ha1 = Ha1::from_password(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(verify_response(&c, "GET", &ha1), Ok(()));
    let wrong = Ha1::from_password(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle of Life",
    );
    assert_eq!(
        verify_response(&c, "GET", &wrong),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify_response(&c, "POST", &ha1),
        Err(VerifyError::Mismatch),
        "method enters HA2"
    );
}

#[test]
fn rfc_2617_example_response_is_reproduced_by_the_client() {
    let ch = parse_challenge(RFC2617_CHALLENGE).unwrap();
    let value = authorization_value(
        &ch,
        &ClientRequest {
            method: "GET",
            uri: "/dir/index.html",
            username: "Mufasa",
            password: "Circle Of Life",
            cnonce: "0a4f113b",
            nc: 1,
        },
    );
    assert!(
        value.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
        "{value}"
    );
    assert!(
        value.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#),
        "{value}"
    );
    assert!(value.contains("qop=auth, nc=00000001"), "{value}");
}

#[test]
fn rfc_7616_sha256_example_verifies_and_is_reproduced() {
    let response = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1";
    let text = rfc7616_authorization("SHA-256", response);
    let c = parse_credentials(&text).unwrap();
    assert_eq!(c.algorithm, Algorithm::Sha256);
    // RFC 7616 spells the password "Circle of Life".
    let ha1 = Ha1::from_password(
        Algorithm::Sha256,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert_eq!(verify_response(&c, "GET", &ha1), Ok(()));
    let md5 = Ha1::from_password(
        Algorithm::Md5,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert_eq!(
        verify_response(&c, "GET", &md5),
        Err(VerifyError::AlgorithmMismatch {
            credentials: Algorithm::Sha256,
            ha1: Algorithm::Md5
        })
    );

    let challenge = rfc7616_challenge("SHA-256");
    let ch = parse_challenge(&challenge).unwrap();
    let value = authorization_value(
        &ch,
        &ClientRequest {
            method: "GET",
            uri: "/dir/index.html",
            username: "Mufasa",
            password: "Circle of Life",
            cnonce: RFC7616_CNONCE,
            nc: 1,
        },
    );
    assert!(
        value.contains(&format!("response=\"{response}\"")),
        "{value}"
    );
    assert!(value.contains("algorithm=SHA-256"), "{value}");
}

#[test]
fn rfc_7616_md5_example_verifies() {
    let text = rfc7616_authorization("MD5", "8ca523f5e9506fed4657c9700eebdbec");
    let c = parse_credentials(&text).unwrap();
    let ha1 = Ha1::from_password(
        Algorithm::Md5,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    assert_eq!(verify_response(&c, "GET", &ha1), Ok(()));
}

#[test]
fn rfc_2069_challenge_is_answered_without_qop_but_the_server_refuses_such_credentials() {
    let ch = parse_challenge(
        r#"Digest realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093""#,
    )
    .unwrap();
    let value = authorization_value(
        &ch,
        &ClientRequest {
            method: "GET",
            uri: "/dir/index.html",
            username: "Mufasa",
            password: "Circle Of Life",
            cnonce: "unused",
            nc: 1,
        },
    );
    // H(HA1:nonce:HA2), computed independently with Python's hashlib.
    assert!(
        value.contains(r#"response="670fd8c2df070c60b045671b8b24ff02""#),
        "{value}"
    );
    assert!(
        !value.contains("cnonce") && !value.contains("qop") && !value.contains("nc="),
        "{value}"
    );
    let c = parse_credentials(&value).unwrap();
    let ha1 = Ha1::from_password(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    assert_eq!(
        verify_response(&c, "GET", &ha1),
        Err(VerifyError::QopRequired)
    );
}
