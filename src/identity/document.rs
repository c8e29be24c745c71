//! DID documents (W3C DID Core) with Multikey verification methods (protocol §4).
//!
//! The document names the phone's keys: `#signing-key` (ed25519, `z6Mk…`) for authentication
//! and assertions, `#agreement-key` (X25519, `z6LS…`) for key agreement. Times and sequence
//! numbers are resolution metadata, never part of the document.

use serde_json::{Value, json};

use super::did::Did;
use crate::crypto::{self, b64u_decode};
pub use crate::protocol::identity::{KeysParam, Service};

pub const CONTEXT: [&str; 2] = [
    "https://www.w3.org/ns/did/v1",
    "https://w3id.org/security/multikey/v1",
];
pub const SIGNING_KEY: &str = "signing-key";
pub const AGREEMENT_KEY: &str = "agreement-key";

/// Multicodec prefixes (unsigned varints) of the public keys a Multikey carries.
const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const X25519_PUB: [u8; 2] = [0xec, 0x01];

/// Most services one document lists.
pub const MAX_SERVICES: usize = 16;
const MAX_FIELD: usize = 512;

/// The phone's public keys that a document lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKeys {
    pub signing: [u8; 32],
    pub agreement: [u8; 32],
}

impl KeysParam {
    /// Decodes and checks both keys: a usable ed25519 key and an X25519 key of large order.
    pub fn decode(&self) -> Result<PublicKeys, String> {
        let key = |text: &str, what: &str| -> Result<[u8; 32], String> {
            b64u_decode(text)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("keys.{what} must be 32 bytes in base64url"))
        };
        let signing = key(&self.signing, "signing")?;
        let agreement = key(&self.agreement, "agreement")?;
        crypto::check_ed25519_public(&signing)
            .map_err(|e| format!("keys.signing is not a usable ed25519 public key ({e})"))?;
        crypto::check_x25519_public(&agreement)
            .map_err(|e| format!("keys.agreement is not a usable X25519 public key ({e})"))?;
        Ok(PublicKeys { signing, agreement })
    }
}

/// Checks services from a phone and writes their ids as full DID URLs.
pub fn normalize_services(did: &Did, services: Vec<Service>) -> Result<Vec<Service>, String> {
    if services.len() > MAX_SERVICES {
        return Err(format!("a document lists at most {MAX_SERVICES} services"));
    }
    let mut seen = std::collections::HashSet::new();
    services
        .into_iter()
        .map(|s| {
            let fragment =
                s.id.strip_prefix(&format!("{did}#"))
                    .or_else(|| s.id.strip_prefix('#'))
                    .ok_or_else(|| {
                        format!("service id {:?} must be \"#name\" or \"{did}#name\"", s.id)
                    })?;
            let fragment_ok = !fragment.is_empty()
                && fragment.len() <= 64
                && fragment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !fragment_ok || [SIGNING_KEY, AGREEMENT_KEY].contains(&fragment) {
                return Err(format!(
                    "service id {:?} needs a name of letters, digits, '-', '_' or '.', other than \
                     the key names",
                    s.id
                ));
            }
            if !seen.insert(fragment.to_owned()) {
                return Err(format!("two services are called #{fragment}"));
            }
            if s.kind.is_empty() || s.kind.len() > 64 || s.kind.chars().any(char::is_control) {
                return Err("a service type is 1 to 64 printable characters".into());
            }
            if s.endpoint.len() > MAX_FIELD || url::Url::parse(&s.endpoint).is_err() {
                return Err(format!(
                    "service endpoint {:?} must be an absolute URL of at most {MAX_FIELD} bytes",
                    s.endpoint.chars().take(80).collect::<String>()
                ));
            }
            Ok(Service {
                id: did.url(fragment),
                kind: s.kind,
                endpoint: s.endpoint,
            })
        })
        .collect()
}

/// `z…` Multikey (base58btc, multicodec-prefixed) of an ed25519 public key: `z6Mk…`.
pub fn multikey_ed25519(key: &[u8; 32]) -> String {
    multikey(ED25519_PUB, key)
}

