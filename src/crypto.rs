//! Key material and primitives (protocol §1): secret newtypes that zeroize, HKDF, the box keys.
//!
//! Every secret here is wiped from memory when dropped, prints as `[redacted]`, and compares in
//! constant time.

use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ed25519_dalek::SigningKey;
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::fsutil;

/// The HKDF salt of every derivation in protocol v1 (protocol §1).
pub const HKDF_SALT: &[u8] = b"identity-box/v1";

/// 32 secret bytes: zeroized on drop, redacted in `Debug`, compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret32([u8; 32]);

impl Secret32 {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// 32 bytes from the operating system's random number generator.
    pub fn random() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret32([redacted])")
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}
impl Eq for Secret32 {}

/// `HKDF(ikm, info)` of protocol §1: HKDF-SHA256, salt `identity-box/v1`, 32 bytes of output.
pub fn hkdf32(ikm: &[u8], info: &str) -> Secret32 {
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm);
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32, so this cannot fail.
    hk.expand(info.as_bytes(), &mut okm)
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 output length"));
    Secret32(okm)
}

/// Whether `a` and `b` hold the same bytes, in time that does not depend on their contents when
/// their lengths are equal: for secrets, tokens, codes and their hashes, which a caller must not
/// be able to guess byte by byte from how long a refusal takes. Lengths are not secret: slices
/// of different lengths are unequal at once.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `H(x)`: SHA-256.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// base64url without padding (compiled for speed in `idbox-bulk`: bundles pass through it).
pub use idbox_bulk::{b64u, b64u_decode};

/// The mDNS fingerprint of a box: hex of the first 8 bytes of `H(agreement key)` (protocol §8).
pub fn fingerprint(agreement_public: &[u8; 32]) -> String {
    hex::encode(&sha256(agreement_public)[..8])
}

/// Why a signature or a key agreement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The public key is not a valid encoding of a curve point.
    #[error("malformed public key")]
    MalformedKey,
    /// The signature does not verify (strictly) for this key and message.
    #[error("the signature does not verify")]
    BadSignature,
    /// The peer's X25519 key has small order: the shared secret would not depend on our key.
    #[error("the other side's key is not acceptable (low order)")]
    LowOrderKey,
}

/// Verifies an Ed25519 signature from outside the box with RFC 8032's strict rules
/// (canonical encodings, no small-order keys, no malleable `s`).
pub fn verify_ed25519(public: &[u8], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    let public: [u8; 32] = public.try_into().map_err(|_| CryptoError::MalformedKey)?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|_| CryptoError::MalformedKey)?;
    let signature =
        ed25519_dalek::Signature::from_slice(signature).map_err(|_| CryptoError::BadSignature)?;
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::BadSignature)
}

/// Checks that 32 bytes are an Ed25519 public key someone could sign with: a canonical
/// encoding of a curve point that is not of small order.
pub fn check_ed25519_public(public: &[u8; 32]) -> Result<(), CryptoError> {
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(public).map_err(|_| CryptoError::MalformedKey)?;
    if key.is_weak() {
        return Err(CryptoError::LowOrderKey);
    }
    Ok(())
}

/// Checks that 32 bytes are an X25519 public key that agreement can use: not of small order
/// (all zeros included), so a shared secret would depend on our key.
pub fn check_x25519_public(public: &[u8; 32]) -> Result<(), CryptoError> {
    // Any fixed scalar shows it: a small-order point gives the all-zero secret for every scalar.
    x25519(&Secret32([0x42; 32]), public).map(|_| ())
}

/// X25519 with a peer's public key; refuses keys of small order, whose shared secret is all
/// zeros (Wycheproof's `ZeroSharedSecret` cases).
pub fn x25519(secret: &Secret32, public: &[u8; 32]) -> Result<Secret32, CryptoError> {
    let secret = StaticSecret::from(*secret.expose());
    let shared = secret.diffie_hellman(&X25519Public::from(*public));
    if !shared.was_contributory() {
        return Err(CryptoError::LowOrderKey);
    }
    Ok(Secret32(*shared.as_bytes()))
}

