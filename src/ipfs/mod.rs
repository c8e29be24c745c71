//! The embedded IPFS node: DAG-JSON blocks and pins, IPNS records in the DHT, peers.
//!
//! The only module that knows rust-ipfs and libp2p. Its interface is small on purpose (put and
//! get a JSON document, put and find a name's records, count peers) so that the node could be
//! replaced by libp2p-kad and rust-ipns without touching the DID logic.
//!
//! The node itself is the cargo feature `node` (on by default). Without it (the fuzz targets'
//! build, which then instruments a fifth of the dependencies) `Node` is a type with no value, so
//! everything that would use a node compiles and the parsers are the same code.
//!
//! Two networks ([`Network`]). `lan`, the built-in default: no public bootstrap peers, mDNS
//! discovery dialled by the node's hook (connexa only logs what mDNS finds), and a Kademlia DHT
//! in server mode so that two boxes on one network answer each other's queries. `public`: the
//! node joins the public IPFS DHT through the configured bootstrap peers, serves the DHT only
//! once AutoNAT has confirmed that others can dial it (client mode behind a NAT), and keeps
//! private addresses out of its routing table, so that it never hands them to the internet.

pub mod addr;
pub mod dht_guard;
pub mod dnsaddr;
pub mod name;
pub mod record;

#[cfg(feature = "node")]
mod lan_dht;
#[cfg(feature = "node")]
mod node;
#[cfg(not(feature = "node"))]
mod without_node;

use std::path::PathBuf;
use std::str::FromStr;

use multiaddr::Multiaddr;

pub use name::{IpnsName, NameError};
#[cfg(feature = "node")]
pub use node::DIRECT_WITHIN;
#[cfg(feature = "node")]
pub use node::Node;
pub use record::{RecordError, RecordInfo};
#[cfg(not(feature = "node"))]
pub use without_node::Node;

/// Which IPFS network the node is part of (`ipfs.network`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The home network only: DHT server mode always, peers on private addresses welcome.
    #[default]
    Lan,
    /// The public IPFS network (the Amino DHT): mode from AutoNAT, public addresses only in
    /// the routing table.
    Public,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Lan => "lan",
            Network::Public => "public",
        }
    }
}

/// Whether peers on the network can dial the node, as AutoNAT found (`public` mode only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    /// Not known (yet): `lan` mode, or no answer from peers so far.
    Unknown,
    /// Peers dialled back: the node serves the DHT.
    Public,
    /// Behind a NAT: the node only queries the DHT.
    Private,
}

impl Reachability {
    /// For a person: what it means.
    pub fn describe(self) -> &'static str {
        match self {
            Reachability::Unknown => "not known to be reachable from the internet (yet)",
            Reachability::Public => "reachable from the internet",
            Reachability::Private => "behind a router that other nodes cannot dial through",
        }
    }
}

/// The node's place on its network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetStatus {
    pub network: Network,
    /// Whether it answers other nodes' DHT queries (server mode).
    pub dht_server: bool,
    pub reachability: Reachability,
    /// The relayed addresses others reach the box at (`…/p2p/<relay>/p2p-circuit`), one per
    /// relay that holds a reservation for it; empty when it needs none or has none.
    pub relayed: Vec<String>,
    /// The last attempt to turn a relayed connection into a direct one (DCUtR).
    pub hole_punch: Option<HolePunch>,
    /// What the box's relay server carries now (`ipfs.relay_server`), `None` while it is off.
    pub relay_server: Option<RelayLoad>,
}

/// One attempt at a direct connection through a relayed one (DCUtR's hole punch).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HolePunch {
    /// The other node's peer id.
    pub peer: String,
    /// Whether it worked.
    pub ok: bool,
    /// When it ended, Unix seconds.
    pub at: i64,
    /// Why it did not work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a relay server carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayLoad {
    /// Boxes holding a reservation.
    pub reservations: usize,
    /// Connections relayed right now.
    pub circuits: usize,
}

/// What `Node::reach` found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reach {
    /// The peer id dialled.
    pub peer: String,
    /// How long the first connection took, in milliseconds.
    pub connected_ms: u64,
    /// Whether that first connection went through a relay.
    pub relayed: bool,
    /// When a relayed connection became a direct one (DCUtR), milliseconds from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_ms: Option<u64>,
    /// Why the hole punch failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hole_punch_error: Option<String>,
}

