//! Protection of stored secrets (SIP passwords, trunk passwords, PINs).
//!
//! Phones and trunks need their secrets in clear (to provision phones and to
//! authenticate outward), so secrets cannot be hashed away. What protects them:
//! - always: file permissions — the database file and the data dir must be readable
//!   only by the vpbx user (the server's job: 0600/0700; this crate does no I/O);
//! - optionally: `[store] secrets_key`, a 32-byte key. With it, secrets are stored
//!   as `enc:v1:<base64(nonce ‖ ciphertext ‖ tag)>` sealed with ChaCha20-Poly1305, so a
//!   copied database or backup without the config file reveals nothing. Without a
//!   key, secrets are stored as they are and [`unseal`] returns plain values unchanged,
//!   so a key can be added later: old rows still read, new writes are sealed.
//!
//! This module is pure: the 12-byte nonce is supplied by the caller (from the OS RNG
//! in the server; fixed in tests). A nonce must never repeat under one key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::error::SealError;

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

/// A 32-byte secrets key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsKey([u8; 32]);

impl SecretsKey {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretsKey(bytes)
    }

    /// Parses 64 hex digits or standard base64 (44 characters with padding, or 43 without).
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| SealError::BadKey)?
        } else {
            B64.decode(text)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .map_err(|_| SealError::BadKey)?
        };
        let arr: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(SecretsKey(arr))
    }
}

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
    }
}

/// Seals `secret` as `enc:v1:<base64>` with `key` and the caller's unique `nonce`.
pub fn seal(secret: &str, key: &SecretsKey, nonce: [u8; NONCE_LEN]) -> String {
    let cipher = ChaCha20Poly1305::new(&Key::from(key.0));
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), secret.as_bytes())
        .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
    let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&sealed);
    format!("{PREFIX}{}", B64.encode(raw))
}

/// Seals when a key is configured, else returns the secret as it is.
pub fn seal_if_keyed(secret: &str, key: Option<&SecretsKey>, nonce: [u8; NONCE_LEN]) -> String {
    match key {
        Some(key) => seal(secret, key, nonce),
        None => secret.to_owned(),
    }
}

/// Whether a stored value is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with("enc:")
}

/// Reads a stored secret: unseals `enc:v1:` values with `key`, returns others unchanged.
///
/// A plain value is returned even when a key is configured (rows written before the
/// key was added). A secret that itself begins with `enc:` cannot be stored unsealed.
pub fn unseal(stored: &str, key: Option<&SecretsKey>) -> Result<String, SealError> {
    if !is_sealed(stored) {
        return Ok(stored.to_owned());
    }
    let b64 = stored.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
    let raw = B64.decode(b64).map_err(|_| SealError::Malformed)?;
    if raw.len() < NONCE_LEN + 16 {
        return Err(SealError::Malformed);
    }
    let key = key.ok_or(SealError::KeyMissing)?;
    let (nonce, body) = raw.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
    let cipher = ChaCha20Poly1305::new(&Key::from(key.0));
    let plain = cipher
        .decrypt(&Nonce::from(nonce), body)
        .map_err(|_| SealError::Tampered)?;
    String::from_utf8(plain).map_err(|_| SealError::Tampered)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(b: u8) -> SecretsKey {
        SecretsKey::from_bytes([b; 32])
    }

    #[test]
    fn a_sealed_secret_unseals_to_the_original() {
        let sealed = seal("s3cret-1101", &key(7), [1; 12]);
        assert!(sealed.starts_with("enc:v1:"));
        assert!(!sealed.contains("s3cret"));
        assert_eq!(unseal(&sealed, Some(&key(7))).unwrap(), "s3cret-1101");
    }

    #[test]
    fn different_nonces_give_different_ciphertexts() {
        assert_ne!(seal("x", &key(7), [1; 12]), seal("x", &key(7), [2; 12]));
    }

    #[test]
    fn an_altered_sealed_secret_is_detected() {
        let sealed = seal("s3cret-1101", &key(7), [1; 12]);
        let mut raw = B64.decode(sealed.strip_prefix(PREFIX).unwrap()).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let altered = format!("{PREFIX}{}", B64.encode(&raw));
        assert_eq!(unseal(&altered, Some(&key(7))), Err(SealError::Tampered));
        raw[last] ^= 1;
        raw[NONCE_LEN] ^= 0x80;
        let altered = format!("{PREFIX}{}", B64.encode(&raw));
        assert_eq!(unseal(&altered, Some(&key(7))), Err(SealError::Tampered));
    }

    #[test]
    fn the_wrong_key_is_detected() {
        let sealed = seal("s3cret-1101", &key(7), [1; 12]);
        assert_eq!(unseal(&sealed, Some(&key(8))), Err(SealError::Tampered));
    }

    #[test]
    fn a_sealed_secret_without_a_key_is_an_error_not_garbage() {
        let sealed = seal("s3cret-1101", &key(7), [1; 12]);
        assert_eq!(unseal(&sealed, None), Err(SealError::KeyMissing));
    }

    #[test]
    fn plain_secrets_pass_through_with_or_without_a_key() {
        assert_eq!(unseal("plain-secret", None).unwrap(), "plain-secret");
        assert_eq!(
            unseal("plain-secret", Some(&key(7))).unwrap(),
            "plain-secret"
        );
        assert_eq!(seal_if_keyed("plain-secret", None, [0; 12]), "plain-secret");
    }

    #[test]
    fn malformed_sealed_values_are_rejected() {
        assert_eq!(
            unseal("enc:v2:AAAA", Some(&key(7))),
            Err(SealError::Malformed)
        );
        assert_eq!(
            unseal("enc:v1:!!!", Some(&key(7))),
            Err(SealError::Malformed)
        );
        assert_eq!(
            unseal("enc:v1:AAAA", Some(&key(7))),
            Err(SealError::Malformed)
        );
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let hex_key = "00".repeat(31) + "ff";
        let mut bytes = [0u8; 32];
        bytes[31] = 0xff;
        assert_eq!(
            SecretsKey::parse(&hex_key).unwrap(),
            SecretsKey::from_bytes(bytes)
        );
        let b64 = B64.encode(bytes);
        assert_eq!(
            SecretsKey::parse(&b64).unwrap(),
            SecretsKey::from_bytes(bytes)
        );
        assert_eq!(SecretsKey::parse("abcd"), Err(SealError::BadKey));
        assert_eq!(SecretsKey::parse(&"zz".repeat(32)), Err(SealError::BadKey));
        assert_eq!(
            format!("{:?}", SecretsKey::from_bytes(bytes)),
            "SecretsKey(<redacted>)"
        );
    }
}
