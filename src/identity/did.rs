//! `did:ipid` identifiers (protocol §4): `did:ipid:` and the IPNS name of the identity key.

use std::fmt;
use std::str::FromStr;

use crate::ipfs::IpnsName;

/// The DID method prefix.
pub const PREFIX: &str = "did:ipid:";

/// A `did:ipid` DID.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Did(IpnsName);

/// Why a string is not a `did:ipid` DID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidError {
    #[error("a DID of this box starts with \"did:ipid:\"")]
    NotIpid,
    #[error("\"{did}\" is not a valid did:ipid DID: {reason}")]
    BadName { did: String, reason: String },
}

impl Did {
    pub fn new(name: IpnsName) -> Self {
        Self(name)
    }

    pub fn ipns_name(&self) -> &IpnsName {
        &self.0
    }

    /// A DID URL naming something in the document, e.g. `#signing-key`.
    pub fn url(&self, fragment: &str) -> String {
        format!("{self}#{fragment}")
    }
}

impl fmt::Display for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.0)
    }
}

impl fmt::Debug for Did {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Did({self})")
    }
}

impl FromStr for Did {
    type Err = DidError;

    fn from_str(s: &str) -> Result<Self, DidError> {
        let name = s.strip_prefix(PREFIX).ok_or(DidError::NotIpid)?;
        let name = name.parse::<IpnsName>().map_err(|e| DidError::BadName {
            did: s.chars().take(120).collect(),
            reason: e.to_string(),
        })?;
        Ok(Self(name))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dids_parse_and_print() {
        let text = "did:ipid:k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq";
        let did: Did = text.parse().unwrap();
        assert_eq!(did.to_string(), text);
        assert_eq!(did.url("signing-key"), format!("{text}#signing-key"));
        assert_eq!("did:web:example.com".parse::<Did>(), Err(DidError::NotIpid));
        assert!(matches!(
            "did:ipid:k51nope".parse::<Did>(),
            Err(DidError::BadName { .. })
        ));
        assert!("did:ipid:".parse::<Did>().is_err());
    }
}
