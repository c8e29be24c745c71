//! Bundle format v2 (protocol §5, "Bundle format v2"): a bundle that every device of a person
//! can open, and the 24 words still can.
//!
//! ```text
//! bundle  = "idbox-b2" ‖ count(1) ‖ slot × count ‖ payload
//! slot    = kind(1) ‖ id(16) ‖ len(1) ‖ body(len)
//! payload = nonce(24) ‖ secretbox(plaintext, data key)
//! ```
//!
//! The data key is 32 random bytes per version. Slot kinds:
//!
//! | kind | id | body |
//! |---|---|---|
//! | 1, mnemonic | the backup id's 16 bytes | `nonce(24) ‖ secretbox(data key, bundle key)` |
//! | 2, group | the group key's id (below) | `nonce(24) ‖ secretbox(data key, group key)` |
//! | 3, device | the device id's 16 bytes | `crypto_box_seal(group key, device key)` |
//!
//! The group key's id is the first 16 bytes of `HKDF(group key, "group-key-id")`. A v1 bundle
//! (`nonce ‖ secretbox(plaintext, bundle key)`) has no magic; a reader tells them apart by the
//! first 8 bytes (a v1 bundle starts with them by chance once in 2^64) and falls back to v1 when
//! a v2 reading fails.
//!
//! The box reads only the slots' kinds and ids (`parse`): it checks that a version is for its
//! backup, under the group's current key, and sealed to nobody outside the group. It can open
//! nothing.

use zeroize::Zeroizing;

use crate::crypto::{self, NONCE_LEN, Secret32};

/// The first bytes of a v2 bundle.
pub const MAGIC: &[u8; 8] = b"idbox-b2";
/// Slot kinds.
pub const KIND_MNEMONIC: u8 = 1;
pub const KIND_GROUP: u8 = 2;
pub const KIND_DEVICE: u8 = 3;
/// At most this many slots (a mnemonic, a group, and a device slot for each of 10 devices, with
/// room to spare).
pub const MAX_SLOTS: usize = 16;
/// A wrapped data key: nonce, tag, key.
pub const WRAPPED_LEN: usize = NONCE_LEN + 16 + 32;
/// A group key sealed to a device: ephemeral key, tag, key.
pub const SEALED_LEN: usize = 32 + 16 + 32;
/// The smallest payload: nonce and tag.
pub const MIN_PAYLOAD: usize = NONCE_LEN + 16;

/// Why bytes are not a v2 bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle does not start with the v2 format's mark")]
    NotV2,
    #[error("the bundle ends inside its slots")]
    Truncated,
    #[error("the bundle has {0} key slots; a bundle has 1 to {MAX_SLOTS}")]
    SlotCount(usize),
    #[error("the bundle's slot {0} has the wrong length for its kind")]
    SlotLength(usize),
    #[error("the bundle has two slots of kind {kind} for the same key")]
    DuplicateSlot { kind: u8 },
    #[error("the bundle has no {0} slot")]
    MissingSlot(&'static str),
    #[error("the bundle has more than one {0} slot")]
    ExtraSlot(&'static str),
    #[error("the bundle's payload is too short to be a nonce, tag and ciphertext")]
    ShortPayload,
}

/// One key slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot<'a> {
    pub kind: u8,
    pub id: [u8; 16],
    pub body: &'a [u8],
}

/// A v2 bundle's structure, read without any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub slots: Vec<Slot<'a>>,
    pub payload: &'a [u8],
}

