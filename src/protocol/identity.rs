//! The household's identities: `identity.*` and `did.resolve` (protocol §4).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An identity's public keys as the channel carries them (b64u of 32 bytes each): the
/// document's `#signing-key` (ed25519) and `#agreement-key` (X25519).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeysParam {
    pub signing: String,
    pub agreement: String,
}

/// A service entry of a DID document.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// `#fragment` or the full DID URL.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "serviceEndpoint")]
    pub endpoint: String,
}

/// `identity.create`: the phone made the keys; the box makes the IPNS key and publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityCreate {
    pub name: String,
    pub keys: KeysParam,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Service>,
}

/// `identity.update`: what is absent stays as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityUpdate {
    pub did: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeysParam>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<Service>>,
}

super::no_params! {
    /// `identity.list`: the caller's identities.
    IdentityList;
}

/// `identity.get`: one of the caller's identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityGet {
    pub did: String,
}

/// `identity.delete`: publishes the DID as deactivated and erases its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityDelete {
    pub did: String,
}

/// `did.resolve`: any `did:ipid`, this box's or another's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidResolve {
    pub did: String,
}

/// An identity as its owner sees it (`identity.create`, `.get`, `.update`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IdentityView {
    pub did: String,
    pub ipns_name: String,
    pub name: String,
    pub cid: String,
    pub seq: u64,
    pub document: Value,
    pub created: i64,
    pub updated: i64,
}

impl fmt::Display for IdentityView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\"{}\": {} (version {}, document {})",
            self.name, self.did, self.seq, self.cid
        )
    }
}

/// One line of `identity.list`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentitySummary {
    pub did: String,
    pub name: String,
    pub cid: String,
    pub seq: u64,
    pub updated: i64,
}

/// What `identity.list` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityListing {
    pub identities: Vec<IdentitySummary>,
}

impl fmt::Display for IdentityListing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.identities.is_empty() {
            return write!(f, "No identities yet: `identity create NAME` makes one.");
        }
        let lines: Vec<String> = self
            .identities
            .iter()
            .map(|i| format!("{}  {}  (version {})", i.did, i.name, i.seq))
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// What `identity.delete` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deleted {
    pub did: String,
    pub deleted: bool,
}

impl fmt::Display for Deleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Deleted {}: it now resolves as deactivated, and its key is erased.",
            self.did
        )
    }
}

/// What resolving a DID gives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resolution {
    pub document: Value,
    pub metadata: ResolutionMetadata,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let document = serde_json::to_string_pretty(&self.document).map_err(|_| fmt::Error)?;
        let m = &self.metadata;
        write!(
            f,
            "{document}\nversion {}, {}{}",
            m.seq,
            if m.local {
                "held by this box"
            } else {
                "from the network"
            },
            if m.deactivated { ", deactivated" } else { "" }
        )
    }
}

/// Resolution metadata: what the document does not hold (protocol §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResolutionMetadata {
    pub cid: String,
    pub seq: u64,
    /// Unix seconds; known only for identities of this box.
    pub created: Option<i64>,
    pub updated: Option<i64>,
    pub deactivated: bool,
    /// The signed IPNS record (b64u), so that a resolver can check the box's answer itself.
    pub ipns_record: String,
    /// Whether the answer came from this box's own identities.
    pub local: bool,
}
