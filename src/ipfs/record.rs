//! IPNS records, built and checked here rather than by rust-ipfs's own IPNS layer (whose
//! publishing cannot re-sign, expire or resolve across nodes).
//!
//! A record carries both signatures (V1 over value ‖ validity ‖ "EOL", V2 over the CBOR data),
//! an end-of-life validity and a sequence number the caller keeps.

use chrono::{DateTime, Utc};
use libp2p_identity::Keypair;
use zeroize::Zeroizing;

use super::IpnsName;

/// How long a resolver may cache a record before asking again (the `TTL` field).
pub const RECORD_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// What a verified record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInfo {
    /// The path it points to, e.g. `/ipfs/bagu…`.
    pub value: String,
    pub seq: u64,
    /// End of life, Unix seconds.
    pub eol: i64,
}

/// Why a record was not made or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Encoding or signing failed.
    #[error("cannot make the IPNS record: {0}")]
    Build(String),
    /// Not a well-formed record, or not signed by the name's key.
    #[error("the IPNS record is not valid for this name: {0}")]
    Invalid(String),
    /// Well formed and signed, but past its end of life.
    #[error("the IPNS record expired at {eol}")]
    Expired { eol: i64, info: RecordInfo },
}

/// Signs a record for the ed25519 key with this 32-byte seed, pointing at `value`.
pub fn sign(seed: &[u8; 32], value: &str, seq: u64, eol: i64) -> Result<Vec<u8>, RecordError> {
    let mut bytes = Zeroizing::new(*seed);
    // The keypair zeroizes its own copy when dropped.
    let keypair =
        Keypair::ed25519_from_bytes(&mut *bytes).map_err(|e| RecordError::Build(e.to_string()))?;
    let eol = DateTime::<Utc>::from_timestamp(eol, 0)
        .ok_or_else(|| RecordError::Build(format!("end of life {eol} is out of range")))?;
    let record = rust_ipns::Record::new(&keypair, value.as_bytes(), eol, seq, RECORD_TTL)
        .map_err(|e| RecordError::Build(e.to_string()))?;
    record
        .encode()
        .map_err(|e| RecordError::Build(e.to_string()))
}

/// The public key of a 32-byte ed25519 seed, as an IPNS name.
pub fn name_of_seed(seed: &[u8; 32]) -> IpnsName {
    let signing = ed25519_dalek::SigningKey::from_bytes(seed);
    match IpnsName::from_ed25519(signing.verifying_key().to_bytes()) {
        Ok(name) => name,
        Err(_) => unreachable!("a dalek verifying key is always a valid point"),
    }
}

/// Decodes `bytes` and checks that `name`'s key signed it and that it is alive at `now`.
pub fn verify(name: &IpnsName, bytes: &[u8], now: i64) -> Result<RecordInfo, RecordError> {
    verify_for_peer(name.peer_id(), bytes, now)
}

/// [`verify`] for the name of any key (the DHT holds names of every kind, RSA included, whose
/// records carry their key): its V2 signature over the CBOR data, the data matching the
/// record's fields, and its end of life after `now`.
pub fn verify_for_peer(
    peer: libp2p_identity::PeerId,
    bytes: &[u8],
    now: i64,
) -> Result<RecordInfo, RecordError> {
    let invalid = |e: rust_ipns::Error| RecordError::Invalid(e.to_string());
    let record = rust_ipns::Record::decode(bytes).map_err(invalid)?;
    record.verify_signature(peer).map_err(invalid)?;
    let data = record.data().map_err(invalid)?;
    let value = String::from_utf8(data.value().to_vec())
        .map_err(|_| RecordError::Invalid("the value is not text".into()))?;
    let eol = record.validity().map_err(invalid)?.timestamp();
    let info = RecordInfo {
        value,
        seq: data.sequence(),
        eol,
    };
    if eol <= now {
        return Err(RecordError::Expired { eol, info });
    }
    Ok(info)
}