/// Whether `bytes` claim to be a v2 bundle.
pub fn is_v2(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Reads a v2 bundle's slots. Checked: the mark, the slot count, each known kind's body length,
/// exactly one mnemonic slot, at most one group slot, no two slots of a kind with one id, and a
/// payload long enough to hold a nonce and a tag. Unknown kinds are kept (a later version may
/// add some).
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, BundleError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(BundleError::NotV2)?;
    let (&count, mut rest) = rest.split_first().ok_or(BundleError::Truncated)?;
    let count = usize::from(count);
    if count == 0 || count > MAX_SLOTS {
        return Err(BundleError::SlotCount(count));
    }
    let mut slots: Vec<Slot<'_>> = Vec::with_capacity(count);
    for index in 0..count {
        if rest.len() < 18 {
            return Err(BundleError::Truncated);
        }
        let kind = rest[0];
        let id: [u8; 16] = rest[1..17]
            .try_into()
            .unwrap_or_else(|_| unreachable!("16 bytes"));
        let len = usize::from(rest[17]);
        let body = rest.get(18..18 + len).ok_or(BundleError::Truncated)?;
        let expected = match kind {
            KIND_MNEMONIC | KIND_GROUP => Some(WRAPPED_LEN),
            KIND_DEVICE => Some(SEALED_LEN),
            _ => None,
        };
        if expected.is_some_and(|e| e != len) {
            return Err(BundleError::SlotLength(index));
        }
        if slots.iter().any(|s| s.kind == kind && s.id == id) {
            return Err(BundleError::DuplicateSlot { kind });
        }
        slots.push(Slot { kind, id, body });
        rest = &rest[18 + len..];
    }
    let of_kind = |k: u8| slots.iter().filter(|s| s.kind == k).count();
    match of_kind(KIND_MNEMONIC) {
        0 => return Err(BundleError::MissingSlot("mnemonic")),
        1 => {}
        _ => return Err(BundleError::ExtraSlot("mnemonic")),
    }
    if of_kind(KIND_GROUP) > 1 {
        return Err(BundleError::ExtraSlot("group"));
    }
    if rest.len() < MIN_PAYLOAD {
        return Err(BundleError::ShortPayload);
    }
    Ok(Parsed {
        slots,
        payload: rest,
    })
}

impl<'a> Parsed<'a> {
    fn slot(&self, kind: u8) -> Option<&Slot<'a>> {
        self.slots.iter().find(|s| s.kind == kind)
    }

    /// The id of the mnemonic slot: the backup id the bundle was made for.
    pub fn backup_id(&self) -> [u8; 16] {
        self.slot(KIND_MNEMONIC)
            .map(|s| s.id)
            .unwrap_or_else(|| unreachable!("parse checked there is one"))
    }

    /// The id of the group key the bundle is under, if it has a group slot.
    pub fn group_key_id(&self) -> Option<[u8; 16]> {
        self.slot(KIND_GROUP).map(|s| s.id)
    }

    /// The device ids the group key is sealed to.
    pub fn device_ids(&self) -> impl Iterator<Item = [u8; 16]> + '_ {
        self.slots
            .iter()
            .filter(|s| s.kind == KIND_DEVICE)
            .map(|s| s.id)
    }

    fn open_payload(&self, data_key: &Secret32) -> Option<Zeroizing<Vec<u8>>> {
        open_nonce_box(data_key, self.payload)
    }

    /// The plaintext, with the mnemonic's bundle key.
    pub fn open_with_bundle_key(&self, bundle_key: &Secret32) -> Option<Zeroizing<Vec<u8>>> {
        let data_key = unwrap_key(bundle_key, self.slot(KIND_MNEMONIC)?.body)?;
        self.open_payload(&data_key)
    }

    /// The plaintext, with the group key (its id must be the group slot's).
    pub fn open_with_group_key(&self, group_key: &Secret32) -> Option<Zeroizing<Vec<u8>>> {
        let slot = self.slot(KIND_GROUP)?;
        if !crypto::ct_eq(&slot.id, &group_key_id(group_key)) {
            return None;
        }
        let data_key = unwrap_key(group_key, slot.body)?;
        self.open_payload(&data_key)
    }

    /// The group key sealed to the device `device_id`, opened with its secret.
    pub fn group_key_for(
        &self,
        device_id: &[u8; 16],
        device_secret: &Secret32,
    ) -> Option<Secret32> {
        let slot = self
            .slots
            .iter()
            .find(|s| s.kind == KIND_DEVICE && &s.id == device_id)?;
        let key = Zeroizing::new(crypto::seal_open(device_secret, slot.body)?);
        let key: [u8; 32] = key.as_slice().try_into().ok()?;
        Some(Secret32::new(key))
    }
}

/// The id of a group key: the first 16 bytes of `HKDF(group key, "group-key-id")`.
pub fn group_key_id(group_key: &Secret32) -> [u8; 16] {
    crypto::hkdf32(group_key.expose(), "group-key-id").expose()[..16]
        .try_into()
        .unwrap_or_else(|_| unreachable!("16 of 32 bytes"))
}

