//! Stateless HMAC nonces.
//!
//! A nonce is `base64url(issued_at ‖ salt ‖ tag)` (43 characters), where
//! `issued_at` is unix seconds (8 bytes, big-endian), `salt` 8 bytes from the
//! caller, and `tag` the first 16 bytes of
//! `HMAC-SHA-256(key, "vpbx-nonce-v1" ‖ issued_at ‖ salt ‖ len(realm) ‖ realm ‖ source-ip)`.
//!
//! The server keeps no per-nonce state to *issue* or *validate* a nonce: the
//! tag proves it issued the nonce to this realm and source address, the
//! timestamp says how old it is. Only nonce-count tracking needs state, and
//! that lives in the bounded [`crate::ReplayGuard`].
//!
//! The key is 32 bytes chosen by the caller. A server that generates it at
//! start invalidates every outstanding nonce on restart (phones see one extra
//! 401 with a fresh nonce — harmless); persist the key and load it with
//! [`NonceKey::from_bytes`] to avoid that.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Default nonce lifetime in seconds.
pub const DEFAULT_NONCE_EXPIRY_SECS: u64 = 300;

const DOMAIN: &[u8] = b"vpbx-nonce-v1";
const TAG_LEN: usize = 16;
const RAW_LEN: usize = 8 + 8 + TAG_LEN;
/// Length of an encoded nonce: base64 of 32 bytes without padding.
const ENCODED_LEN: usize = 43;

/// The secret nonces are authenticated with. `Debug` never prints it.
#[derive(Clone)]
pub struct NonceKey {
    key: [u8; 32],
}

/// The outcome of checking a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by us, to this realm and source, not yet expired.
    Valid(ValidNonce),
    /// Issued by us to this realm and source, but older than the expiry:
    /// challenge again with `stale=true`.
    Stale,
    /// Not ours, tampered with, or issued for another realm or source:
    /// challenge again (without `stale`).
    Invalid,
}

/// A nonce that passed its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidNonce {
    /// When it was issued (unix seconds).
    pub issued_at: u64,
    /// Its identity for the [`crate::ReplayGuard`].
    pub id: NonceId,
}

/// A nonce's identity: 64 bits of its HMAC tag, so unforgeable and uniformly
/// distributed. Only a validated nonce yields one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceId(pub(crate) u64);

impl NonceKey {
    /// Wraps a 32-byte secret (generate it with a CSPRNG; persist it if
    /// nonces should survive a restart).
    pub fn from_bytes(key: [u8; 32]) -> NonceKey {
        NonceKey { key }
    }