/// The record that wins among verified ones: the highest sequence, then the latest end of life.
pub fn best(records: impl IntoIterator<Item = RecordInfo>) -> Option<RecordInfo> {
    records.into_iter().max_by_key(|r| (r.seq, r.eol))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn name(hex_key: &str) -> IpnsName {
        IpnsName::from_ed25519(hex::decode(hex_key).unwrap().try_into().unwrap()).unwrap()
    }

    #[test]
    fn signed_records_verify_and_carry_their_fields() {
        let seed = [7u8; 32];
        let bytes = sign(&seed, "/ipfs/bafyabc", 5, NOW + 3600).unwrap();
        let info = verify(&name_of_seed(&seed), &bytes, NOW).unwrap();
        assert_eq!(
            info,
            RecordInfo {
                value: "/ipfs/bafyabc".into(),
                seq: 5,
                eol: NOW + 3600
            }
        );
        let record = rust_ipns::Record::decode(&bytes).unwrap();
        assert!(record.has_signature_v1() && record.has_signature_v2());
    }

    #[test]
    fn another_key_or_a_changed_byte_is_refused() {
        let bytes = sign(&[7u8; 32], "/ipfs/bafyabc", 5, NOW + 3600).unwrap();
        assert!(matches!(
            verify(&name_of_seed(&[8u8; 32]), &bytes, NOW),
            Err(RecordError::Invalid(_))
        ));
        // No change to any byte alters what the record says. (The V1 signature itself is not
        // checked: the IPNS spec has verifiers rely on V2, and the V1 fields must repeat the
        // V2-signed data.)
        let name = name_of_seed(&[7u8; 32]);
        let original = verify(&name, &bytes, NOW).unwrap();
        let mut refused = 0;
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x01;
            match verify(&name, &changed, NOW) {
                Ok(info) => assert_eq!(info, original, "byte {i} changed the meaning"),
                Err(_) => refused += 1,
            }
        }
        assert!(refused > bytes.len() / 2);
    }

    #[test]
    fn expired_records_are_told_apart() {
        let seed = [7u8; 32];
        let bytes = sign(&seed, "/ipfs/x", 1, NOW).unwrap();
        assert!(matches!(
            verify(&name_of_seed(&seed), &bytes, NOW),
            Err(RecordError::Expired { eol: NOW, .. })
        ));
    }

    /// Records made by kubo (tests/data/ipns/SOURCE.txt): our checker accepts their signatures.
    #[test]
    fn kubo_records_verify() {
        let cases = [
            (
                "test.ipns",
                "fa9b1cf006fb1ea7232d9a9a04d7b354a14402b2442f8cdc4b43e08733e9b554",
                "/ipfs/QmXmn52uRDHAdS57B5nfBvU7Xba8sRHpQkrPmqd1pwSHCh",
                10,
            ),
            (
                "test_seq_zero.ipns",
                "093967cbb3fd4d920b77715f179dbd555f17b5f930e2647ca4a3ed69569cffb4",
                "/ipfs/QmRir6d4XmC4sEBVahZ5WJQA2WgftNnE8rauqqgVoQLBBS",
                0,
            ),
        ];
        for (file, key, value, seq) in cases {
            let bytes = std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/data/ipns")
                    .join(file),
            )
            .unwrap();
            // Their end of life was in 2025: verified at an earlier time, then as expired now.
            let info = verify(&name(key), &bytes, 1_700_000_000).unwrap();
            assert_eq!((info.value.as_str(), info.seq), (value, seq));
            assert!(matches!(
                verify(&name(key), &bytes, NOW),
                Err(RecordError::Expired { .. })
            ));
        }
    }

    #[test]
    fn the_highest_sequence_then_the_latest_eol_wins() {
        let r = |seq, eol| RecordInfo {
            value: String::new(),
            seq,
            eol,
        };
        assert_eq!(best([r(1, 9), r(2, 5), r(2, 7)]), Some(r(2, 7)));
        assert_eq!(best(Vec::new()), None);
    }
}