fn open_nonce_box(key: &Secret32, bytes: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let nonce: &[u8; NONCE_LEN] = bytes.get(..NONCE_LEN)?.try_into().ok()?;
    crypto::secretbox_open(key, nonce, &bytes[NONCE_LEN..]).map(Zeroizing::new)
}

fn unwrap_key(wrapping: &Secret32, body: &[u8]) -> Option<Secret32> {
    let key = open_nonce_box(wrapping, body)?;
    let key: [u8; 32] = key.as_slice().try_into().ok()?;
    Some(Secret32::new(key))
}

fn wrap_key(wrapping: &Secret32, nonce: &[u8; NONCE_LEN], key: &Secret32) -> Vec<u8> {
    let mut out = nonce.to_vec();
    out.extend(crypto::secretbox(wrapping, nonce, key.expose()));
    out
}

/// Who a new bundle is for.
#[derive(Debug, Clone)]
pub struct Recipients<'a> {
    /// The backup id (16 bytes) and the mnemonic's bundle key.
    pub backup_id: [u8; 16],
    pub bundle_key: &'a Secret32,
    /// The person's group key.
    pub group_key: &'a Secret32,
    /// The group's devices: id (16 bytes) and X25519 public key.
    pub devices: &'a [([u8; 16], [u8; 32])],
}

/// The random parts of a bundle, drawn by `seal`; given by the test vectors.
#[derive(Debug, Clone)]
pub struct Randomness {
    pub data_key: Secret32,
    pub mnemonic_nonce: [u8; NONCE_LEN],
    pub group_nonce: [u8; NONCE_LEN],
    pub payload_nonce: [u8; NONCE_LEN],
}

impl Randomness {
    pub fn draw() -> Result<Self, crypto::KeyError> {
        Ok(Self {
            data_key: Secret32::random()?,
            mnemonic_nonce: crypto::random_nonce(),
            group_nonce: crypto::random_nonce(),
            payload_nonce: crypto::random_nonce(),
        })
    }
}

/// A v2 bundle of `plaintext` for `to`, with fresh random keys and nonces.
pub fn seal(plaintext: &[u8], to: &Recipients<'_>) -> Result<Vec<u8>, crypto::KeyError> {
    Ok(seal_with(plaintext, to, &Randomness::draw()?))
}