/// The box as a relay for other boxes (`ipfs.relay_server`): off unless turned on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayServerSettings {
    /// Serve as a relay. Only a box that others can dial (a port forward, a public address)
    /// is of use as one.
    pub enabled: bool,
    /// The peer ids (`12D3…`) of the boxes that may reserve a slot: the household's own and
    /// those it trusts. `["*"]`: any node (a relay the household rents out). Anyone may still
    /// connect *to* a box that holds a reservation; the relay sees only Noise ciphertext.
    pub allow: Vec<String>,
    /// Reservations held at once, over all boxes.
    pub max_reservations: usize,
    /// Relayed connections at once, over all boxes.
    pub max_circuits: usize,
    /// How long one relayed connection may last, in seconds.
    pub max_circuit_secs: u64,
    /// How many bytes one relayed connection may carry (both ways together).
    pub max_circuit_bytes: u64,
}

impl Default for RelayServerSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            allow: Vec::new(),
            max_reservations: 32,
            max_circuits: 16,
            max_circuit_secs: 120,
            max_circuit_bytes: 1 << 20,
        }
    }
}

impl RelayServerSettings {
    /// Whether `peer` (a peer id as text) may reserve a slot.
    pub fn allows(&self, peer: &str) -> bool {
        self.allow.iter().any(|a| a == "*" || a == peer)
    }

    /// Checks the settings (configuration validation).
    pub fn check(&self) -> Result<(), String> {
        for peer in &self.allow {
            if peer != "*" && peer.parse::<libp2p_identity::PeerId>().is_err() {
                return Err(format!(
                    "{peer:?} is not a peer id; write a box's peer id (12D3…, `identity-box \
                     status` shows it) or \"*\" for any node"
                ));
            }
        }
        if self.enabled && (self.max_reservations == 0 || self.max_circuits == 0) {
            return Err(
                "max_reservations and max_circuits must be at least 1 while the relay server \
                 is enabled"
                    .into(),
            );
        }
        Ok(())
    }
}

/// How the node starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The network it joins.
    pub network: Network,
    /// The node's repository (blocks, pins); made if missing.
    pub repo: PathBuf,
    /// Multiaddrs to listen on, e.g. `/ip4/0.0.0.0/tcp/4001`.
    pub listen: Vec<String>,
    /// Peers to dial at start and use for the DHT (`/ip4/…/tcp/…/p2p/12D3…`).
    pub bootstrap: Vec<String>,
    /// Find and dial other nodes on the LAN by mDNS.
    pub mdns: bool,
    /// Delegated-routing endpoints every record is put to as well (`https://…`, no path).
    pub delegated_routing: Vec<String>,
    /// Addresses others can dial the box at that it cannot find out itself (a port forward
    /// on the home router), announced as its own from the start.
    pub announce: Vec<String>,
    /// Relays the box reserves a slot on while others cannot dial it
    /// (`/ip4/…/tcp/…/p2p/12D3…`).
    pub relays: Vec<String>,
    /// The box as a relay for others.
    pub relay_server: RelayServerSettings,
    /// The largest request or answer of the sealed channel over libp2p
    /// (`/identity-box/channel/1`), in bytes: larger ones are refused before they are read
    /// whole.
    pub channel_max_bytes: usize,
}

/// The libp2p protocol that carries the sealed channel (protocol §3, "The channel over
/// libp2p"): a request is the envelope `POST /v1/rpc` takes, the answer `{"status", "body"}`.
pub const CHANNEL_PROTOCOL: &str = "/identity-box/channel/1";

/// The most a request through a relay may carry: relays limit what a relayed connection
/// carries (libp2p's default is 128 KiB, the box's own relay's 1 MiB), and a request cut off
/// half way is lost. A larger one waits for a direct connection.
pub const RELAYED_MAX_BYTES: usize = 96 * 1024;