/// `z…` Multikey of an X25519 public key: `z6LS…`.
pub fn multikey_x25519(key: &[u8; 32]) -> String {
    multikey(X25519_PUB, key)
}

fn multikey(prefix: [u8; 2], key: &[u8; 32]) -> String {
    multibase::encode(multibase::Base::Base58Btc, [&prefix[..], key].concat())
}

/// The document of a live identity.
pub fn document(did: &Did, keys: &PublicKeys, services: &[Service]) -> Value {
    let id = did.to_string();
    let signing = did.url(SIGNING_KEY);
    let agreement = did.url(AGREEMENT_KEY);
    let mut doc = json!({
        "@context": CONTEXT,
        "id": id,
        "controller": id,
        "verificationMethod": [
            {
                "id": signing,
                "type": "Multikey",
                "controller": id,
                "publicKeyMultibase": multikey_ed25519(&keys.signing),
            },
            {
                "id": agreement,
                "type": "Multikey",
                "controller": id,
                "publicKeyMultibase": multikey_x25519(&keys.agreement),
            }
        ],
        "authentication": [signing],
        "assertionMethod": [signing],
        "keyAgreement": [agreement],
    });
    if !services.is_empty() {
        doc["service"] = json!(services);
    }
    doc
}

/// Reads back the keys and services of a live document this box's format describes (a
/// document from a backup, to republish on a box that lost it). The caller rebuilds the
/// document with [`document`], so nothing but these parts is ever published.
pub fn parse_live(did: &Did, doc: &Value) -> Result<(PublicKeys, Vec<Service>), String> {
    check_shape(did, doc)?;
    if is_deactivated(doc) {
        return Err("the document is deactivated".into());
    }
    let key = |fragment: &str, prefix: [u8; 2]| -> Result<[u8; 32], String> {
        let url = did.url(fragment);
        let text = doc["verificationMethod"]
            .as_array()
            .and_then(|methods| methods.iter().find(|m| m["id"] == url.as_str()))
            .and_then(|m| m["publicKeyMultibase"].as_str())
            .ok_or_else(|| format!("the document has no {fragment}"))?;
        let (_, bytes) = multibase::decode(text).map_err(|e| format!("{fragment}: {e}"))?;
        bytes
            .strip_prefix(&prefix[..])
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| format!("{fragment} is not a key of the expected type"))
    };
    let keys = PublicKeys {
        signing: key(SIGNING_KEY, ED25519_PUB)?,
        agreement: key(AGREEMENT_KEY, X25519_PUB)?,
    };
    let services: Vec<Service> = match doc.get("service") {
        Some(s) => serde_json::from_value(s.clone()).map_err(|e| format!("service: {e}"))?,
        None => Vec::new(),
    };
    let services = normalize_services(did, services)?;
    Ok((keys, services))
}

/// What a deleted identity publishes before its key is destroyed.
pub fn deactivated(did: &Did) -> Value {
    json!({ "id": did.to_string(), "deactivated": true })
}

/// Whether a document says it is deactivated.
pub fn is_deactivated(doc: &Value) -> bool {
    doc.get("deactivated") == Some(&Value::Bool(true))
}

