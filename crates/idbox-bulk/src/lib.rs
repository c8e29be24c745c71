//! The primitives that touch every byte of a backup bundle on its way through the encrypted
//! channel: XSalsa20-Poly1305 (`crypto_secretbox`, and `crypto_box` with a precomputed key) and
//! base64url.
//!
//! Why a crate of its own: the shipping binary is built at `opt-level = "z"`, and the hot loops
//! of these crates are generic, so they are compiled in the crate that uses them, at that crate's
//! level; a profile override on `salsa20` or `base64` has no effect on them. Here they are
//! instantiated by plain functions, and the release profile compiles this crate at opt-level 3
//! (see the workspace's `Cargo.toml` and BENCHMARKS.md). `identity_box::crypto` is the only user;
//! it wraps the keys in its zeroizing types.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use crypto_box::aead::{Aead, KeyInit};
use std::fmt;

/// The length of an XSalsa20 nonce.
pub const NONCE_LEN: usize = 24;

/// The precomputed key of a `crypto_box` pair (libsodium `crypto_box_beforenm`). The key is wiped
/// when this is dropped; `Debug` does not show it.
pub struct Precomputed(crypto_box::SalsaBox);

impl Precomputed {
    /// X25519 of `secret` with `their_public`, then HSalsa20, as libsodium.
    pub fn new(secret: &[u8; 32], their_public: &[u8; 32]) -> Self {
        let secret = crypto_box::SecretKey::from_bytes(*secret);
        Self(crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from_bytes(*their_public),
            &secret,
        ))
    }

    /// Tag then ciphertext, as `crypto_box_easy`.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        self.0
            .encrypt(nonce.into(), plaintext)
            .unwrap_or_else(|_| unreachable!("XSalsa20-Poly1305 encryption of an in-memory buffer"))
    }

    /// `None` when the tag does not verify.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], boxed: &[u8]) -> Option<Vec<u8>> {
        self.0.decrypt(nonce.into(), boxed).ok()
    }
}

impl fmt::Debug for Precomputed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Precomputed([redacted])")
    }
}

/// NaCl `crypto_secretbox` (XSalsa20-Poly1305): tag then ciphertext.
pub fn secretbox_seal(key: &[u8; 32], nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    crypto_secretbox::XSalsa20Poly1305::new(key.into())
        .encrypt(nonce.into(), plaintext)
        .unwrap_or_else(|_| unreachable!("XSalsa20-Poly1305 encryption of an in-memory buffer"))
}

/// Opens a `crypto_secretbox`; `None` when the tag does not verify.
pub fn secretbox_open(key: &[u8; 32], nonce: &[u8; NONCE_LEN], boxed: &[u8]) -> Option<Vec<u8>> {
    crypto_secretbox::XSalsa20Poly1305::new(key.into())
        .decrypt(nonce.into(), boxed)
        .ok()
}

/// base64url without padding.
pub fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn b64u_decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    // The known answers from libsodium are checked through `identity_box::crypto` (tests/e2e/
    // vectors.rs); these check the round trips and that a changed byte is refused.

    #[test]
    fn secretbox_round_trip_and_tamper() {
        let (key, nonce) = ([7u8; 32], [9u8; NONCE_LEN]);
        let boxed = secretbox_seal(&key, &nonce, b"bundle");
        assert_eq!(boxed.len(), 16 + 6);
        assert_eq!(secretbox_open(&key, &nonce, &boxed).unwrap(), b"bundle");
        let mut altered = boxed.clone();
        altered[20] ^= 1;
        assert!(secretbox_open(&key, &nonce, &altered).is_none());
        assert!(secretbox_open(&[8u8; 32], &nonce, &boxed).is_none());
    }

    #[test]
    fn precomputed_box_is_symmetric() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let public = |s: &[u8; 32]| {
            *crypto_box::SecretKey::from_bytes(*s)
                .public_key()
                .as_bytes()
        };
        let nonce = [3u8; NONCE_LEN];
        let boxed = Precomputed::new(&a, &public(&b)).seal(&nonce, b"request");
        let opened = Precomputed::new(&b, &public(&a)).open(&nonce, &boxed);
        assert_eq!(opened.unwrap(), b"request");
        assert!(
            Precomputed::new(&b, &public(&b))
                .open(&nonce, &boxed)
                .is_none()
        );
        assert_eq!(
            format!("{:?}", Precomputed::new(&a, &public(&b))),
            "Precomputed([redacted])"
        );
    }

    #[test]
    fn base64url_without_padding() {
        assert_eq!(b64u(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64u_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(b64u_decode("-_8=").is_err());
        assert!(b64u_decode("+/8").is_err());
    }
}
