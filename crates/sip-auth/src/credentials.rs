//! `Authorization` / `Proxy-Authorization` values (RFC 3261 §22.4 and §25.1
//! `credentials`, RFC 2617 §3.2.2, RFC 7616 §3.4).

use std::borrow::Cow;
use std::fmt;

use crate::hash::{Algorithm, DigestBytes};
use crate::parse::{ParseError, Scanner, bounded, parse_algorithm, set_once};

/// The quality of protection. Only `auth` is supported: vpbx always offers
/// `qop="auth"`, and `auth-int` (body integrity) is refused at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `qop=auth`.
    Auth,
}

/// A nonce count (`nc=`, RFC 2617 §3.2.2): the value, and its 8 hex digits
/// exactly as the client sent them (they enter the request digest verbatim).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NonceCount {
    value: u32,
    text: [u8; 8],
}

impl NonceCount {
    /// A nonce count as a client writes it (`00000001` for 1).
    ///
    /// Counts start at 1; `new(0)` is representable but every server rejects it.
    pub fn new(value: u32) -> NonceCount {
        let mut text = [0u8; 8];
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, out) in text.iter_mut().enumerate() {
            let shift = 28 - 4 * i;
            *out = DIGITS[((value >> shift) & 0xf) as usize];
        }
        NonceCount { value, text }
    }

    /// Parses exactly 8 hex digits (either case), non-zero.
    pub fn parse(text: &str) -> Option<NonceCount> {
        let bytes: &[u8; 8] = text.as_bytes().try_into().ok()?;
        if !bytes.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let value = u32::from_str_radix(text, 16).ok()?;
        if value == 0 {
            return None;
        }
        Some(NonceCount {
            value,
            text: *bytes,
        })
    }

    /// The count.
    pub fn value(self) -> u32 {
        self.value
    }

    /// The 8 hex digits as sent.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text)
            .expect("NonceCount text is ASCII hex, checked at construction")
    }

    pub(crate) fn text(&self) -> &[u8; 8] {
        &self.text
    }
}

impl fmt::Debug for NonceCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NonceCount({})", self.as_str())
    }
}

/// The `response=` digest, decoded from hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ResponseDigest(pub(crate) DigestBytes);

impl ResponseDigest {
    /// The raw digest bytes (16 for MD5, 32 for SHA-256).
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for ResponseDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseDigest({:?})", self.0)
    }
}

/// Parsed Digest credentials. Strings borrow from the header value unless
/// they contained escapes.
#[derive(Debug, Clone)]
pub struct Credentials<'a> {
    /// `username` — the authentication user (not necessarily the AOR user).
    pub username: Cow<'a, str>,
    /// `realm` — must equal the realm the server challenged with.
    pub realm: Cow<'a, str>,
    /// `nonce` — from the server's challenge.
    pub nonce: Cow<'a, str>,
    /// `uri` — the digest-uri; the server should check it designates the
    /// Request-URI (a comparison that needs the SIP URI parser, so the caller
    /// does it).
    pub uri: Cow<'a, str>,
    /// `response` — the request digest.
    pub response: ResponseDigest,
    /// `algorithm` — MD5 when absent (RFC 2617 §3.2.1).
    pub algorithm: Algorithm,
    /// `cnonce` — required with `qop`.
    pub cnonce: Option<Cow<'a, str>>,
    /// `opaque` — echoed from the challenge.
    pub opaque: Option<Cow<'a, str>>,
    /// `qop` — `None` means RFC 2069 style credentials.
    pub qop: Option<Qop>,
    /// `nc` — required with `qop`.
    pub nc: Option<NonceCount>,
}

