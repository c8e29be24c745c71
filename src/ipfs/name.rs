//! IPNS names of ed25519 keys: the key's libp2p peer id written as a CIDv1 (codec `libp2p-key`)
//! in base36, the `k51…` form every IPFS implementation prints.

use std::fmt;
use std::str::FromStr;

use libp2p_identity::PeerId;
use libp2p_identity::{PublicKey, ed25519};

/// Multicodec `libp2p-key`.
const LIBP2P_KEY: u8 = 0x72;
/// CID version 1.
const CID_V1: u8 = 0x01;

/// An IPNS name backed by an ed25519 key (the only kind a `did:ipid` uses).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpnsName {
    public_key: [u8; 32],
}

/// Why a string is not an IPNS name of an ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not base36 multibase (`k…`).
    #[error("an IPNS name is base36 and starts with \"k\"")]
    NotBase36,
    /// Not a CIDv1 with the `libp2p-key` codec.
    #[error("not a CIDv1 of a libp2p key")]
    NotLibp2pKey,
    /// The peer id does not carry a public key inline, or it is not a valid key.
    #[error("the name does not hold a valid public key")]
    BadKey,
    /// A valid key of another type (RSA, secp256k1…).
    #[error("the name's key is not an ed25519 key")]
    NotEd25519,
}

impl IpnsName {
    /// The name of an ed25519 public key. Fails for bytes that are not a point on the curve.
    pub fn from_ed25519(public_key: [u8; 32]) -> Result<Self, NameError> {
        ed25519::PublicKey::try_from_bytes(&public_key).map_err(|_| NameError::BadKey)?;
        Ok(Self { public_key })
    }

    /// The ed25519 public key that signs this name's records.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The libp2p peer id (identity multihash of the protobuf-encoded key).
    pub fn peer_id(&self) -> PeerId {
        libp2p_public_key(&self.public_key).to_peer_id()
    }

    /// The DHT key of this name's records: `/ipns/` and the peer id's bytes.
    pub fn record_key(&self) -> Vec<u8> {
        [b"/ipns/".as_slice(), &self.peer_id().to_bytes()].concat()
    }

    /// The name whose key a peer id carries inline (ed25519 peer ids, `12D3Koo…`).
    pub fn of_peer(peer_id: &PeerId) -> Result<Self, NameError> {
        let multihash = peer_id.as_ref();
        // Identity multihash (code 0): the key is inline. Larger keys are hashed and cannot be
        // ed25519.
        if multihash.code() != 0 {
            return Err(NameError::NotEd25519);
        }
        let key =
            PublicKey::try_decode_protobuf(multihash.digest()).map_err(|_| NameError::BadKey)?;
        let ed = key.try_into_ed25519().map_err(|_| NameError::NotEd25519)?;
        Ok(Self {
            public_key: ed.to_bytes(),
        })
    }

    /// Any spelling an IPFS gateway accepts for a name (the IPFS path specification): the
    /// canonical `k51…`, the same CID in another multibase (`bafzaa…`), or the bare peer id in
    /// base58 (`12D3Koo…`). DIDs take only the canonical form ([`FromStr`]).
    pub fn from_any_form(s: &str) -> Result<Self, NameError> {
        if s.len() > 200 {
            return Err(NameError::NotLibp2pKey);
        }
        if let Ok(name) = s.parse() {
            return Ok(name);
        }
        if let Ok(peer_id) = s.parse::<PeerId>() {
            return Self::of_peer(&peer_id);
        }
        let (_, bytes) = multibase::decode(s).map_err(|_| NameError::NotLibp2pKey)?;
        match bytes.as_slice() {
            [CID_V1, LIBP2P_KEY, rest @ ..] => {
                Self::of_peer(&PeerId::from_bytes(rest).map_err(|_| NameError::BadKey)?)
            }
            _ => Err(NameError::NotLibp2pKey),
        }
    }

    fn cid_bytes(&self) -> Vec<u8> {
        [[CID_V1, LIBP2P_KEY].as_slice(), &self.peer_id().to_bytes()].concat()
    }
}

