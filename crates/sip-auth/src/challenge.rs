//! `WWW-Authenticate` / `Proxy-Authenticate` values (RFC 3261 §22.4,
//! RFC 2617 §3.2.1, RFC 7616 §3.3, RFC 8760 §2.4): built by the server,
//! parsed by the client.

use std::borrow::Cow;

use crate::credentials::Qop;
use crate::hash::Algorithm;
use crate::parse::{ParseError, Scanner, bounded, parse_algorithm, push_quoted, set_once};

/// What a server puts in a challenge. The same nonce may be used for the
/// MD5 and the SHA-256 challenge of one response.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeParams<'a> {
    /// The realm (vpbx: the tenant's domain).
    pub realm: &'a str,
    /// A nonce from [`crate::NonceKey::issue`].
    pub nonce: &'a str,
    /// Optional opaque string the client must echo.
    pub opaque: Option<&'a str>,
    /// `stale=true`: the previous nonce was good but expired; the client
    /// retries with the new nonce without asking the user (RFC 2617 §3.2.1).
    pub stale: bool,
}

impl ChallengeParams<'_> {
    /// `Digest realm="…", nonce="…"[, opaque="…"], algorithm=…, qop="auth"[, stale=true]`.
    ///
    /// vpbx always offers `qop="auth"`: RFC 2069 responses carry no nonce
    /// count, so replay protection would be impossible (and svcrack, the
    /// scanner the ban logic is tested against, only works with qop).
    pub fn header_value(&self, algorithm: Algorithm) -> String {
        let mut out = String::with_capacity(
            96 + self.realm.len() + self.nonce.len() + self.opaque.map_or(0, str::len),
        );
        self.write_header_value(algorithm, &mut out);
        out
    }

    /// [`Self::header_value`] appended to `out`.
    pub fn write_header_value(&self, algorithm: Algorithm, out: &mut String) {
        out.push_str("Digest realm=");
        push_quoted(out, self.realm);
        out.push_str(", nonce=");
        push_quoted(out, self.nonce);
        if let Some(opaque) = self.opaque {
            out.push_str(", opaque=");
            push_quoted(out, opaque);
        }
        out.push_str(", algorithm=");
        out.push_str(algorithm.as_str());
        out.push_str(", qop=\"auth\"");
        if self.stale {
            out.push_str(", stale=true");
        }
    }

    /// One header value per algorithm, strongest first (RFC 8760 §2.4: a
    /// client uses the first one it supports), duplicates dropped. Each value
    /// goes into its own `WWW-Authenticate`/`Proxy-Authenticate` header.
    ///
    /// Offer SHA-256 only to tenants/users that opted in: baresip 1.0,
    /// SIPp 3.6, sipsak and svcrack fail outright when any SHA-256 challenge
    /// is present, even next to an MD5 one.
    pub fn header_values(&self, algorithms: &[Algorithm]) -> Vec<String> {
        let mut sorted: Vec<Algorithm> = Vec::with_capacity(algorithms.len());
        for &a in algorithms {
            if !sorted.contains(&a) {
                sorted.push(a);
            }
        }
        sorted.sort_by_key(|a| std::cmp::Reverse(a.strength()));
        sorted.into_iter().map(|a| self.header_value(a)).collect()
    }
}

/// A parsed Digest challenge, as a client sees it.
#[derive(Debug, Clone)]
pub struct Challenge<'a> {
    /// `realm`.
    pub realm: Cow<'a, str>,
    /// `nonce`.
    pub nonce: Cow<'a, str>,
    /// `opaque`, to be echoed.
    pub opaque: Option<Cow<'a, str>>,
    /// `algorithm` — MD5 when absent.
    pub algorithm: Algorithm,
    /// `Some(Qop::Auth)` when the server offered `auth` in its qop list;
    /// `None` when the challenge has no qop (RFC 2069 — old trunks).
    pub qop: Option<Qop>,
    /// `stale=true`.
    pub stale: bool,
}

/// Parses a `WWW-Authenticate` or `Proxy-Authenticate` header value.
///
/// `realm` and `nonce` are required. A qop list without `auth` (only
/// `auth-int`) is [`ParseError::UnsupportedQop`]; an algorithm other than MD5
/// or SHA-256 is [`ParseError::UnsupportedAlgorithm`] — a client facing
/// several challenges should skip those (see [`pick_challenge`]).
pub fn parse_challenge(value: &str) -> Result<Challenge<'_>, ParseError> {
    let (scheme, mut scanner) = Scanner::start(value)?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(ParseError::UnsupportedScheme {
            scheme: bounded(scheme),
        });
    }
    let mut realm = None;
    let mut nonce = None;
    let mut opaque = None;
    let mut algorithm = None;
    let mut qop_list: Option<Cow<'_, str>> = None;
    let mut stale = None;
    let mut any = false;
    while let Some(p) = scanner.next_param()? {
        any = true;
        let n = p.name;
        if n.eq_ignore_ascii_case("realm") {
            set_once(&mut realm, p.value, "realm")?;
        } else if n.eq_ignore_ascii_case("nonce") {
            set_once(&mut nonce, p.value, "nonce")?;
        } else if n.eq_ignore_ascii_case("opaque") {
            set_once(&mut opaque, p.value, "opaque")?;
        } else if n.eq_ignore_ascii_case("algorithm") {
            set_once(&mut algorithm, parse_algorithm(&p.value)?, "algorithm")?;
        } else if n.eq_ignore_ascii_case("qop") {
            set_once(&mut qop_list, p.value, "qop")?;
        } else if n.eq_ignore_ascii_case("stale") {
            let s = if p.value.eq_ignore_ascii_case("true") {
                true
            } else if p.value.eq_ignore_ascii_case("false") {
                false
            } else {
                return Err(ParseError::InvalidParam { name: "stale" });
            };
            set_once(&mut stale, s, "stale")?;
        }
    }
    if !any {
        return Err(ParseError::NoParams);
    }
    let qop = match qop_list {
        None => None,
        Some(list) => {
            if list
                .split(',')
                .any(|q| q.trim().eq_ignore_ascii_case("auth"))
            {
                Some(Qop::Auth)
            } else {
                return Err(ParseError::UnsupportedQop {
                    qop: bounded(&list),
                });
            }
        }
    };
    Ok(Challenge {
        realm: realm.ok_or(ParseError::MissingParam { name: "realm" })?,
        nonce: nonce.ok_or(ParseError::MissingParam { name: "nonce" })?,
        opaque,
        algorithm: algorithm.unwrap_or(Algorithm::Md5),
        qop,
        stale: stale.unwrap_or(false),
    })
}