/// 16 random bytes as 32 lower-case hex digits: an id that tells nothing (a group's).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).unwrap_or_else(|e| panic!("no random numbers: {e}"));
    hex::encode(bytes)
}

/// Length of a NaCl nonce.
pub const NONCE_LEN: usize = 24;

/// A fresh random NaCl nonce.
pub fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    // The OS generator failing is not recoverable for a box that must make nonces.
    getrandom::getrandom(&mut nonce).unwrap_or_else(|e| panic!("no random numbers: {e}"));
    nonce
}

/// NaCl `crypto_box` (libsodium `_easy`): X25519(`secret`, `their_public`) + XSalsa20-Poly1305;
/// output is the 16-byte tag then the ciphertext.
pub fn nacl_box(
    secret: &Secret32,
    their_public: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
) -> Vec<u8> {
    SharedKey::new(secret, their_public).seal(nonce, plaintext)
}

/// Opens a NaCl `crypto_box`; `None` when the tag does not verify (wrong key, altered bytes).
pub fn nacl_box_open(
    secret: &Secret32,
    their_public: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    boxed: &[u8],
) -> Option<Vec<u8>> {
    SharedKey::new(secret, their_public).open(nonce, boxed)
}

/// The precomputed key of a `crypto_box` pair (libsodium `crypto_box_beforenm`): one X25519 per
/// peer instead of one per message. Wiped on drop; `Debug` is redacted.
pub struct SharedKey(idbox_bulk::Precomputed);

impl SharedKey {
    pub fn new(secret: &Secret32, their_public: &[u8; 32]) -> Self {
        Self(idbox_bulk::Precomputed::new(secret.expose(), their_public))
    }

    /// Tag then ciphertext, as `crypto_box_easy`.
    pub fn seal(&self, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        self.0.seal(nonce, plaintext)
    }

    /// `None` when the tag does not verify.
    pub fn open(&self, nonce: &[u8; NONCE_LEN], boxed: &[u8]) -> Option<Vec<u8>> {
        self.0.open(nonce, boxed)
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedKey([redacted])")
    }
}

/// NaCl `crypto_box_seal` (libsodium sealed box): an ephemeral X25519 key, then the box; only
/// the holder of the recipient's secret can open it, and the sender stays anonymous.
pub fn seal(recipient_public: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    crypto_box::PublicKey::from_bytes(*recipient_public)
        .seal(&mut crypto_box::aead::OsRng, plaintext)
        .unwrap_or_else(|_| unreachable!("sealing an in-memory buffer"))
}

/// Opens a sealed box; `None` when it was not sealed to this key or was altered.
pub fn seal_open(recipient_secret: &Secret32, sealed: &[u8]) -> Option<Vec<u8>> {
    crypto_box::SecretKey::from_bytes(*recipient_secret.expose())
        .unseal(sealed)
        .ok()
}

/// NaCl `crypto_secretbox` (XSalsa20-Poly1305) with a given nonce: tag then ciphertext.
pub fn secretbox(key: &Secret32, nonce: &[u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
    idbox_bulk::secretbox_seal(key.expose(), nonce, plaintext)
}

/// Opens a `crypto_secretbox`; `None` when the tag does not verify.
pub fn secretbox_open(key: &Secret32, nonce: &[u8; NONCE_LEN], boxed: &[u8]) -> Option<Vec<u8>> {
    idbox_bulk::secretbox_open(key.expose(), nonce, boxed)
}

/// The owner's backup secrets, derived from the mnemonic's 32 bytes of entropy (protocol §5).
/// They live on the phone; the box sees only `backup_id` and the recipient's public half.
#[derive(Clone)]
pub struct BackupSecrets {
    pub backup_id: String,
    pub bundle_key: Secret32,
    pub recipient: Secret32,
}

impl BackupSecrets {
    pub fn from_entropy(entropy: &Secret32) -> Self {
        Self {
            backup_id: hex::encode(&hkdf32(entropy.expose(), "backup-id").expose()[..16]),
            bundle_key: hkdf32(entropy.expose(), "bundle-key"),
            recipient: hkdf32(entropy.expose(), "box-keys-recipient"),
        }
    }

    pub fn recipient_public(&self) -> [u8; 32] {
        x25519_public(&self.recipient)
    }

    /// A bundle: `nonce(24) ‖ tag(16) ‖ ciphertext` under `bundle_key`.
    pub fn seal_bundle(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = random_nonce();
        let mut out = nonce.to_vec();
        out.extend(secretbox(&self.bundle_key, &nonce, plaintext));
        out
    }

    /// Opens a bundle of either format (protocol §5: a v2 bundle through its mnemonic slot);
    /// `None` when it is too short, was made with another key, or was altered.
    pub fn open_bundle(&self, bundle: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if crate::backup::bundle::is_v2(bundle)
            && let Some(plain) = crate::backup::bundle::parse(bundle)
                .ok()
                .and_then(|p| p.open_with_bundle_key(&self.bundle_key))
        {
            return Some(plain);
        }
        let nonce: &[u8; NONCE_LEN] = bundle.get(..NONCE_LEN)?.try_into().ok()?;
        secretbox_open(&self.bundle_key, nonce, &bundle[NONCE_LEN..]).map(Zeroizing::new)
    }
}

impl fmt::Debug for BackupSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupSecrets")
            .field("backup_id", &self.backup_id)
            .finish_non_exhaustive()
    }
}

