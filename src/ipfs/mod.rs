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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetStatus {
    pub network: Network,
    /// Whether it answers other nodes' DHT queries (server mode).
    pub dht_server: bool,
    pub reachability: Reachability,
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
}

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
