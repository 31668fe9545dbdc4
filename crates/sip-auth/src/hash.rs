//! Digest algorithms, HA1 and the request-digest computation (RFC 2617 §3.2.2,
//! RFC 7616 §3.4.1, RFC 8760).
//!
//! Everything here hashes into fixed stack buffers: computing or verifying a
//! response allocates nothing.

use std::fmt;

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The digest algorithms vpbx speaks.
///
/// Only `MD5` and `SHA-256` are supported. The `-sess` variants (RFC 7616
/// §3.4.2) and `SHA-512-256` are refused at parse time: no SIP phone in
/// PEERS.md uses them, and `-sess` needs per-session state that buys nothing
/// for REGISTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` — RFC 2617; what every SIP phone speaks and the default.
    Md5,
    /// `SHA-256` — RFC 7616 / RFC 8760; opt-in per tenant or user because
    /// baresip, SIPp and sipsak fail outright when they see it offered.
    Sha256,
}

impl Algorithm {
    /// Every supported algorithm, strongest first (the order RFC 8760 §2.4
    /// asks a server to list its challenges in).
    pub const STRONGEST_FIRST: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Md5];

    /// The token as written in `algorithm=` (`MD5`, `SHA-256`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm=` token, ASCII case-insensitively.
    pub fn from_token(token: &str) -> Option<Algorithm> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// Length of the raw digest in bytes (16 or 32).
    pub const fn digest_len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha256 => 32,
        }
    }

    /// Length of the lowercase-hex digest (32 or 64 characters).
    pub const fn hex_len(self) -> usize {
        self.digest_len() * 2
    }

    /// Higher is stronger; used to sort challenges.
    pub(crate) const fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 => 1,
            Algorithm::Sha256 => 2,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A raw digest (16 bytes for MD5, 32 for SHA-256) on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DigestBytes {
    bytes: [u8; 32],
    len: u8,
}

impl DigestBytes {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Decodes `len` hex digits (either case) into raw bytes.
    pub(crate) fn from_hex(hex: &str) -> Option<DigestBytes> {
        let hex = hex.as_bytes();
        if hex.len() != 32 && hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (out, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            *out = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Some(DigestBytes {
            bytes,
            len: u8::try_from(hex.len() / 2).expect("hex length is 32 or 64"),
        })
    }

    /// Lowercase hex into a stack buffer.
    pub(crate) fn to_hex(self) -> HexBuf {
        let mut buf = [0u8; 64];
        let len = usize::from(self.len) * 2;
        hex_encode(self.as_bytes(), &mut buf[..len]);
        HexBuf {
            buf,
            len: u8::try_from(len).expect("digest is at most 32 bytes"),
        }
    }
}

impl fmt::Debug for DigestBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.to_hex().as_str())
    }
}

/// Lowercase hex of a digest on the stack.
#[derive(Clone, Copy)]
pub(crate) struct HexBuf {
    buf: [u8; 64],
    len: u8,
}