    fn tag(&self, issued_at: u64, salt: &[u8; 8], realm: &str, source: IpAddr) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(DOMAIN);
        mac.update(&issued_at.to_be_bytes());
        mac.update(salt);
        // Length prefix keeps (realm, address) pairs unambiguous.
        mac.update(&u64::try_from(realm.len()).unwrap_or(u64::MAX).to_be_bytes());
        mac.update(realm.as_bytes());
        match source.to_canonical() {
            IpAddr::V4(v4) => {
                mac.update(&[4]);
                mac.update(&v4.octets());
            }
            IpAddr::V6(v6) => {
                mac.update(&[6]);
                mac.update(&v6.octets());
            }
        }
        mac
    }

    /// Issues a nonce for `realm` to a request from `source` at `now` (unix
    /// seconds).
    ///
    /// `salt` must differ between nonces issued in the same second to the same
    /// realm and source (phones behind one NAT!): otherwise they share a nonce
    /// and their nonce counts collide in the replay guard. A counter or 8
    /// random bytes both do; it need not be secret.
    pub fn issue(&self, realm: &str, source: IpAddr, now: u64, salt: [u8; 8]) -> String {
        let tag = self.tag(now, &salt, realm, source).finalize().into_bytes();
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&now.to_be_bytes());
        raw[8..16].copy_from_slice(&salt);
        raw[16..].copy_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a nonce from credentials against the realm and source of the
    /// request carrying them.
    ///
    /// Valid while `now <= issued_at + expiry_secs`; `Stale` from one second
    /// later. A nonce from the future (clock stepped back) counts as age 0.
    /// The tag is compared in constant time.
    pub fn check(
        &self,
        nonce: &str,
        realm: &str,
        source: IpAddr,
        now: u64,
        expiry_secs: u64,
    ) -> NonceCheck {
        if nonce.len() != ENCODED_LEN {
            return NonceCheck::Invalid;
        }
        let mut raw = [0u8; RAW_LEN];
        match URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return NonceCheck::Invalid,
        }
        let issued_at = u64::from_be_bytes(raw[..8].try_into().expect("slice of 8 bytes"));
        let salt: [u8; 8] = raw[8..16].try_into().expect("slice of 8 bytes");
        let tag = &raw[16..];
        if self
            .tag(issued_at, &salt, realm, source)
            .verify_truncated_left(tag)
            .is_err()
        {
            return NonceCheck::Invalid;
        }
        if now.saturating_sub(issued_at) > expiry_secs {
            return NonceCheck::Stale;
        }
        NonceCheck::Valid(ValidNonce {
            issued_at,
            id: NonceId(u64::from_be_bytes(
                tag[..8].try_into().expect("slice of 8 bytes"),
            )),
        })
    }
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const T0: u64 = 1_700_000_000;

    fn key() -> NonceKey {
        NonceKey::from_bytes([7; 32])
    }

    fn src() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))
    }

    #[test]
    fn a_fresh_nonce_is_valid_and_reports_its_issue_time() {
        let n = key().issue("a.example", src(), T0, [1; 8]);
        assert_eq!(n.len(), ENCODED_LEN);
        match key().check(&n, "a.example", src(), T0 + 10, 300) {
            NonceCheck::Valid(v) => assert_eq!(v.issued_at, T0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nonce_is_valid_at_exactly_expiry_and_stale_one_second_later() {
        let n = key().issue("a.example", src(), T0, [1; 8]);
        assert!(matches!(
            key().check(&n, "a.example", src(), T0 + 300, 300),
            NonceCheck::Valid(_)
        ));
        assert_eq!(
            key().check(&n, "a.example", src(), T0 + 301, 300),
            NonceCheck::Stale
        );
        assert_eq!(
            key().check(&n, "a.example", src(), T0 + 61, 60),
            NonceCheck::Stale,
            "expiry is the caller's setting"
        );
    }

    #[test]
    fn a_nonce_from_the_future_counts_as_fresh() {
        let n = key().issue("a.example", src(), T0 + 50, [1; 8]);
        assert!(matches!(
            key().check(&n, "a.example", src(), T0, 300),
            NonceCheck::Valid(_)
        ));
    }

    #[test]
    fn a_tampered_nonce_is_invalid_wherever_the_change_is() {
        let n = key().issue("a.example", src(), T0, [1; 8]);
        for i in 0..n.len() {
            let mut bytes = n.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(bytes).unwrap();
            if t == n {
                continue;
            }
            // Flipping the last character may change only unused low bits in
            // base64; the decoder rejects non-canonical trailing bits.
            assert_eq!(
                key().check(&t, "a.example", src(), T0, 300),
                NonceCheck::Invalid,
                "position {i}"
            );
        }
        assert_eq!(
            key().check("", "a.example", src(), T0, 300),
            NonceCheck::Invalid
        );
        assert_eq!(
            key().check(&format!("{n}A"), "a.example", src(), T0, 300),
            NonceCheck::Invalid
        );
        assert_eq!(
            key().check(&"!".repeat(43), "a.example", src(), T0, 300),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn a_nonce_is_bound_to_its_realm_source_and_key() {
        let n = key().issue("a.example", src(), T0, [1; 8]);
        assert_eq!(
            key().check(&n, "b.example", src(), T0, 300),
            NonceCheck::Invalid
        );
        assert_eq!(
            key().check(
                &n,
                "a.example",
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11)),
                T0,
                300
            ),
            NonceCheck::Invalid
        );
        assert_eq!(
            NonceKey::from_bytes([8; 32]).check(&n, "a.example", src(), T0, 300),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn an_ipv4_mapped_ipv6_source_is_the_same_source() {
        let n = key().issue("a.example", src(), T0, [1; 8]);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 10).to_ipv6_mapped());
        assert!(matches!(
            key().check(&n, "a.example", mapped, T0, 300),
            NonceCheck::Valid(_)
        ));
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let n6 = key().issue("a.example", v6, T0, [1; 8]);
        assert!(matches!(
            key().check(&n6, "a.example", v6, T0, 300),
            NonceCheck::Valid(_)
        ));
        assert_eq!(
            key().check(&n6, "a.example", src(), T0, 300),
            NonceCheck::Invalid
        );
    }

    #[test]
    fn different_salts_give_different_nonces_and_ids_in_the_same_second() {
        let a = key().issue("a.example", src(), T0, [1; 8]);
        let b = key().issue("a.example", src(), T0, [2; 8]);
        assert_ne!(a, b);
        let (NonceCheck::Valid(va), NonceCheck::Valid(vb)) = (
            key().check(&a, "a.example", src(), T0, 300),
            key().check(&b, "a.example", src(), T0, 300),
        ) else {
            panic!("both nonces should be valid");
        };
        assert_ne!(va.id, vb.id);
    }

    #[test]
    fn key_debug_output_does_not_leak_the_key() {
        assert_eq!(format!("{:?}", key()), "NonceKey { .. }");
    }
}