/// A v2 bundle with the given randomness (the device slots' sealed boxes still draw their own
/// ephemeral keys). A device listed twice gets one slot; at most `MAX_SLOTS - 2` devices.
pub fn seal_with(plaintext: &[u8], to: &Recipients<'_>, r: &Randomness) -> Vec<u8> {
    let mut devices: Vec<&([u8; 16], [u8; 32])> = Vec::with_capacity(to.devices.len());
    for d in to.devices {
        if devices.len() < MAX_SLOTS - 2 && !devices.iter().any(|e| e.0 == d.0) {
            devices.push(d);
        }
    }
    let mut out = MAGIC.to_vec();
    out.push(u8::try_from(2 + devices.len()).unwrap_or_else(|_| unreachable!("at most 16 slots")));
    let mut slot = |kind: u8, id: &[u8; 16], body: Vec<u8>| {
        out.push(kind);
        out.extend_from_slice(id);
        out.push(u8::try_from(body.len()).unwrap_or_else(|_| unreachable!("80 bytes at most")));
        out.extend(body);
    };
    slot(
        KIND_MNEMONIC,
        &to.backup_id,
        wrap_key(to.bundle_key, &r.mnemonic_nonce, &r.data_key),
    );
    slot(
        KIND_GROUP,
        &group_key_id(to.group_key),
        wrap_key(to.group_key, &r.group_nonce, &r.data_key),
    );
    for (id, key) in devices {
        slot(KIND_DEVICE, id, crypto::seal(key, to.group_key.expose()));
    }
    out.extend_from_slice(&r.payload_nonce);
    out.extend(crypto::secretbox(&r.data_key, &r.payload_nonce, plaintext));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Secret32 {
        Secret32::new([b; 32])
    }

    fn sample(devices: &[([u8; 16], [u8; 32])]) -> Vec<u8> {
        seal(
            b"{\"v\":1}",
            &Recipients {
                backup_id: [7; 16],
                bundle_key: &key(1),
                group_key: &key(2),
                devices,
            },
        )
        .unwrap()
    }

    #[test]
    fn each_slot_opens_the_same_plaintext_and_nothing_else_does() {
        let device_secret = key(9);
        let device = ([5u8; 16], crypto::x25519_public(&device_secret));
        let bytes = sample(&[device]);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.backup_id(), [7; 16]);
        assert_eq!(parsed.group_key_id(), Some(group_key_id(&key(2))));
        assert_eq!(parsed.device_ids().collect::<Vec<_>>(), [[5u8; 16]]);
        assert_eq!(
            parsed.open_with_bundle_key(&key(1)).unwrap().as_slice(),
            b"{\"v\":1}"
        );
        assert_eq!(
            parsed.open_with_group_key(&key(2)).unwrap().as_slice(),
            b"{\"v\":1}"
        );
        let group = parsed.group_key_for(&[5; 16], &device_secret).unwrap();
        assert_eq!(group, key(2));
        // Wrong keys open nothing.
        assert!(parsed.open_with_bundle_key(&key(2)).is_none());
        assert!(parsed.open_with_group_key(&key(1)).is_none());
        assert!(parsed.group_key_for(&[5; 16], &key(8)).is_none());
        assert!(parsed.group_key_for(&[6; 16], &device_secret).is_none());
    }

    #[test]
    fn altered_or_short_bundles_are_refused() {
        let bytes = sample(&[]);
        assert!(is_v2(&bytes));
        assert_eq!(parse(&bytes[1..]), Err(BundleError::NotV2));
        assert_eq!(parse(&bytes[..9]), Err(BundleError::Truncated));
        assert_eq!(parse(&bytes[..60]), Err(BundleError::Truncated));
        let slots_end = 9 + 2 * (18 + WRAPPED_LEN);
        assert_eq!(
            parse(&bytes[..slots_end + 39]),
            Err(BundleError::ShortPayload)
        );
        let mut zero = bytes.clone();
        zero[8] = 0;
        assert_eq!(parse(&zero), Err(BundleError::SlotCount(0)));
        let mut long = bytes.clone();
        long[8] = 17;
        assert_eq!(parse(&long), Err(BundleError::SlotCount(17)));
        let mut no_mnemonic = bytes.clone();
        no_mnemonic[9] = KIND_GROUP;
        assert_eq!(
            parse(&no_mnemonic),
            Err(BundleError::MissingSlot("mnemonic"))
        );
        let mut two_mnemonic = bytes.clone();
        two_mnemonic[9 + 18 + WRAPPED_LEN] = KIND_MNEMONIC;
        assert_eq!(
            parse(&two_mnemonic),
            Err(BundleError::ExtraSlot("mnemonic"))
        );
        let mut bad_len = bytes.clone();
        bad_len[9 + 17] = 71;
        assert_eq!(parse(&bad_len), Err(BundleError::SlotLength(0)));
        // A flipped payload byte: the structure reads, the payload does not open.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let parsed = parse(&flipped).unwrap();
        assert!(parsed.open_with_bundle_key(&key(1)).is_none());
    }

    #[test]
    fn a_device_listed_twice_gets_one_slot() {
        let d = ([5u8; 16], crypto::x25519_public(&key(9)));
        let parsed_len = |devices: &[([u8; 16], [u8; 32])]| {
            let bytes = sample(devices);
            parse(&bytes).unwrap().slots.len()
        };
        assert_eq!(parsed_len(&[d, d]), 3);
        let many: Vec<_> = (0..20u8).map(|i| ([i; 16], d.1)).collect();
        assert_eq!(parsed_len(&many), MAX_SLOTS);
    }

    #[test]
    fn a_v1_bundle_is_not_read_as_v2() {
        let v1 = crypto::BackupSecrets::from_entropy(&key(3)).seal_bundle(b"{}");
        assert!(!is_v2(&v1));
        assert_eq!(parse(&v1), Err(BundleError::NotV2));
    }
}