/// What any `did:ipid` document from the network must be to resolve (DID Core's conformance,
/// whoever published it: another box, Helia, kubo): a JSON object whose `id` is the DID, whose
/// `verificationMethod`, if present, lists methods with an `id`, a `type` and a `controller`,
/// and whose verification relationships, if present, are lists of method ids or methods. A
/// box's own documents meet the stricter [`check_shape`].
pub fn check_conformance(did: &Did, doc: &Value) -> Result<(), String> {
    let id = did.to_string();
    if doc.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err("the document's id is not the DID".into());
    }
    // A deactivated DID resolves as deactivated whatever else its document says.
    if is_deactivated(doc) {
        return Ok(());
    }
    let is_method = |m: &Value| {
        ["id", "type", "controller"]
            .iter()
            .all(|k| m.get(*k).is_some_and(Value::is_string))
    };
    if let Some(methods) = doc.get("verificationMethod") {
        let methods = methods
            .as_array()
            .ok_or("verificationMethod is not a list")?;
        if !methods.iter().all(is_method) {
            return Err("a verification method lacks its id, type or controller".into());
        }
    }
    for relation in [
        "authentication",
        "assertionMethod",
        "keyAgreement",
        "capabilityInvocation",
        "capabilityDelegation",
    ] {
        if let Some(refs) = doc.get(relation) {
            let ok = refs
                .as_array()
                .is_some_and(|r| r.iter().all(|r| r.is_string() || is_method(r)));
            if !ok {
                return Err(format!("{relation} is not a list of method ids or methods"));
            }
        }
    }
    Ok(())
}