/// Why the node failed.
#[derive(Debug, thiserror::Error)]
pub enum IpfsError {
    /// A configured multiaddr does not parse.
    #[error("{addr:?} is not a valid multiaddr ({reason}); write it like /ip4/0.0.0.0/tcp/4001")]
    BadAddress { addr: String, reason: String },
    /// The node could not start.
    #[error("the IPFS node cannot start: {0}")]
    Start(String),
    /// Listening on an address failed.
    #[error(
        "the IPFS node cannot listen on {addr}: {reason}; choose another address with ipfs.listen"
    )]
    Listen { addr: String, reason: String },
    /// Storing or reading a block failed.
    #[error("the IPFS node cannot store or read the document: {0}")]
    Block(String),
    /// A peer could not be dialled.
    #[error(
        "cannot reach {addr}: {reason}; check that the other box is running, and that its \
         relay (if the address names one) holds a reservation for it"
    )]
    Unreachable { addr: String, reason: String },
    /// A request too large for a relayed connection, and no direct one could be made.
    #[error(
        "this request ({size} bytes) is too large to go through a relay (at most {max} bytes), \
         and the box could not be reached directly; send it when you are at home (on the \
         box's network), or make the box reachable with a port forward (README, \"Reaching a \
         box from outside the home\")"
    )]
    TooLargeForRelay { size: usize, max: usize },
    /// The other end did not answer the channel request.
    #[error("the box did not answer over libp2p: {0}; try again, or at home")]
    Channel(String),
    /// The document is neither here nor found on the network in time.
    #[error("the document {0} was not found")]
    NotFound(String),
}

pub(crate) fn parse_addr(addr: &str) -> Result<Multiaddr, IpfsError> {
    Multiaddr::from_str(addr).map_err(|e| IpfsError::BadAddress {
        addr: addr.to_owned(),
        reason: e.to_string(),
    })
}

/// Checks configured delegated-routing endpoints: `http://` or `https://` URLs with a host, and
/// no query, fragment or password (the box adds `/routing/v1/ipns/<name>` to the path).
pub fn check_endpoints(urls: &[String]) -> Result<(), String> {
    for text in urls {
        let bad = |why: &str| {
            Err(format!(
                "{text:?} {why}; write an endpoint like https://delegated-ipfs.dev"
            ))
        };
        let Ok(url) = url::Url::parse(text) else {
            return bad("is not a URL");
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return bad("is not an http(s) URL with a host");
        }
        if url.query().is_some() || url.fragment().is_some() {
            return bad("has a query or a fragment (the box adds /routing/v1/ipns/<name>)");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return bad("holds a user name or password");
        }
    }
    Ok(())
}

/// Checks configured multiaddrs without starting anything (configuration validation).
pub fn check_addresses<'a>(addrs: impl IntoIterator<Item = &'a String>) -> Result<(), IpfsError> {
    addrs
        .into_iter()
        .try_for_each(|a| parse_addr(a).map(|_| ()))
}

/// Checks configured relays: each a multiaddr that ends in the relay's `/p2p/<peer id>` and
/// does not itself go through a relay.
pub fn check_relays(addrs: &[String]) -> Result<(), String> {
    for text in addrs {
        let addr = parse_addr(text).map_err(|e| e.to_string())?;
        let example = "write a relay like /ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…";
        if !matches!(addr.iter().last(), Some(multiaddr::Protocol::P2p(_))) {
            return Err(format!(
                "{text:?} does not end in the relay's /p2p/<peer id>; {example}"
            ));
        }
        if addr.iter().any(|p| p == multiaddr::Protocol::P2pCircuit) {
            return Err(format!("{text:?} goes through a relay itself; {example}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn relays_must_name_their_peer_and_be_direct() {
        assert!(check_relays(&[format!("/ip4/203.0.113.7/tcp/4001/p2p/{PEER}")]).is_ok());
        assert!(check_relays(&[format!("/dns4/relay.example/tcp/4001/p2p/{PEER}")]).is_ok());
        for bad in [
            "/ip4/203.0.113.7/tcp/4001".to_owned(),
            format!("/ip4/203.0.113.7/tcp/4001/p2p/{PEER}/p2p-circuit/p2p/{PEER}"),
            "203.0.113.7:4001".to_owned(),
        ] {
            let err = check_relays(std::slice::from_ref(&bad)).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn the_relay_server_is_off_and_lets_in_only_the_boxes_it_lists() {
        let mut settings = RelayServerSettings::default();
        assert!(!settings.enabled && settings.allow.is_empty());
        assert!(!settings.allows(PEER));
        settings.allow = vec![PEER.to_owned()];
        assert!(settings.allows(PEER));
        assert!(!settings.allows("12D3KooWAnother"));
        settings.allow = vec!["*".to_owned()];
        assert!(settings.allows("12D3KooWAnother"));
        settings.allow = vec!["my other box".to_owned()];
        assert!(settings.check().unwrap_err().contains("\"my other box\""));
        settings.allow.clear();
        settings.enabled = true;
        settings.max_circuits = 0;
        assert!(settings.check().is_err());
    }
}
