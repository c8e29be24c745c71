//! The box itself: `box.info` and `box.factory_reset` (protocol §3).

use std::fmt;

use serde::{Deserialize, Serialize};

super::no_params! {
    /// `box.info`: the box's facts, through the channel.
    BoxInfo;
}

/// What `box.info` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoxFacts {
    pub name: String,
    pub version: String,
    /// The box agreement key, b64u.
    pub agreement_key: String,
    /// The box signing key, b64u.
    pub signing_key: String,
    pub fingerprint: String,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// The box's clock, Unix seconds.
    pub time: i64,
    pub pairing_open: bool,
    pub ipfs_peers: u64,
    pub devices: u64,
    pub identities: u64,
    /// How boxes and phones outside the home reach the box (absent while its IPFS node is
    /// not running; protocol §4, "Across homes").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<BoxNetwork>,
}

/// The box's IPFS node as others on the network see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoxNetwork {
    /// The node's peer id (`12D3…`): what a phone or box pins when it reaches the box over
    /// libp2p.
    pub peer_id: String,
    /// What AutoNAT found: `unknown`, `public` (others dial the box directly) or `private`.
    pub reachability: crate::ipfs::Reachability,
    /// The relayed addresses the box holds a reservation at, each dialable as written.
    pub relayed: Vec<String>,
    /// The last attempt to turn a relayed connection into a direct one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hole_punch: Option<crate::ipfs::HolePunch>,
}

impl BoxNetwork {
    /// For a person: whether and how the box can be reached from outside the home.
    pub fn describe(&self) -> String {
        use crate::ipfs::Reachability;
        let mut line = match (self.reachability, self.relayed.len()) {
            (Reachability::Public, _) => "directly (others can dial it)".to_owned(),
            (_, 0) => "not from outside the home (no relay holds a slot for it)".to_owned(),
            (_, 1) => "through 1 relay".to_owned(),
            (_, n) => format!("through {n} relays"),
        };
        if let Some(punch) = &self.hole_punch {
            line.push_str(if punch.ok {
                "; the last hole punch made a direct connection"
            } else {
                "; the last hole punch failed (the connection stayed relayed)"
            });
        }
        line
    }
}

impl fmt::Display for BoxFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Box \"{}\" (version {})", self.name, self.version)?;
        writeln!(f, "  box key       {}", self.agreement_key)?;
        writeln!(f, "  fingerprint   {}", self.fingerprint)?;
        writeln!(f, "  uptime        {} s", self.uptime_s)?;
        writeln!(f, "  devices       {}", self.devices)?;
        writeln!(f, "  identities    {}", self.identities)?;
        writeln!(f, "  IPFS peers    {}", self.ipfs_peers)?;
        if let Some(network) = &self.network {
            writeln!(f, "  peer id       {}", network.peer_id)?;
            writeln!(f, "  reachable     {}", network.describe())?;
            for addr in &network.relayed {
                writeln!(f, "    at          {addr}")?;
            }
        }
        write!(f, "  pairing open  {}", self.pairing_open)
    }
}

/// The words `box.factory_reset` must carry, so that no stray call erases a household's box.
pub const RESET_CONFIRMATION: &str = "erase everything";

/// `box.factory_reset`: the owner erases the box; `confirm` must be [`RESET_CONFIRMATION`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactoryReset {
    pub confirm: String,
}

/// What `box.factory_reset` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Erased {
    pub erased: bool,
}

impl fmt::Display for Erased {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.erased {
            write!(
                f,
                "The box is erasing everything and will start again as a new box."
            )
        } else {
            write!(f, "The box was not erased.")
        }
    }
}

/// `GET /v1/info` (protocol §7): public facts a phone needs before pairing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub version: String,
    /// The box agreement key, b64u.
    pub agreement_key: String,
    /// The box signing key, b64u.
    pub signing_key: String,
    /// `fp` of protocol §8.
    pub fingerprint: String,
    /// The box's clock, Unix seconds (clients learn their offset from it).
    pub time: i64,
    pub pairing_open: bool,
    /// When the open pairing window closes (box clock); `None` while closed or when it stays
    /// open until a phone pairs.
    #[serde(default)]
    pub pairing_expires: Option<i64>,
    /// Seconds since the daemon started.
    #[serde(default)]
    pub uptime_s: u64,
    /// When the newest backup version of any backup was made (box clock); nothing more about
    /// backups is public.
    #[serde(default)]
    pub last_backup_at: Option<i64>,
}

/// `GET /v1/people` (protocol §7): each person's devices, as the web page shows them: names
/// and when they were last seen, never ids or keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct People {
    pub people: Vec<Person>,
}

/// One person (a group of devices, protocol §2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Person {
    pub devices: Vec<PersonDevice>,
}

/// A device of a person, as the web page shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PersonDevice {
    pub name: String,
    /// Box time; `null` if never recorded.
    pub last_seen: Option<i64>,
    /// Waiting for an owner's approval.
    pub pending: bool,
}
