//! Answering a provider's digest challenge for an outbound INVITE (or any
//! request vpbx sends on a trunk): RFC 3261 §22.2 (401 → `Authorization`)
//! and §22.3 (407 → `Proxy-Authorization`), digest per RFC 2617 / RFC 8760
//! through [`sip_auth::authorization_value`].

use std::borrow::Cow;

use sip_auth::{Challenge, ClientRequest, authorization_value, pick_challenge};
use sip_msg::{CSeq, HeaderName, Request, Response, StatusCode};

/// Why a challenge could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The response is neither 401 nor 407.
    #[error("response {0} is not a challenge (401 or 407)")]
    NotAChallenge(u16),
    /// A 401/407 without any `WWW-Authenticate`/`Proxy-Authenticate` this
    /// crate can answer (no header, not Digest, or an unsupported algorithm
    /// or qop).
    #[error("no supported digest challenge in the {0} response")]
    NoUsableChallenge(u16),
    /// The request to retry has no CSeq header (it was not built by vpbx).
    #[error("the request to retry has no valid CSeq")]
    NoCSeq,
}

/// The account a trunk authenticates with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunkCredentials<'a> {
    /// The digest username (the trunk's `username`, or `reg_auth_user`).
    pub username: &'a str,
    /// The password (`secret` / `reg_secret`).
    pub password: &'a str,
}

/// A header to add to the retried request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    /// `Authorization` (answering a 401) or `Proxy-Authorization` (a 407).
    pub name: HeaderName,
    /// The `Digest …` value.
    pub value: String,
}

/// The parsed challenge of a 401/407 and the header that answers it.
#[derive(Debug, Clone)]
pub(crate) struct ParsedChallenge {
    pub(crate) answer_header: HeaderName,
    pub(crate) challenge: Challenge<'static>,
}

/// The first supported challenge of a 401 (`WWW-Authenticate`) or 407
/// (`Proxy-Authenticate`) response, RFC 7616 §3.7 order.
pub(crate) fn parse_response_challenge(response: &Response) -> Result<ParsedChallenge, AuthError> {
    let code = response.status.as_u16();
    let (challenge_header, answer_header) = match response.status {
        StatusCode::UNAUTHORIZED => (HeaderName::WwwAuthenticate, HeaderName::Authorization),
        StatusCode::PROXY_AUTHENTICATION_REQUIRED => (
            HeaderName::ProxyAuthenticate,
            HeaderName::ProxyAuthorization,
        ),
        _ => return Err(AuthError::NotAChallenge(code)),
    };
    let challenge = pick_challenge(response.headers.get_all(&challenge_header))
        .ok_or(AuthError::NoUsableChallenge(code))?;
    Ok(ParsedChallenge {
        answer_header,
        challenge: owned(challenge),
    })
}