/// The X25519 public key of a secret.
pub fn x25519_public(secret: &Secret32) -> [u8; 32] {
    X25519Public::from(&StaticSecret::from(*secret.expose())).to_bytes()
}

/// `device_id` of protocol §2: hex of the first 16 bytes of `H(device_key)`.
pub fn device_id(device_key: &[u8; 32]) -> String {
    hex::encode(&sha256(device_key)[..16])
}

/// Why the box's keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system gave no random bytes.
    #[error("the system's random number generator failed: {0}")]
    Random(String),
    /// The seed file exists but is not 32 bytes: it was damaged or replaced.
    #[error(
        "the box key file {path} is damaged (it holds {len} bytes, not 32); restore it from a \
         backup of the data directory, or factory-reset the box"
    )]
    Damaged { path: String, len: u64 },
    /// The seed file could not be read or written.
    #[error("cannot {action} the box key file {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: io::Error,
    },
}

/// The box seed: 32 random bytes made at first start, the root of the box keys (protocol §1).
#[derive(Debug, PartialEq, Eq)]
pub struct BoxSeed(Secret32);

/// Whether [`BoxSeed::load_or_create`] found a seed or made a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOrigin {
    Loaded,
    Created,
}

impl BoxSeed {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Secret32(bytes))
    }

    /// Loads the seed from `path`, or makes one and writes it there atomically (mode 0600).
    pub fn load_or_create(path: &Path) -> Result<(Self, SeedOrigin), KeyError> {
        let io_err = |action, source| KeyError::Io {
            action,
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(path) {
            Ok(mut bytes) => {
                let len = bytes.len() as u64;
                let seed = <[u8; 32]>::try_from(bytes.as_slice()).ok();
                bytes.zeroize();
                let Some(seed) = seed else {
                    return Err(KeyError::Damaged {
                        path: path.display().to_string(),
                        len,
                    });
                };
                let seed = Self::from_bytes(seed);
                // Someone loosened the file's mode: tighten it again rather than refuse to start.
                let meta = std::fs::metadata(path).map_err(|e| io_err("inspect", e))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    log::warn!(
                        "the box key file {} was readable by others; its mode is now 0600",
                        path.display()
                    );
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| io_err("protect", e))?;
                }
                Ok((seed, SeedOrigin::Loaded))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let seed = Secret32::random()?;
                fsutil::write_atomic(path, seed.expose(), 0o600).map_err(|e| io_err("write", e))?;
                Ok((Self(seed), SeedOrigin::Created))
            }
            Err(e) => Err(io_err("read", e)),
        }
    }
}

/// The two keys the box derives from its seed: X25519 agreement and Ed25519 signing (protocol §1).
pub struct BoxKeys {
    agreement: Secret32,
    agreement_public: X25519Public,
    signing: SigningKey,
    ipfs_node: Secret32,
    vault: KeyVault,
}