/// Checks the DID Core shape a document for `did` must have: its `id`, and for a live document
/// the context, the controller and verification methods that the relationships point to.
pub fn check_shape(did: &Did, doc: &Value) -> Result<(), String> {
    let id = did.to_string();
    if doc.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err("the document's id is not the DID".into());
    }
    if is_deactivated(doc) {
        return Ok(());
    }
    let context: Vec<&str> = doc
        .get("@context")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if context.first() != Some(&CONTEXT[0]) {
        return Err("@context must start with the DID v1 context".into());
    }
    let methods = doc
        .get("verificationMethod")
        .and_then(Value::as_array)
        .ok_or("verificationMethod is missing")?;
    let mut ids = Vec::new();
    for m in methods {
        let mid = m
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a method has no id")?;
        let key = m
            .get("publicKeyMultibase")
            .and_then(Value::as_str)
            .ok_or("a method has no publicKeyMultibase")?;
        if m.get("type").and_then(Value::as_str) != Some("Multikey")
            || m.get("controller").and_then(Value::as_str).is_none()
            || !mid.starts_with(&format!("{id}#"))
            || !key.starts_with('z')
        {
            return Err(format!(
                "verification method {mid} is not a Multikey of this DID"
            ));
        }
        ids.push(mid);
    }
    for relation in ["authentication", "assertionMethod", "keyAgreement"] {
        let refs = doc
            .get(relation)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{relation} is missing"))?;
        if refs
            .iter()
            .any(|r| !r.as_str().is_some_and(|r| ids.contains(&r)))
        {
            return Err(format!(
                "{relation} names a method the document does not have"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn did() -> Did {
        "did:ipid:k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq"
            .parse()
            .unwrap()
    }

    /// Keys from the did:key specification's examples carry the multicodec prefixes used here.
    #[test]
    fn multikeys_match_did_key_vectors() {
        for (vector, prefix) in [
            (
                "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
                ED25519_PUB,
            ),
            (
                "z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc",
                X25519_PUB,
            ),
        ] {
            let (_, bytes) = multibase::decode(vector).unwrap();
            assert_eq!(bytes[..2], prefix);
            let key: [u8; 32] = bytes[2..].try_into().unwrap();
            let again = if prefix == ED25519_PUB {
                multikey_ed25519(&key)
            } else {
                multikey_x25519(&key)
            };
            assert_eq!(again, vector);
        }
    }

    #[test]
    fn documents_have_did_cores_shape() {
        let keys = PublicKeys {
            signing: [1; 32],
            agreement: [2; 32],
        };
        let services = normalize_services(
            &did(),
            vec![Service {
                id: "#inbox".into(),
                kind: "DIDCommMessaging".into(),
                endpoint: "https://example.com/inbox".into(),
            }],
        )
        .unwrap();
        let doc = document(&did(), &keys, &services);
        check_shape(&did(), &doc).unwrap();
        assert_eq!(doc["@context"], json!(CONTEXT));
        assert_eq!(doc["controller"], json!(did().to_string()));
        assert_eq!(doc["service"][0]["id"], json!(did().url("inbox")));
        assert_eq!(doc["keyAgreement"][0], json!(did().url(AGREEMENT_KEY)));
        assert!(doc.get("created").is_none() && doc.get("updated").is_none());

        let mut broken = doc.clone();
        broken["authentication"] = json!([did().url("nothing")]);
        assert!(check_shape(&did(), &broken).is_err());
        let dead = deactivated(&did());
        assert!(is_deactivated(&dead) && check_shape(&did(), &dead).is_ok());
    }

    #[test]
    fn any_conforming_document_of_the_did_resolves_from_the_network() {
        let id = did().to_string();
        let minimal = json!({ "@context": ["https://www.w3.org/ns/did/v1"], "id": id });
        check_conformance(&did(), &minimal).unwrap();
        let keys = PublicKeys {
            signing: [1; 32],
            agreement: [2; 32],
        };
        check_conformance(&did(), &document(&did(), &keys, &[])).unwrap();
        let method = json!({ "id": format!("{id}#k"), "type": "JsonWebKey2020",
            "controller": id, "publicKeyJwk": {} });
        let with_jwk = json!({ "id": id, "verificationMethod": [method],
            "authentication": [format!("{id}#k"), method] });
        check_conformance(&did(), &with_jwk).unwrap();
        // Not the box's shape, so a box would never publish it; another node may.
        assert!(check_shape(&did(), &minimal).is_err());
        for bad in [
            json!({ "id": "did:ipid:k51other" }),
            json!([id]),
            json!({ "id": id, "verificationMethod": {} }),
            json!({ "id": id, "verificationMethod": [{ "id": "x" }] }),
            json!({ "id": id, "authentication": "x" }),
            json!({ "id": id, "keyAgreement": [1] }),
        ] {
            assert!(check_conformance(&did(), &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_services_and_keys_are_refused() {
        let svc = |id: &str, endpoint: &str| Service {
            id: id.into(),
            kind: "Web".into(),
            endpoint: endpoint.into(),
        };
        for bad in [
            vec![svc("inbox", "https://a")],
            vec![svc("#signing-key", "https://a")],
            vec![svc("#a b", "https://a")],
            vec![svc("#a", "not a url")],
            vec![svc("#a", "https://a"), svc("#a", "https://b")],
            vec![svc("did:ipid:other#a", "https://a")],
        ] {
            assert!(normalize_services(&did(), bad.clone()).is_err(), "{bad:?}");
        }
        let zero = crate::crypto::b64u(&[0; 32]);
        let good_ed = crate::crypto::b64u(
            &ed25519_dalek::SigningKey::from_bytes(&[5; 32])
                .verifying_key()
                .to_bytes(),
        );
        let good_x = crate::crypto::b64u(&crate::crypto::x25519_public(
            &crate::crypto::Secret32::new([6; 32]),
        ));
        let keys = |s: &str, a: &str| KeysParam {
            signing: s.into(),
            agreement: a.into(),
        };
        assert!(keys(&good_ed, &good_x).decode().is_ok());
        assert!(keys(&good_ed, &zero).decode().is_err());
        assert!(keys(&zero, &good_x).decode().is_err());
        assert!(keys("short", &good_x).decode().is_err());
    }

    #[test]
    fn a_document_parses_back_into_its_parts() {
        let keys = PublicKeys {
            signing: [7; 32],
            agreement: [8; 32],
        };
        let services = normalize_services(
            &did(),
            vec![Service {
                id: "#inbox".into(),
                kind: "Inbox".into(),
                endpoint: "https://example.org/inbox".into(),
            }],
        )
        .unwrap();
        let doc = document(&did(), &keys, &services);
        let (k, s) = parse_live(&did(), &doc).unwrap();
        assert_eq!((k, &s), (keys, &services));
        assert_eq!(document(&did(), &k, &s), doc);
        assert!(parse_live(&did(), &deactivated(&did())).is_err());
        let mut swapped = doc.clone();
        swapped["verificationMethod"][0]["publicKeyMultibase"] = json!(multikey_x25519(&[7; 32]));
        assert!(parse_live(&did(), &swapped).is_err());
    }
}