fn owned(c: Challenge<'_>) -> Challenge<'static> {
    Challenge {
        realm: Cow::Owned(c.realm.into_owned()),
        nonce: Cow::Owned(c.nonce.into_owned()),
        opaque: c.opaque.map(|o| Cow::Owned(o.into_owned())),
        algorithm: c.algorithm,
        qop: c.qop,
        stale: c.stale,
    }
}

/// The credentials header answering the challenge in `response` (a 401 or
/// 407 to `request`), for `request` as it will be resent: its method and
/// Request-URI are what the digest covers. `cnonce` must be fresh for each
/// call (the caller draws it from its seeded randomness); the nonce count is
/// 1, since each challenge is answered once.
pub fn authorization_for(
    response: &Response,
    request: &Request,
    credentials: TrunkCredentials<'_>,
    cnonce: &str,
) -> Result<AuthHeader, AuthError> {
    let parsed = parse_response_challenge(response)?;
    let uri = request.uri.to_string();
    let value = authorization_value(
        &parsed.challenge,
        &ClientRequest {
            method: request.method.as_str(),
            uri: &uri,
            username: credentials.username,
            password: credentials.password,
            cnonce,
            nc: 1,
        },
    );
    Ok(AuthHeader {
        name: parsed.answer_header,
        value,
    })
}

/// The request to send after `response` challenged `request`: the same
/// request (same Call-ID, From tag, To, Request-URI, body) with CSeq + 1
/// (RFC 3261 §22.2), the credentials header set (replacing an earlier one of
/// the same kind), and **no Via**: the caller pushes a fresh Via with a new
/// branch (`headers.push_front(HeaderName::Via, local.via(&ep.new_branch()))`),
/// as for any new client transaction.
pub fn authorized_retry(
    request: &Request,
    response: &Response,
    credentials: TrunkCredentials<'_>,
    cnonce: &str,
) -> Result<Request, AuthError> {
    let cseq = request.headers.cseq().ok_or(AuthError::NoCSeq)?;
    let header = authorization_for(response, request, credentials, cnonce)?;
    let mut retry = request.clone();
    retry.headers.remove(&HeaderName::Via);
    let next = CSeq {
        seq: cseq.seq.saturating_add(1),
        method: cseq.method,
    };
    retry
        .headers
        .set(HeaderName::CSeq, format!("{} {}", next.seq, next.method));
    retry.headers.set(header.name, header.value);
    Ok(retry)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;
    use md5::{Digest, Md5};
    use sha2::Sha256;
    use sip_msg::{Headers, Method, Uri};

    fn md5_hex(s: &str) -> String {
        hex::encode(Md5::digest(s.as_bytes()))
    }
    fn sha256_hex(s: &str) -> String {
        hex::encode(Sha256::digest(s.as_bytes()))
    }

    fn invite() -> Request {
        let mut h = Headers::new();
        h.push(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKaaa;rport",
        );
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, "<sip:74952345678@sip.example>;tag=ft1");
        h.push(HeaderName::To, "<sip:89257410726@sip.example>");
        h.push(HeaderName::CallId, "call-1@vpbx");
        h.push(HeaderName::CSeq, "1 INVITE");
        h.push(HeaderName::Contact, "<sip:vpbx@192.0.2.1:5060>");
        h.push(HeaderName::ContentType, "application/sdp");
        Request {
            method: Method::Invite,
            uri: Uri::parse("sip:89257410726@sip.example").unwrap(),
            headers: h,
            body: Bytes::from_static(b"v=0\r\n"),
        }
    }

    fn challenge(status: StatusCode, header: HeaderName, value: &str) -> Response {
        let mut r = invite().make_response(status);
        r.set_to_tag("tt");
        r.headers.push(header, value);
        r
    }

    /// Pulls `name="value"` or `name=value` out of a Digest header value.
    fn param<'a>(value: &'a str, name: &str) -> &'a str {
        let start = value.find(&format!("{name}=")).unwrap() + name.len() + 1;
        let rest = &value[start..];
        if let Some(q) = rest.strip_prefix('"') {
            &q[..q.find('"').unwrap()]
        } else {
            rest.split(',').next().unwrap().trim()
        }
    }

    #[test]
    fn a_407_to_an_invite_is_answered_with_a_proxy_authorization_that_matches_an_independent_md5() {
        let resp = challenge(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            HeaderName::ProxyAuthenticate,
            r#"Digest realm="sip.example", nonce="abc123", qop="auth", algorithm=MD5, opaque="op1""#,
        );
        let creds = TrunkCredentials {
            username: "74952345678",
            password: "sdfsddf^$#$",
        };
        let h = authorization_for(&resp, &invite(), creds, "cn0001").unwrap();
        assert_eq!(h.name, HeaderName::ProxyAuthorization);
        let ha1 = md5_hex("74952345678:sip.example:sdfsddf^$#$");
        let ha2 = md5_hex("INVITE:sip:89257410726@sip.example");
        let expected = md5_hex(&format!("{ha1}:abc123:00000001:cn0001:auth:{ha2}"));
        assert_eq!(param(&h.value, "response"), expected);
        assert_eq!(param(&h.value, "uri"), "sip:89257410726@sip.example");
        assert_eq!(param(&h.value, "opaque"), "op1");
        assert_eq!(param(&h.value, "nc"), "00000001");
    }

    #[test]
    fn a_401_with_sha256_first_is_answered_with_sha256_per_rfc_8760() {
        let mut resp = challenge(
            StatusCode::UNAUTHORIZED,
            HeaderName::WwwAuthenticate,
            r#"Digest realm="r", nonce="n2", qop="auth", algorithm=SHA-256"#,
        );
        resp.headers.push(
            HeaderName::WwwAuthenticate,
            r#"Digest realm="r", nonce="n2", qop="auth", algorithm=MD5"#,
        );
        let creds = TrunkCredentials {
            username: "u",
            password: "p",
        };
        let h = authorization_for(&resp, &invite(), creds, "c").unwrap();
        assert_eq!(h.name, HeaderName::Authorization);
        let ha1 = sha256_hex("u:r:p");
        let ha2 = sha256_hex("INVITE:sip:89257410726@sip.example");
        let expected = sha256_hex(&format!("{ha1}:n2:00000001:c:auth:{ha2}"));
        assert_eq!(param(&h.value, "response"), expected);
        assert_eq!(param(&h.value, "algorithm"), "SHA-256");
    }

    #[test]
    fn an_rfc_2069_challenge_without_qop_gets_the_plain_digest() {
        let resp = challenge(
            StatusCode::UNAUTHORIZED,
            HeaderName::WwwAuthenticate,
            r#"Digest realm="r", nonce="n3""#,
        );
        let creds = TrunkCredentials {
            username: "u",
            password: "p",
        };
        let h = authorization_for(&resp, &invite(), creds, "c").unwrap();
        let ha1 = md5_hex("u:r:p");
        let ha2 = md5_hex("INVITE:sip:89257410726@sip.example");
        assert_eq!(
            param(&h.value, "response"),
            md5_hex(&format!("{ha1}:n3:{ha2}"))
        );
        assert!(!h.value.contains("cnonce"));
    }

    #[test]
    fn the_rfc_2617_section_3_5_vector_is_reproduced() {
        // RFC 2617 §3.5: Mufasa / "Circle Of Life", GET /dir/index.html.
        let parsed = sip_auth::parse_challenge(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        let v = authorization_value(
            &parsed,
            &ClientRequest {
                method: "GET",
                uri: "/dir/index.html",
                username: "Mufasa",
                password: "Circle Of Life",
                cnonce: "0a4f113b",
                nc: 1,
            },
        );
        assert_eq!(param(&v, "response"), "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn the_retried_invite_keeps_call_id_and_from_tag_bumps_cseq_and_drops_the_via() {
        let resp = challenge(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            HeaderName::ProxyAuthenticate,
            r#"Digest realm="sip.example", nonce="abc", qop="auth""#,
        );
        let creds = TrunkCredentials {
            username: "u",
            password: "p",
        };
        let orig = invite();
        let mut retry = authorized_retry(&orig, &resp, creds, "c1").unwrap();
        assert_eq!(retry.headers.call_id(), Some("call-1@vpbx"));
        assert_eq!(retry.headers.from_tag(), Some("ft1"));
        assert_eq!(retry.headers.to_tag(), None);
        let cseq = retry.headers.cseq().unwrap();
        assert_eq!((cseq.seq, cseq.method), (2, Method::Invite));
        assert!(retry.headers.get(&HeaderName::Via).is_none());
        assert!(retry.headers.get(&HeaderName::ProxyAuthorization).is_some());
        assert_eq!(retry.body, orig.body);
        // With a fresh Via it is a valid SIP request.
        retry.headers.push_front(
            HeaderName::Via,
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKbbb;rport",
        );
        let parsed = sip_msg::parse_datagram(&retry.to_bytes(), &Default::default()).unwrap();
        assert!(matches!(parsed, sip_msg::Message::Request(r) if r.method == Method::Invite));
    }

    #[test]
    fn a_challenge_with_only_an_unsupported_algorithm_is_an_error_not_a_panic() {
        let resp = challenge(
            StatusCode::UNAUTHORIZED,
            HeaderName::WwwAuthenticate,
            r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#,
        );
        let creds = TrunkCredentials {
            username: "u",
            password: "p",
        };
        assert_eq!(
            authorization_for(&resp, &invite(), creds, "c"),
            Err(AuthError::NoUsableChallenge(401))
        );
        let not = invite().make_response(StatusCode::BUSY_HERE);
        assert_eq!(
            authorization_for(&not, &invite(), creds, "c"),
            Err(AuthError::NotAChallenge(486))
        );
    }
}