impl BoxKeys {
    pub fn from_seed(seed: &BoxSeed) -> Self {
        let agreement = hkdf32(seed.0.expose(), "box-agreement");
        let agreement_public = X25519Public::from(x25519_public(&agreement));
        let signing = SigningKey::from_bytes(hkdf32(seed.0.expose(), "box-signing").expose());
        Self {
            agreement,
            agreement_public,
            signing,
            // The embedded IPFS node's peer identity: stable for the life of the seed.
            ipfs_node: hkdf32(seed.0.expose(), "ipfs-node"),
            vault: KeyVault::new(hkdf32(seed.0.expose(), "identity-keys-at-rest")),
        }
    }

    /// The key that seals the identity keys in the database: it lives only as long as the
    /// seed file, so erasing the seed makes every stored identity key unreadable.
    pub fn vault(&self) -> &KeyVault {
        &self.vault
    }

    /// The ed25519 seed of the IPFS node's peer identity.
    pub fn ipfs_node_seed(&self) -> &Secret32 {
        &self.ipfs_node
    }

    /// The peer id of the box's IPFS node (`12D3…`), made from [`Self::ipfs_node_seed`] as the
    /// node makes it.
    pub fn ipfs_peer_id(&self) -> String {
        let mut seed = zeroize::Zeroizing::new(*self.ipfs_node.expose());
        libp2p_identity::Keypair::ed25519_from_bytes(&mut *seed)
            .map(|k| k.public().to_peer_id().to_string())
            .unwrap_or_default()
    }

    pub fn agreement_public(&self) -> [u8; 32] {
        self.agreement_public.to_bytes()
    }

    pub fn signing_public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The secret half of the agreement key, for the channel and pairing (protocol §2, §3).
    pub fn agreement_secret(&self) -> &Secret32 {
        &self.agreement
    }

    /// The signing key, for archive manifests and pairing answers.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The public halves, which may be shown to anyone.
    pub fn public(&self) -> BoxPublicKeys {
        let agreement = self.agreement_public();
        BoxPublicKeys {
            agreement_b64u: b64u(&agreement),
            signing_b64u: b64u(&self.signing_public()),
            fingerprint: fingerprint(&agreement),
        }
    }
}

impl fmt::Debug for BoxKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxKeys")
            .field("agreement_public", &b64u(&self.agreement_public()))
            .field("signing_public", &b64u(&self.signing_public()))
            .finish_non_exhaustive()
    }
}

/// Seals the identity keys the box stores (protocol §9, "At rest"). A sealed key is
/// `0x01 ‖ nonce (24) ‖ secretbox (48)` under `HKDF(vault key, "identity-key " ‖ did)`: it
/// opens only for the identity it was sealed for, with the seed it was sealed under.
#[derive(Clone)]
pub struct KeyVault(std::sync::Arc<Secret32>);

/// The length of a sealed identity key.
pub const SEALED_KEY_LEN: usize = 1 + NONCE_LEN + 16 + 32;
const SEALED_KEY_VERSION: u8 = 1;

impl KeyVault {
    pub fn new(key: Secret32) -> Self {
        Self(std::sync::Arc::new(key))
    }

    fn key_for(&self, did: &str) -> Secret32 {
        hkdf32(self.0.expose(), &format!("identity-key {did}"))
    }

    /// Seals the 32-byte ed25519 seed of identity `did`.
    pub fn seal(&self, did: &str, secret: &[u8; 32]) -> Vec<u8> {
        let nonce = random_nonce();
        let mut sealed = Vec::with_capacity(SEALED_KEY_LEN);
        sealed.push(SEALED_KEY_VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&secretbox(&self.key_for(did), &nonce, secret));
        sealed
    }

    /// Opens what [`KeyVault::seal`] made for `did`; `None` for anything else (another
    /// identity's key, another seed, altered bytes).
    pub fn open(&self, did: &str, sealed: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
        if sealed.len() != SEALED_KEY_LEN || sealed[0] != SEALED_KEY_VERSION {
            return None;
        }
        let nonce: &[u8; NONCE_LEN] = sealed[1..=NONCE_LEN].try_into().ok()?;
        let opened = Zeroizing::new(secretbox_open(
            &self.key_for(did),
            nonce,
            &sealed[1 + NONCE_LEN..],
        )?);
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(opened.get(..32)?);
        Some(key)
    }
}