pub(crate) fn libp2p_public_key(key: &[u8; 32]) -> PublicKey {
    // The bytes were checked when the name was made.
    match ed25519::PublicKey::try_from_bytes(key) {
        Ok(k) => PublicKey::from(k),
        Err(_) => unreachable!("IpnsName holds only valid ed25519 keys"),
    }
}

impl fmt::Display for IpnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&multibase::encode(
            multibase::Base::Base36Lower,
            self.cid_bytes(),
        ))
    }
}

impl fmt::Debug for IpnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IpnsName({self})")
    }
}

impl FromStr for IpnsName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, NameError> {
        // Only the canonical lower-case form: one DID, one spelling.
        if !s.starts_with('k') || s.len() > 100 {
            return Err(NameError::NotBase36);
        }
        let (_, bytes) = multibase::decode(s).map_err(|_| NameError::NotBase36)?;
        let peer = match bytes.as_slice() {
            [CID_V1, LIBP2P_KEY, rest @ ..] => rest,
            _ => return Err(NameError::NotLibp2pKey),
        };
        let peer_id = PeerId::from_bytes(peer).map_err(|_| NameError::BadKey)?;
        let name = Self::of_peer(&peer_id)?;
        // Reject non-canonical spellings (upper case, padding…): they would name the same key
        // with another string.
        if name.to_string() != s {
            return Err(NameError::NotBase36);
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// RFC 8032 test 1's public key; its peer id and name were computed by
    /// `tests/interop/ipns_check.py name …` (written from the specifications, sharing no code
    /// with libp2p) and are fixed here.
    const RFC8032_PUB: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn known_key_gives_known_name() {
        let key: [u8; 32] = hex::decode(RFC8032_PUB).unwrap().try_into().unwrap();
        let name = IpnsName::from_ed25519(key).unwrap();
        assert_eq!(
            name.peer_id().to_string(),
            "12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV"
        );
        assert_eq!(
            name.to_string(),
            "k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq"
        );
        assert_eq!(name.to_string().parse::<IpnsName>().unwrap(), name);
    }

    #[test]
    fn rejects_what_is_not_an_ed25519_name() {
        for bad in [
            "",
            "k",
            "K51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq",
            "bafyreigh2akiscaildc5qomxfq4h3bvwxgb7g6gxhy3ah7wbsm5f6cfjs4",
            "12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV",
            "k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwg",
        ] {
            assert!(bad.parse::<IpnsName>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_gateway_takes_every_spelling_of_a_name_and_nothing_else() {
        let key: [u8; 32] = hex::decode(RFC8032_PUB).unwrap().try_into().unwrap();
        let name = IpnsName::from_ed25519(key).unwrap();
        // The base32 CID was written by Python's base64.b32encode from the CID's bytes.
        for spelling in [
            "k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq",
            "12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV",
            "bafzaajaiaejcbv22taayfmikw7kux7wtzfsaooqo4fzphwvgems26aq2nd3qoui2",
        ] {
            assert_eq!(
                IpnsName::from_any_form(spelling).unwrap(),
                name,
                "{spelling}"
            );
        }
        for bad in [
            "",
            "bafyreigh2akiscaildc5qomxfq4h3bvwxgb7g6gxhy3ah7wbsm5f6cfjs4",
            // An RSA-style (sha256-hashed) peer id holds no key.
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
            "12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5p",
        ] {
            assert!(
                IpnsName::from_any_form(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    proptest! {
        #[test]
        fn any_form_never_panics(s in "[0-9a-zA-Z]{0,120}") {
            let _ = IpnsName::from_any_form(&s);
        }

        #[test]
        fn names_round_trip(seed in any::<[u8; 32]>()) {
            let key = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
            let name = IpnsName::from_ed25519(key).unwrap();
            let text = name.to_string();
            prop_assert!(text.starts_with("k51"));
            prop_assert_eq!(text.parse::<IpnsName>().unwrap(), name);
        }

        #[test]
        fn parsing_never_panics(s in "k[0-9a-z]{0,80}") {
            let _ = s.parse::<IpnsName>();
        }
    }
}