/// The first challenge among `values` (in header order) that parses and
/// that this crate supports — RFC 7616 §3.7: servers list their preferred
/// challenge first. Non-Digest and unsupported challenges are skipped.
pub fn pick_challenge<'a, I>(values: I) -> Option<Challenge<'a>>
where
    I: IntoIterator<Item = &'a str>,
{
    values.into_iter().find_map(|v| parse_challenge(v).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn params() -> ChallengeParams<'static> {
        ChallengeParams {
            realm: "a.example",
            nonce: "NONCE",
            opaque: None,
            stale: false,
        }
    }

    #[test]
    fn challenge_value_has_the_documented_shape() {
        assert_eq!(
            params().header_value(Algorithm::Md5),
            r#"Digest realm="a.example", nonce="NONCE", algorithm=MD5, qop="auth""#
        );
        let p = ChallengeParams {
            opaque: Some("op"),
            stale: true,
            ..params()
        };
        assert_eq!(
            p.header_value(Algorithm::Sha256),
            r#"Digest realm="a.example", nonce="NONCE", opaque="op", algorithm=SHA-256, qop="auth", stale=true"#
        );
    }

    #[test]
    fn both_algorithms_give_two_values_strongest_first_whatever_the_input_order() {
        let v = params().header_values(&[Algorithm::Md5, Algorithm::Sha256, Algorithm::Md5]);
        assert_eq!(v.len(), 2);
        assert!(v[0].contains("algorithm=SHA-256"), "{}", v[0]);
        assert!(v[1].contains("algorithm=MD5"), "{}", v[1]);
        assert_eq!(params().header_values(&[Algorithm::Md5]).len(), 1);
        assert!(params().header_values(&[]).is_empty());
    }

    #[test]
    fn built_challenges_parse_back_to_the_same_fields() {
        let p = ChallengeParams {
            realm: r#"we"ird\realm"#,
            nonce: "n0",
            opaque: Some("o,p"),
            stale: true,
        };
        for alg in Algorithm::STRONGEST_FIRST {
            let text = p.header_value(alg);
            let c = parse_challenge(&text).unwrap();
            assert_eq!(c.realm, p.realm);
            assert_eq!(c.nonce, "n0");
            assert_eq!(c.opaque.as_deref(), Some("o,p"));
            assert_eq!(c.algorithm, alg);
            assert_eq!(c.qop, Some(Qop::Auth));
            assert!(c.stale);
        }
    }

    #[test]
    fn rfc_2617_and_asterisk_style_challenges_parse() {
        let c = parse_challenge(
            r#"Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert!(!c.stale);
        let c = parse_challenge(
            r#"Digest realm="asterisk",nonce="1700000000/abc",opaque="x",algorithm=md5,qop="auth""#,
        )
        .unwrap();
        assert_eq!(c.nonce, "1700000000/abc");
        let c = parse_challenge(r#"Digest realm="old", nonce="n", stale=FALSE"#).unwrap();
        assert_eq!(c.qop, None, "no qop directive means RFC 2069 style");
    }

    #[test]
    fn challenges_we_cannot_answer_are_errors_and_skipped_by_pick() {
        assert_eq!(
            parse_challenge(r#"Digest realm="r", nonce="n", qop="auth-int""#).unwrap_err(),
            ParseError::UnsupportedQop {
                qop: "auth-int".into()
            }
        );
        assert_eq!(
            parse_challenge(r#"Digest realm="r", nonce="n", algorithm=SHA-512-256"#).unwrap_err(),
            ParseError::UnsupportedAlgorithm {
                algorithm: "SHA-512-256".into()
            }
        );
        assert_eq!(
            parse_challenge(r#"Digest nonce="n""#).unwrap_err(),
            ParseError::MissingParam { name: "realm" }
        );
        assert_eq!(
            parse_challenge(r#"Digest realm="r", nonce="n", stale=maybe"#).unwrap_err(),
            ParseError::InvalidParam { name: "stale" }
        );
        let picked = pick_challenge([
            r#"Basic realm="r""#,
            r#"Digest realm="r", nonce="n1", algorithm=SHA-512-256, qop="auth""#,
            r#"Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth""#,
            r#"Digest realm="r", nonce="n3", algorithm=MD5, qop="auth""#,
        ])
        .unwrap();
        assert_eq!(picked.nonce, "n2");
        assert!(pick_challenge([r#"Basic realm="r""#]).is_none());
    }
}