impl fmt::Debug for KeyVault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyVault([redacted])")
    }
}

/// The box's public keys as they appear on the wire.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoxPublicKeys {
    pub agreement_b64u: String,
    pub signing_b64u: String,
    pub fingerprint: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ct_eq_is_byte_equality() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"pairing code", b"pairing code"));
        assert!(!ct_eq(b"pairing code", b"pairing codf"));
        assert!(!ct_eq(b"pairing code", b"pairing cod"));
        assert!(!ct_eq(b"", b"x"));
        assert_eq!(Secret32::new([1; 32]), Secret32::new([1; 32]));
        assert_ne!(Secret32::new([1; 32]), Secret32::new([2; 32]));
    }

    #[test]
    fn secrets_are_redacted() {
        let s = Secret32::new([7; 32]);
        assert_eq!(format!("{s:?}"), "Secret32([redacted])");
        let seed = BoxSeed::from_bytes([7; 32]);
        assert!(!format!("{seed:?}").contains('7'));
        let keys = BoxKeys::from_seed(&seed);
        let debug = format!("{keys:?}");
        assert!(debug.contains(&keys.public().agreement_b64u));
        assert!(!debug.contains(&hex::encode(hkdf32(&[7; 32], "box-signing").expose())));
    }

    #[test]
    fn secret_equality() {
        assert_eq!(Secret32::new([1; 32]), Secret32::new([1; 32]));
        assert_ne!(Secret32::new([1; 32]), Secret32::new([2; 32]));
    }

    #[test]
    fn keys_are_derived_with_distinct_labels() {
        let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([9; 32]));
        let again = BoxKeys::from_seed(&BoxSeed::from_bytes([9; 32]));
        assert_eq!(keys.public(), again.public());
        let other = BoxKeys::from_seed(&BoxSeed::from_bytes([8; 32]));
        assert_ne!(keys.public(), other.public());
        // The signing key is HKDF(seed, "box-signing"), not the agreement scalar.
        assert_eq!(
            keys.signing_key().to_bytes(),
            *hkdf32(&[9; 32], "box-signing").expose()
        );
    }

    #[test]
    fn seed_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box-seed");
        let (first, origin) = BoxSeed::load_or_create(&path).unwrap();
        assert_eq!(origin, SeedOrigin::Created);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (second, origin) = BoxSeed::load_or_create(&path).unwrap();
        assert_eq!(origin, SeedOrigin::Loaded);
        assert_eq!(first, second);
    }

    #[test]
    fn loose_seed_mode_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box-seed");
        BoxSeed::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        BoxSeed::load_or_create(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn damaged_seed_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("box-seed");
        std::fs::write(&path, b"short").unwrap();
        let err = BoxSeed::load_or_create(&path).unwrap_err();
        assert!(matches!(err, KeyError::Damaged { len: 5, .. }), "{err}");
        assert!(err.to_string().contains("box-seed"));
    }

    #[test]
    fn a_sealed_identity_key_opens_only_for_its_identity_and_seed() {
        let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([3; 32]));
        let other = BoxKeys::from_seed(&BoxSeed::from_bytes([4; 32]));
        let secret = [42u8; 32];
        let sealed = keys.vault().seal("did:ipid:a", &secret);
        assert_eq!(sealed.len(), SEALED_KEY_LEN);
        assert!(!sealed.windows(32).any(|w| w == secret));
        assert_eq!(*keys.vault().open("did:ipid:a", &sealed).unwrap(), secret);
        // Each seal has its own nonce.
        assert_ne!(sealed, keys.vault().seal("did:ipid:a", &secret));
        assert!(keys.vault().open("did:ipid:b", &sealed).is_none());
        assert!(other.vault().open("did:ipid:a", &sealed).is_none());
        let mut altered = sealed.clone();
        altered[SEALED_KEY_LEN - 1] ^= 1;
        assert!(keys.vault().open("did:ipid:a", &altered).is_none());
        assert!(keys.vault().open("did:ipid:a", &secret).is_none());
        assert!(keys.vault().open("did:ipid:a", &[]).is_none());
        assert_eq!(format!("{:?}", keys.vault()), "KeyVault([redacted])");
    }
}