/// Parses an `Authorization` or `Proxy-Authorization` header value.
///
/// - The scheme must be `Digest` (any case); any other well-formed scheme
///   gives [`ParseError::UnsupportedScheme`] (RFC 4475 `regaut01`).
/// - `username`, `realm`, `nonce`, `uri`, `response` are required; with
///   `qop`, `cnonce` and `nc` are too.
/// - Values may be quoted strings or tokens (some phones send `qop="auth"`,
///   some `algorithm="MD5"`); names are case-insensitive.
/// - A known parameter twice is [`ParseError::DuplicateParam`]; unknown
///   parameters (`userhash`, vendor extensions) are ignored.
pub fn parse_credentials(value: &str) -> Result<Credentials<'_>, ParseError> {
    let (scheme, mut scanner) = Scanner::start(value)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(ParseError::UnsupportedScheme {
            scheme: bounded(scheme),
        });
    }

    let mut username = None;
    let mut realm = None;
    let mut nonce = None;
    let mut uri = None;
    let mut response_text: Option<Cow<'_, str>> = None;
    let mut algorithm = None;
    let mut cnonce = None;
    let mut opaque = None;
    let mut qop = None;
    let mut nc = None;
    let mut any = false;

    while let Some(p) = scanner.next_param()? {
        any = true;
        let n = p.name;
        if n.eq_ignore_ascii_case("username") {
            set_once(&mut username, p.value, "username")?;
        } else if n.eq_ignore_ascii_case("realm") {
            set_once(&mut realm, p.value, "realm")?;
        } else if n.eq_ignore_ascii_case("nonce") {
            set_once(&mut nonce, p.value, "nonce")?;
        } else if n.eq_ignore_ascii_case("uri") {
            set_once(&mut uri, p.value, "uri")?;
        } else if n.eq_ignore_ascii_case("response") {
            set_once(&mut response_text, p.value, "response")?;
        } else if n.eq_ignore_ascii_case("algorithm") {
            set_once(&mut algorithm, parse_algorithm(&p.value)?, "algorithm")?;
        } else if n.eq_ignore_ascii_case("cnonce") {
            set_once(&mut cnonce, p.value, "cnonce")?;
        } else if n.eq_ignore_ascii_case("opaque") {
            set_once(&mut opaque, p.value, "opaque")?;
        } else if n.eq_ignore_ascii_case("qop") {
            if !p.value.eq_ignore_ascii_case("auth") {
                return Err(ParseError::UnsupportedQop {
                    qop: bounded(&p.value),
                });
            }
            set_once(&mut qop, Qop::Auth, "qop")?;
        } else if n.eq_ignore_ascii_case("nc") {
            let count =
                NonceCount::parse(&p.value).ok_or(ParseError::InvalidParam { name: "nc" })?;
            set_once(&mut nc, count, "nc")?;
        }
    }
    if !any {
        return Err(ParseError::NoParams);
    }

    let algorithm = algorithm.unwrap_or(Algorithm::Md5);
    let username = username.ok_or(ParseError::MissingParam { name: "username" })?;
    let realm = realm.ok_or(ParseError::MissingParam { name: "realm" })?;
    let nonce = nonce.ok_or(ParseError::MissingParam { name: "nonce" })?;
    let uri = uri.ok_or(ParseError::MissingParam { name: "uri" })?;
    let response_text = response_text.ok_or(ParseError::MissingParam { name: "response" })?;
    let response = DigestBytes::from_hex(&response_text)
        .filter(|d| d.as_bytes().len() == algorithm.digest_len())
        .ok_or(ParseError::InvalidParam { name: "response" })?;
    if qop.is_some() {
        if cnonce.is_none() {
            return Err(ParseError::MissingParam { name: "cnonce" });
        }
        if nc.is_none() {
            return Err(ParseError::MissingParam { name: "nc" });
        }
    }

    Ok(Credentials {
        username,
        realm,
        nonce,
        uri,
        response: ResponseDigest(response),
        algorithm,
        cnonce,
        opaque,
        qop,
        nc,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The credentials of RFC 2617 §3.5.
    const RFC2617: &str = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn rfc_2617_example_credentials_parse_field_by_field() {
        let c = parse_credentials(RFC2617).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
        assert_eq!(c.uri, "/dir/index.html");
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc.unwrap().value(), 1);
        assert_eq!(c.nc.unwrap().as_str(), "00000001");
        assert_eq!(c.cnonce.as_deref(), Some("0a4f113b"));
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(
            format!("{:?}", c.response),
            "ResponseDigest(6629fae49393a05397450978507c4ef1)"
        );
    }

    #[test]
    fn names_are_case_insensitive_and_values_may_be_tokens_or_quoted() {
        let c = parse_credentials(
            r#"dIgEsT USERNAME=alice,Realm="a.example",NONCE=abc,Uri="sip:a.example",RESPONSE=6629FAE49393A05397450978507C4EF1,Algorithm="md5",QOP="auth",NC=0000000A,CNonce=xyz"#,
        )
        .unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.nc.unwrap().value(), 10);
        assert_eq!(
            c.nc.unwrap().as_str(),
            "0000000A",
            "nc text is kept verbatim for the digest"
        );
        assert_eq!(c.algorithm, Algorithm::Md5);
    }

    #[test]
    fn escaped_quotes_in_username_are_unescaped() {
        let c = parse_credentials(
            r#"Digest username="a\"b\\c", realm="r", nonce="n", uri="sip:r", response="6629fae49393a05397450978507c4ef1""#,
        )
        .unwrap();
        assert_eq!(c.username, r#"a"b\c"#);
        assert!(matches!(c.realm, Cow::Borrowed(_)));
    }

    #[test]
    fn non_digest_scheme_is_reported_as_unsupported_for_a_fresh_challenge() {
        // RFC 4475 §3.3.7 (regaut01).
        let e = parse_credentials("NoOneKnowsThisScheme opaque-data=here").unwrap_err();
        assert_eq!(
            e,
            ParseError::UnsupportedScheme {
                scheme: "NoOneKnowsThisScheme".into()
            }
        );
        assert!(e.is_unsupported_scheme());
        assert_eq!(e.status_code(), 401);
        // Basic uses token68, which is not auth-param syntax: still just "another scheme".
        assert!(
            parse_credentials("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
                .unwrap_err()
                .is_unsupported_scheme()
        );
    }

    #[test]
    fn duplicate_known_params_are_rejected_but_unknown_ones_ignored() {
        let e = parse_credentials(
            r#"Digest username="a", username="b", realm="r", nonce="n", uri="u", response="6629fae49393a05397450978507c4ef1""#,
        )
        .unwrap_err();
        assert_eq!(e, ParseError::DuplicateParam { name: "username" });
        assert_eq!(e.status_code(), 400);
        let c = parse_credentials(
            r#"Digest x-vendor=1, username="a", x-vendor="2", realm="r", nonce="n", uri="u", userhash=false, response="6629fae49393a05397450978507c4ef1""#,
        )
        .unwrap();
        assert_eq!(c.username, "a");
    }

    #[test]
    fn missing_required_params_are_named() {
        let base = r#"Digest username="a", realm="r", nonce="n", uri="u", response="6629fae49393a05397450978507c4ef1""#;
        for name in ["username", "realm", "nonce", "uri", "response"] {
            let without: Vec<&str> = base
                .trim_start_matches("Digest ")
                .split(", ")
                .filter(|p| !p.starts_with(&format!("{name}=")))
                .collect();
            let text = format!("Digest {}", without.join(", "));
            assert_eq!(
                parse_credentials(&text).unwrap_err(),
                ParseError::MissingParam { name },
                "{text}"
            );
        }
        assert_eq!(
            parse_credentials(&format!("{base}, qop=auth, nc=00000001")).unwrap_err(),
            ParseError::MissingParam { name: "cnonce" }
        );
        assert_eq!(
            parse_credentials(&format!("{base}, qop=auth, cnonce=\"c\"")).unwrap_err(),
            ParseError::MissingParam { name: "nc" }
        );
        assert_eq!(
            parse_credentials("Digest").unwrap_err(),
            ParseError::NoParams
        );
        assert_eq!(
            parse_credentials("Digest  ,  ").unwrap_err(),
            ParseError::NoParams
        );
    }

    #[test]
    fn bad_nc_response_algorithm_and_qop_values_are_precise_errors() {
        let base = r#"Digest username="a", realm="r", nonce="n", uri="u""#;
        let md5 = r#"response="6629fae49393a05397450978507c4ef1""#;
        let cases = [
            (
                format!("{base}, {md5}, qop=auth, cnonce=c, nc=1"),
                ParseError::InvalidParam { name: "nc" },
            ),
            (
                format!("{base}, {md5}, qop=auth, cnonce=c, nc=00000000"),
                ParseError::InvalidParam { name: "nc" },
            ),
            (
                format!("{base}, {md5}, qop=auth, cnonce=c, nc=0000000g"),
                ParseError::InvalidParam { name: "nc" },
            ),
            (
                format!("{base}, {md5}, qop=auth, cnonce=c, nc=000000001"),
                ParseError::InvalidParam { name: "nc" },
            ),
            (
                format!("{base}, response=\"xyz\""),
                ParseError::InvalidParam { name: "response" },
            ),
            (
                format!("{base}, {md5}, algorithm=SHA-256"),
                ParseError::InvalidParam { name: "response" },
            ),
            (
                format!("{base}, {md5}, algorithm=MD5-sess"),
                ParseError::UnsupportedAlgorithm {
                    algorithm: "MD5-sess".into(),
                },
            ),
            (
                format!("{base}, {md5}, qop=auth-int"),
                ParseError::UnsupportedQop {
                    qop: "auth-int".into(),
                },
            ),
            (
                format!("{base}, {md5}, algorithm=MD5, algorithm=MD5"),
                ParseError::DuplicateParam { name: "algorithm" },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_credentials(&text).unwrap_err(), want, "{text}");
        }
        assert_eq!(
            ParseError::UnsupportedAlgorithm {
                algorithm: "x".into()
            }
            .status_code(),
            401
        );
    }

    #[test]
    fn sha256_credentials_need_a_64_digit_response() {
        let text = format!(
            r#"Digest username="a", realm="r", nonce="n", uri="u", algorithm=SHA-256, response="{}""#,
            "ab".repeat(32)
        );
        let c = parse_credentials(&text).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.response.as_bytes(), &[0xab; 32]);
    }

    #[test]
    fn nonce_count_formats_as_eight_lowercase_hex_digits() {
        assert_eq!(NonceCount::new(1).as_str(), "00000001");
        assert_eq!(NonceCount::new(0xdead_beef).as_str(), "deadbeef");
        assert_eq!(NonceCount::parse("deadbeef").unwrap().value(), 0xdead_beef);
        assert!(NonceCount::parse("+0000001").is_none());
    }
}