impl HexBuf {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("hex_encode writes only ASCII hex digits")
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex_encode(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// An incremental hash over `part:part:part…` without building the string.
enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Md5 => Hasher::Md5(Md5::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    fn finish(self) -> DigestBytes {
        let mut bytes = [0u8; 32];
        let len = match self {
            Hasher::Md5(h) => {
                bytes[..16].copy_from_slice(&h.finalize());
                16
            }
            Hasher::Sha256(h) => {
                bytes.copy_from_slice(&h.finalize());
                32
            }
        };
        DigestBytes { bytes, len }
    }
}

/// `H(p0 ":" p1 ":" … )`.
fn hash_joined(algorithm: Algorithm, parts: &[&[u8]]) -> DigestBytes {
    let mut h = Hasher::new(algorithm);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(part);
    }
    h.finish()
}

/// `HA1 = H(username ":" realm ":" password)` in lowercase hex, tagged with
/// its algorithm (RFC 2617 §3.2.2.2, RFC 7616 §3.4.2).
///
/// HA1 is a password equivalent *for its realm*: the server should cache or
/// store HA1 per user, per realm, per algorithm rather than the plaintext on
/// the hot path. `Debug` never prints it.
#[derive(Clone)]
pub struct Ha1 {
    algorithm: Algorithm,
    hex: HexBuf,
}

impl Ha1 {
    /// Computes HA1 from the plaintext password.
    pub fn from_password(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> Ha1 {
        let digest = hash_joined(
            algorithm,
            &[username.as_bytes(), realm.as_bytes(), password.as_bytes()],
        );
        Ha1 {
            algorithm,
            hex: digest.to_hex(),
        }
    }

    /// Loads a stored HA1 (hex, either case; normalised to lowercase).
    pub fn from_hex(algorithm: Algorithm, hex: &str) -> Result<Ha1, Ha1Error> {
        let digest = DigestBytes::from_hex(hex).ok_or(Ha1Error::NotHex)?;
        if digest.as_bytes().len() != algorithm.digest_len() {
            return Err(Ha1Error::WrongLength {
                algorithm,
                expected: algorithm.hex_len(),
                found: hex.len(),
            });
        }
        Ok(Ha1 {
            algorithm,
            hex: digest.to_hex(),
        })
    }

    /// The algorithm this HA1 was computed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Lowercase hex, for storing.
    pub fn as_hex(&self) -> &str {
        self.hex.as_str()
    }

    /// A fixed HA1 used to spend the same work on an unknown user as on a
    /// known one.
    pub(crate) fn dummy(algorithm: Algorithm) -> Ha1 {
        let digest = DigestBytes {
            bytes: [0u8; 32],
            len: u8::try_from(algorithm.digest_len()).expect("digest is at most 32 bytes"),
        };
        Ha1 {
            algorithm,
            hex: digest.to_hex(),
        }
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ha1")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Why a stored HA1 could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ha1Error {
    /// The text is not 32 or 64 hex digits.
    #[error("HA1 is not 32 or 64 hex digits")]
    NotHex,
    /// The hex length does not match the algorithm.
    #[error("HA1 for {algorithm} must be {expected} hex digits, found {found}")]
    WrongLength {
        /// The algorithm asked for.
        algorithm: Algorithm,
        /// The hex length that algorithm needs.
        expected: usize,
        /// The hex length given.
        found: usize,
    },
}

/// The `qop=auth` part of a request digest: nonce count (as its 8 hex
/// digits, exactly as sent) and client nonce.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QopAuth<'a> {
    pub(crate) nc: &'a [u8; 8],
    pub(crate) cnonce: &'a str,
}

/// The request digest (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1):
/// with `qop=auth`: `H(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" HA2)`;
/// without qop (RFC 2069): `H(HA1 ":" nonce ":" HA2)`,
/// where `HA2 = H(method ":" digest-uri)`.
pub(crate) fn request_digest(
    ha1: &Ha1,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> DigestBytes {
    let algorithm = ha1.algorithm;
    let ha2 = hash_joined(algorithm, &[method.as_bytes(), uri.as_bytes()]).to_hex();
    match qop {
        Some(q) => hash_joined(
            algorithm,
            &[
                ha1.hex.as_bytes(),
                nonce.as_bytes(),
                q.nc,
                q.cnonce.as_bytes(),
                b"auth",
                ha2.as_bytes(),
            ],
        ),
        None => hash_joined(
            algorithm,
            &[ha1.hex.as_bytes(), nonce.as_bytes(), ha2.as_bytes()],
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ha1_matches_rfc_2617_section_3_5() {
        // HA1 of the RFC 2617 §3.5 example, computed independently with
        // `printf 'Mufasa:testrealm@host.com:Circle Of Life' | md5sum`.
        let ha1 = Ha1::from_password(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(ha1.as_hex(), "939e7578ed9e3c518a452acee763bce9");
    }

    #[test]
    fn ha1_from_hex_normalises_case_and_checks_length() {
        let ha1 = Ha1::from_hex(Algorithm::Md5, "939E7578ED9E3C518A452ACEE763BCE9").unwrap();
        assert_eq!(ha1.as_hex(), "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(
            Ha1::from_hex(Algorithm::Sha256, "939e7578ed9e3c518a452acee763bce9").unwrap_err(),
            Ha1Error::WrongLength {
                algorithm: Algorithm::Sha256,
                expected: 64,
                found: 32
            }
        );
        assert_eq!(
            Ha1::from_hex(Algorithm::Md5, "xyz").unwrap_err(),
            Ha1Error::NotHex
        );
        assert_eq!(
            Ha1::from_hex(Algorithm::Md5, "939e7578ed9e3c518a452acee763bcgg").unwrap_err(),
            Ha1Error::NotHex
        );
    }

    #[test]
    fn ha1_debug_output_does_not_leak_the_hash() {
        let ha1 = Ha1::from_password(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let shown = format!("{ha1:?}");
        assert!(!shown.contains("939e"), "{shown}");
        assert!(shown.contains("Md5"), "{shown}");
    }

    #[test]
    fn algorithm_tokens_parse_case_insensitively_and_reject_sess_variants() {
        assert_eq!(Algorithm::from_token("md5"), Some(Algorithm::Md5));
        assert_eq!(Algorithm::from_token("sha-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::from_token("MD5-sess"), None);
        assert_eq!(Algorithm::from_token("SHA-256-sess"), None);
        assert_eq!(Algorithm::from_token("SHA-512-256"), None);
    }
}
