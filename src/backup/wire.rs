//! The sealed identity keys of a backup version (protocol §5), as both sides read and write them:
//! `{"v":1,"identities":[{"did","secret_key":b64u(32-byte ed25519 seed),"seq"}]}`, padded with
//! ASCII spaces to a multiple of 4096 bytes, then sealed (`crypto_box_seal`) to the owner's
//! recipient key, or to the box's agreement key for `backup.restore_keys`.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::{self, Secret32};

/// Plaintexts are padded to a multiple of this, so the size tells little about their number.
pub const PAD: usize = 4096;
/// The payload's format version.
pub const VERSION: u32 = 1;

/// One identity key.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq, Zeroize)]
#[zeroize(drop)]
pub struct SealedIdentity {
    pub did: String,
    /// b64u of the 32-byte ed25519 seed.
    pub secret_key: String,
    pub seq: u64,
}

impl std::fmt::Debug for SealedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedIdentity")
            .field("did", &self.did)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl SealedIdentity {
    pub fn new(did: String, secret: &[u8; 32], seq: u64) -> Self {
        Self {
            did,
            secret_key: crypto::b64u(secret),
            seq,
        }
    }

    /// The key, if it is 32 bytes of base64url.
    pub fn secret(&self) -> Option<Secret32> {
        let bytes = Zeroizing::new(crypto::b64u_decode(&self.secret_key).ok()?);
        <[u8; 32]>::try_from(bytes.as_slice())
            .ok()
            .map(Secret32::new)
    }
}

/// The payload.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SealedKeys {
    pub v: u32,
    pub identities: Vec<SealedIdentity>,
}

/// Why sealed keys could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedKeysError {
    #[error("the identity keys are not sealed to this key, or they were altered")]
    CannotOpen,
    #[error("the sealed identity keys are not in a format this version knows: {0}")]
    Format(String),
}

impl SealedKeys {
    pub fn new(identities: Vec<SealedIdentity>) -> Self {
        Self {
            v: VERSION,
            identities,
        }
    }

    /// Padded JSON, sealed to `recipient`.
    pub fn seal(&self, recipient: &[u8; 32]) -> Vec<u8> {
        crypto::seal(recipient, &self.padded())
    }

    /// The JSON padded with spaces to a multiple of [`PAD`] bytes.
    pub fn padded(&self) -> Zeroizing<Vec<u8>> {
        let mut bytes = Zeroizing::new(
            serde_json::to_vec(self)
                .unwrap_or_else(|_| unreachable!("strings and numbers always serialize")),
        );
        let len = bytes.len().div_ceil(PAD).max(1) * PAD;
        bytes.resize(len, b' ');
        bytes
    }

    /// Opens and parses sealed keys with the secret of the key they were sealed to.
    pub fn open(secret: &Secret32, sealed: &[u8]) -> Result<Self, SealedKeysError> {
        let plain =
            Zeroizing::new(crypto::seal_open(secret, sealed).ok_or(SealedKeysError::CannotOpen)?);
        Self::parse(&plain)
    }

    /// Parses a padded plaintext.
    pub fn parse(plain: &[u8]) -> Result<Self, SealedKeysError> {
        let keys: SealedKeys =
            serde_json::from_slice(plain).map_err(|e| SealedKeysError::Format(e.to_string()))?;
        if keys.v != VERSION {
            return Err(SealedKeysError::Format(format!("version {}", keys.v)));
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn padded_to_4k_and_round_trips() {
        let keys = SealedKeys::new(vec![SealedIdentity::new(
            "did:ipid:k51x".into(),
            &[3; 32],
            4,
        )]);
        assert_eq!(keys.padded().len(), PAD);
        assert!(keys.padded().ends_with(b"  "));
        let many = SealedKeys::new(
            (0..100)
                .map(|i| SealedIdentity::new(format!("did:ipid:k51{i:060}"), &[i as u8; 32], i))
                .collect(),
        );
        assert_eq!(many.padded().len() % PAD, 0);
        assert!(many.padded().len() > PAD);
        let secret = Secret32::new([5; 32]);
        let sealed = many.seal(&crypto::x25519_public(&secret));
        assert_eq!(sealed.len(), many.padded().len() + 48);
        assert_eq!(SealedKeys::open(&secret, &sealed).unwrap(), many);
        assert_eq!(many.identities[7].secret().unwrap(), Secret32::new([7; 32]));
        let other = Secret32::new([6; 32]);
        assert_eq!(
            SealedKeys::open(&other, &sealed).unwrap_err(),
            SealedKeysError::CannotOpen
        );
    }

    #[test]
    fn debug_is_redacted() {
        let id = SealedIdentity::new("did:ipid:k51x".into(), &[3; 32], 4);
        assert!(!format!("{id:?}").contains(&id.secret_key));
    }
}
