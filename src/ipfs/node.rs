//! The running node (feature `node`): rust-ipfs with Kademlia, bitswap and mDNS.

use std::time::Duration;

use connexa::behaviour::BehaviourEvent;
use connexa::prelude::dht as kad;
use connexa::prelude::dht::store::RecordStore as _;
use futures_util::StreamExt;
use ipld_core::cid::Cid;
use rust_ipfs::block::BlockCodec;
use rust_ipfs::swarm::SwarmEvent;
use rust_ipfs::swarm::dial_opts::DialOpts;
use rust_ipfs::{DhtMode, Ipfs, IpfsPath, Keypair, Quorum, RecordKey};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::dht_guard::{DhtGuard, GuardLimits, GuardStats, MAX_RECORD_BYTES, OWN_RECORDS};
use super::lan_dht::{LanDht, LanJob};
use super::{
    HolePunch, IpfsError, IpnsName, NetStatus, Network, NodeConfig, Reach, Reachability, RelayLoad,
    parse_addr,
};

/// A running node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    ipfs: Ipfs,
    peer_id: String,
    /// What peers may put into the DHT record store.
    guard: GuardedStore,
    /// The network, DHT mode and reachability, as the swarm's hook last saw them.
    net: std::sync::Arc<std::sync::Mutex<NetStatus>>,
    publish: mpsc::Sender<Announce>,
    /// What the swarm's task does next turn: provider records (both DHTs) and the LAN DHT's
    /// records (`/ipfs/lan/kad/1.0.0`).
    jobs: mpsc::Sender<LanJob>,
    /// The publisher and the relay keeper, stopped with the node.
    publisher: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    links: SharedLinks,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", &self.peer_id)
            .finish()
    }
}

/// What the publisher puts into the DHT (and to the delegated-routing endpoints).
enum Announce {
    /// An IPNS record under its DHT key, and its name (`k51…`).
    Record(Vec<u8>, Vec<u8>, String),
}

/// Jobs waiting for the swarm's task; beyond this they are dropped (the next republish round
/// sends them again).
const JOB_QUEUE: usize = 4096;

/// Connections and hole punches as the swarm's hook sees them, for [`Node::reach`] and
/// [`Node::channel_call`].
type SharedLinks = std::sync::Arc<LinkState>;

/// [`Links`], and a `Notify` that wakes whoever waits for a change.
#[derive(Default)]
struct LinkState {
    links: std::sync::Mutex<Links>,
    changed: tokio::sync::Notify,
}

impl LinkState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open connections to `peer`: (relayed, direct).
    fn open(&self, peer: &rust_ipfs::PeerId) -> (u32, u32) {
        self.lock().open.get(peer).copied().unwrap_or_default()
    }

    /// Waits up to `within` until `found` finds something in the links.
    async fn until<T>(&self, within: Duration, found: impl Fn(&Links) -> Option<T>) -> Option<T> {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if let Some(t) = found(&self.lock()) {
                    return t;
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait).await.ok()
    }
}

#[derive(Default)]
struct Links {
    /// Open connections per peer: (relayed, direct).
    open: std::collections::HashMap<rust_ipfs::PeerId, (u32, u32)>,
    /// The last hole punch with each peer since [`Node::reach`] cleared it.
    punched: std::collections::HashMap<rust_ipfs::PeerId, Result<(), String>>,
}

/// How long a channel request over libp2p may take, answer included.
const CHANNEL_TIMEOUT: Duration = Duration::from_secs(120);
/// Channel requests the node answers at once; more wait.
const CHANNEL_CONCURRENCY: usize = 16;

/// How long [`Node::reach`] waits for a relayed connection to become a direct one.
pub const DIRECT_WITHIN: Duration = Duration::from_secs(10);

/// Parses configured multiaddrs; the first that does not parse is the error.
fn parse_addrs(addrs: &[String]) -> Result<Vec<rust_ipfs::Multiaddr>, IpfsError> {
    addrs.iter().map(|a| parse_addr(a)).collect()
}

/// Whether `addr` goes through a relay (`…/p2p-circuit…`).
fn is_relayed(addr: &rust_ipfs::Multiaddr) -> bool {
    addr.iter()
        .any(|p| matches!(p, multiaddr::Protocol::P2pCircuit))
}

/// Records queued for the DHT; beyond this, publishing waits for the next republish round.
const PUBLISH_QUEUE: usize = 4096;
/// DHT puts in flight at once.
const PUBLISH_CONCURRENCY: usize = 8;
/// A DHT put that has not finished by then is abandoned (the record stays in the local store,
/// where peers' queries find it).
const PUT_TIMEOUT: Duration = Duration::from_secs(60);

impl Node {
    /// Starts the node with the ed25519 identity whose 32-byte seed is `node_key`.
    pub async fn start(config: &NodeConfig, node_key: &[u8; 32]) -> Result<Node, IpfsError> {
        let listen = parse_addrs(&config.listen)?;
        let bootstrap = parse_addrs(&config.bootstrap)?;
        let mut seed = Zeroizing::new(*node_key);
        let keypair =
            Keypair::ed25519_from_bytes(&mut *seed).map_err(|e| IpfsError::Start(e.to_string()))?;

        let network = config.network;
        let guard = GuardedStore::default();
        let hook_guard = guard.clone();
        let net = std::sync::Arc::new(std::sync::Mutex::new(NetStatus {
            network,
            // Kademlia starts as a client; the hook sees the switch to server mode.
            dht_server: false,
            reachability: Reachability::Unknown,
            relayed: Vec::new(),
            hole_punch: None,
            relay_server: config.relay_server.enabled.then(RelayLoad::default),
        }));
        let hook_net = net.clone();
        let poll_net = net.clone();
        let links = SharedLinks::default();
        let hook_links = links.clone();
        let local_peer = keypair.public().to_peer_id();
        let lan_dht = LanDht::new(local_peer);
        let (jobs, mut job_queue) = mpsc::channel::<LanJob>(JOB_QUEUE);
        // The external addresses as the swarm's task last saw them, and (`public` mode) the
        // public ones among them, which the box's own provider records carry.
        let mut external: Vec<rust_ipfs::Multiaddr> = Vec::new();
        let mut announced: Vec<rust_ipfs::Multiaddr> = Vec::new();
        let announce = parse_addrs(&config.announce)?;
        let relays = config
            .relays
            .iter()
            .map(|a| {
                let addr = parse_addr(a)?;
                let peer = super::dnsaddr::peer_of(&addr).ok_or_else(|| IpfsError::BadAddress {
                    addr: a.clone(),
                    reason: "it does not end in the relay's /p2p/<peer id>".into(),
                })?;
                Ok((peer, addr))
            })
            .collect::<Result<Vec<_>, IpfsError>>()?;
        let reservations = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::<
            rust_ipfs::PeerId,
        >::new()));
        let mut builder = rust_ipfs::builder::IpfsBuilder::<LanDht>::with_keypair(&keypair)
            .map_err(|e| IpfsError::Start(e.to_string()))?
            .with_custom_behaviour(move |_| Ok(lan_dht))
            .set_path(&config.repo)
            // On the public network peers hear only the addresses AutoNAT has confirmed, never
            // the home network's (protocol §4, "Networks").
            .with_identify(rust_ipfs::p2p::IdentifyConfiguration {
                hide_listen_addrs: network == Network::Public,
                ..Default::default()
            })
            .with_ping(Default::default())
            .with_bitswap()
            // Records that peers put come to the hook below, not straight into the store.
            .with_kademlia_with_config("/ipfs/kad/1.0.0", |mut config| {
                config.set_record_filtering(kad::StoreInserts::FilterBoth);
                config
            })
            .enable_tcp()
            // Peers on the LAN stay connected: the DHT and block exchange need them.
            .set_idle_connection_timeout(600)
            // The jobs run on the swarm's task, where both DHTs are at hand.
            .swarm_poll(move |cx, swarm| {
                // However they changed (AutoNAT, a relay's reservation, `ipfs.announce`).
                if swarm.external_addresses().ne(external.iter()) {
                    external = swarm.external_addresses().cloned().collect();
                    let relayed: Vec<String> = external
                        .iter()
                        .filter(|a| is_relayed(a))
                        .map(|a| match a.iter().last() {
                            Some(multiaddr::Protocol::P2p(_)) => a.to_string(),
                            _ => format!("{a}/p2p/{local_peer}"),
                        })
                        .collect();
                    {
                        let mut status = poll_net.lock().unwrap_or_else(|p| p.into_inner());
                        if status.relayed != relayed {
                            log::info!(
                                "the box is reachable through {}",
                                if relayed.is_empty() {
                                    "no relay".to_owned()
                                } else {
                                    relayed.join(", ")
                                }
                            );
                            status.relayed = relayed;
                        }
                    }
                    if network == Network::Public {
                        let public: Vec<_> = external
                            .iter()
                            .filter(|a| super::addr::is_public(a))
                            .cloned()
                            .collect();
                        if announced != public {
                            log::info!(
                                "the box's public addresses: {}",
                                if public.is_empty() {
                                    "none".to_owned()
                                } else {
                                    public
                                        .iter()
                                        .map(|a| a.to_string())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                }
                            );
                            announced = public;
                            if let Some(kademlia) = swarm.behaviour_mut().kademlia.as_mut() {
                                announce_addresses(kademlia, &announced);
                            }
                            // Peers learn the new addresses now, not at the next identify round.
                            let peers: Vec<_> = swarm.connected_peers().copied().collect();
                            if let Some(identify) = swarm.behaviour_mut().identify.as_mut() {
                                identify.push(peers);
                            }
                        }
                    }
                }
                while let std::task::Poll::Ready(Some(job)) = job_queue.poll_recv(cx) {
                    if let LanJob::Provide(key) = &job
                        && let Some(kademlia) = swarm.behaviour_mut().kademlia.as_mut()
                    {
                        let addresses = (network == Network::Public).then_some(&announced[..]);
                        provide_own(kademlia, key.clone(), addresses);
                    }
                    if let Some(lan) = swarm
                        .behaviour_mut()
                        .custom
                        .as_mut()
                        .and_then(|ipfs| ipfs.custom.as_mut())
                    {
                        lan.run(job);
                    }
                }
            })
            .swarm_events(move |swarm, event| {
                let local = *swarm.local_peer_id();
                on_link_event(&hook_links, &hook_net, &reservations, event);
                if let Some(kademlia) = swarm.behaviour_mut().kademlia.as_mut() {
                    let request = match event {
                        SwarmEvent::Behaviour(BehaviourEvent::Kademlia(
                            kad::Event::InboundRequest { request },
                        )) => Some(request),
                        _ => None,
                    };
                    hook_guard.on_event(local, kademlia, request);
                    if network == Network::Public
                        && let SwarmEvent::Behaviour(BehaviourEvent::Kademlia(
                            kad::Event::RoutingUpdated {
                                peer, addresses, ..
                            },
                        )) = event
                    {
                        keep_public_only(kademlia, peer, addresses);
                    }
                    let server = kademlia.mode() == kad::Mode::Server;
                    let mut status = hook_net.lock().unwrap_or_else(|p| p.into_inner());
                    if status.dht_server != server {
                        status.dht_server = server;
                        log::info!(
                            "the IPFS node now {} the DHT",
                            if server { "serves" } else { "only queries" }
                        );
                    }
                }
                if let SwarmEvent::Behaviour(BehaviourEvent::AutonatV1(
                    connexa::prelude::autonat::v1::Event::StatusChanged { new, .. },
                )) = event
                {
                    use libp2p::autonat::v1::NatStatus;
                    let reachability = match new {
                        NatStatus::Public(_) => Reachability::Public,
                        NatStatus::Private => Reachability::Private,
                        NatStatus::Unknown => Reachability::Unknown,
                    };
                    log::info!("AutoNAT: the box is {}", reachability.describe());
                    hook_net
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .reachability = reachability;
                }
                // connexa logs mDNS discoveries but never dials them.
                if let SwarmEvent::Behaviour(BehaviourEvent::Mdns(
                    connexa::prelude::mdns::Event::Discovered(found),
                )) = event
                {
                    for (peer, addr) in found {
                        // On the home network, a peer found there is asked by the DHT at once
                        // (in `public` mode its private address stays out of the table).
                        if network == Network::Lan
                            && let Some(kademlia) = swarm.behaviour_mut().kademlia.as_mut()
                        {
                            kademlia.add_address(peer, addr.clone());
                        }
                        if !swarm.is_connected(peer) {
                            let opts = DialOpts::peer_id(*peer)
                                .addresses(vec![addr.clone()])
                                .build();
                            if let Err(e) = swarm.dial(opts) {
                                log::debug!("cannot dial {peer} found by mDNS: {e}");
                            }
                        }
                    }
                }
            });
        // Dialling through relays (`…/p2p-circuit/p2p/…`) and DCUtR's hole punching, always.
        builder = builder.with_relay(true);
        // Reservations on relays while no direct address is confirmed (`ipfs.relays` first,
        // and in `public` mode relays found on the network): connexa's autorelay stops them
        // once AutoNAT (or `ipfs.announce`) gives the box an address others can dial.
        if network == Network::Public || !relays.is_empty() {
            let static_relays = relays.clone();
            builder = builder.with_autorelay_with_config(move |mut autorelay| {
                for (peer, addr) in static_relays {
                    autorelay = autorelay.add_static_relay(peer, vec![addr]);
                }
                autorelay
            });
        }
        if config.relay_server.enabled {
            let settings = config.relay_server.clone();
            if settings.allow.is_empty() {
                log::warn!(
                    "ipfs.relay_server is on but its allow list is empty: no box can reserve a \
                     slot. Add the peer ids of the boxes it relays for."
                );
            }
            builder = builder.with_relay_server_with_config(move |mut relay| {
                relay.max_reservations = settings.max_reservations;
                relay.max_reservations_per_peer = 2;
                relay.max_circuits = settings.max_circuits;
                relay.max_circuits_per_peer = settings.max_circuits.min(8);
                relay.max_circuit_duration = Duration::from_secs(settings.max_circuit_secs);
                relay.max_circuit_bytes = settings.max_circuit_bytes;
                // Only the boxes it knows reserve (a "rate limiter" that never lets the others
                // in); libp2p's own rate limits stay.
                relay.reservation_rate_limiters.push(Box::new(
                    move |peer: rust_ipfs::PeerId, _: &_, _| settings.allows(&peer.to_string()),
                ));
                relay
            });
        }
        // The sealed channel over libp2p: the same envelopes as `POST /v1/rpc`.
        builder = builder.with_request_response(vec![rust_ipfs::RequestResponseConfig {
            protocol: super::CHANNEL_PROTOCOL.into(),
            timeout: Some(CHANNEL_TIMEOUT),
            max_request_size: config.channel_max_bytes,
            max_response_size: config.channel_max_bytes,
            ..Default::default()
        }]);
        if config.mdns {
            builder = builder.with_mdns();
        }
        if network == Network::Public {
            // AutoNAT asks peers to dial back: only a box they can reach serves the DHT.
            builder = builder.with_autonat();
            // No DNS transport: connexa 0.5 wraps only its memory transport in DNS, so a
            // `/dnsaddr/…` peer could be looked up but never dialled over TCP, and its resolver
            // falls back to Google's when /etc/resolv.conf cannot be read. The node looks
            // bootstrap names up itself (`join`, `dnsaddr.rs`; protocol §4, "Networks").
        }
        // The bootstrap peers go into the DHT's routing table in `join` (rust-ipfs 0.16's
        // builder keeps the list it is given but never hands it to Kademlia).
        let ipfs = builder
            .start()
            .await
            .map_err(|e| IpfsError::Start(e.to_string()))?;
        for (text, addr) in config.listen.iter().zip(listen) {
            if let Err(e) = ipfs.add_listening_address(addr).await {
                ipfs.exit_daemon().await;
                return Err(IpfsError::Listen {
                    addr: text.clone(),
                    reason: e.to_string(),
                });
            }
        }
        // On a LAN: answer DHT queries without a confirmed public address (a LAN has none).
        // On the public network: serve only once AutoNAT has confirmed an address that others
        // can dial (libp2p's automatic mode); until then, and behind a NAT, only query.
        let mode = match network {
            Network::Lan => DhtMode::Server,
            Network::Public => DhtMode::Client,
        };
        for addr in announce {
            if let Err(e) = ipfs.add_external_address(addr.clone()).await {
                log::warn!("the IPFS node cannot announce {addr}: {e}");
            }
        }
        if let Err(e) = ipfs.dht_mode(mode).await {
            log::warn!("the IPFS node cannot set its DHT mode: {e}");
        }
        if network == Network::Public && config.bootstrap.is_empty() {
            log::warn!(
                "ipfs.network is \"public\" but ipfs.bootstrap is empty: the box finds the public \
                 IPFS network only through peers that dial it. Add bootstrap peers (the packaged \
                 configuration lists some)."
            );
        }
        // Peers named by DNS are looked up before they are dialled (`dnsaddr.rs`).
        let join = join(ipfs.clone(), bootstrap, network);
        match network {
            // Peers on the LAN answer at once; the box starts with them connected.
            Network::Lan => join.await,
            // The internet may be down or slow: the box starts without waiting for it, and
            // tries again until it is in (and again whenever it has lost every peer).
            Network::Public => drop(tokio::spawn(join)),
        }

        // connexa's autorelay dials a configured relay once, and again only when a connection
        // to it closes: a relay that was down then would never be tried again.
        let keeper = (!relays.is_empty()).then(|| tokio::spawn(keep_relays(ipfs.clone(), relays)));

        let (publish, queue) = mpsc::channel(PUBLISH_QUEUE);
        let endpoints = std::sync::Arc::new(config.delegated_routing.clone());
        let publisher = tokio::spawn(publisher(ipfs.clone(), queue, endpoints));
        Ok(Node {
            peer_id: keypair.public().to_peer_id().to_string(),
            guard,
            net,
            jobs,
            ipfs,
            publish,
            publisher: std::sync::Arc::new(std::sync::Mutex::new(
                std::iter::once(publisher).chain(keeper).collect(),
            )),
            links,
        })
    }

    /// Answers the channel's requests (`/identity-box/channel/1`) with `handler`, which gets the
    /// peer id of the sender and the request's bytes and returns the answer's bytes; runs until
    /// the node stops.
    pub async fn serve_channel<F, Fut>(&self, handler: F) -> Result<(), IpfsError>
    where
        F: Fn(String, Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Vec<u8>> + Send + 'static,
    {
        let mut requests = self
            .ipfs
            .requests_subscribe(super::CHANNEL_PROTOCOL)
            .await
            .map_err(|e| IpfsError::Start(format!("the channel over libp2p: {e}")))?;
        let ipfs = self.ipfs.clone();
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CHANNEL_CONCURRENCY));
        let handler = std::sync::Arc::new(handler);
        let task = tokio::spawn(async move {
            while let Some((peer, id, request)) = requests.next().await {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (ipfs, handler) = (ipfs.clone(), handler.clone());
                tokio::spawn(async move {
                    let answer = handler(peer.to_string(), request.to_vec()).await;
                    if let Err(e) = ipfs.send_response(peer, id, answer).await {
                        log::debug!("the channel's answer to {peer} was not sent: {e}");
                    }
                    drop(slot);
                });
            }
        });
        self.publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
        Ok(())
    }

    /// Sends one channel request to the box `peer` (a peer id), dialling it at `addrs` (its
    /// relayed addresses) unless connected, and returns the answer's bytes. A request larger
    /// than [`RELAYED_MAX_BYTES`] waits up to [`DIRECT_WITHIN`] for the connection to become
    /// direct and is refused when it does not.
    ///
    /// [`RELAYED_MAX_BYTES`]: super::RELAYED_MAX_BYTES
    pub async fn channel_call(
        &self,
        peer: &str,
        addrs: &[String],
        request: Vec<u8>,
    ) -> Result<Vec<u8>, IpfsError> {
        let target: rust_ipfs::PeerId = peer.parse().map_err(|_| IpfsError::BadAddress {
            addr: peer.to_owned(),
            reason: "not a peer id".into(),
        })?;
        let addrs = parse_addrs(addrs)?;
        if self.links.open(&target) == (0, 0) {
            let dial = DialOpts::peer_id(target).addresses(addrs).build();
            self.dial_within(dial, peer).await?;
        }
        if request.len() > super::RELAYED_MAX_BYTES && self.links.open(&target).1 == 0 {
            // Only relayed: give the hole punch its chance.
            let direct = |links: &Links| {
                links
                    .open
                    .get(&target)
                    .is_some_and(|(_, d)| *d > 0)
                    .then_some(())
            };
            if self.links.until(DIRECT_WITHIN, direct).await.is_none() {
                return Err(IpfsError::TooLargeForRelay {
                    size: request.len(),
                    max: super::RELAYED_MAX_BYTES,
                });
            }
        }
        self.ipfs
            .send_request(target, request)
            .await
            .map(|b| b.to_vec())
            .map_err(|e| IpfsError::Channel(e.to_string()))
    }

    /// Dials `addr` (through a relay when it says so: `…/p2p/<relay>/p2p-circuit/p2p/<box>`)
    /// after closing any connection to that peer, and waits up to [`DIRECT_WITHIN`] for a
    /// relayed connection to become a direct one: how another box or a phone reaches this one.
    pub async fn reach(&self, addr: &str) -> Result<Reach, IpfsError> {
        let target = parse_addr(addr)?;
        let peer = super::dnsaddr::peer_of(&target).ok_or_else(|| IpfsError::BadAddress {
            addr: addr.to_owned(),
            reason: "it does not end in the peer's /p2p/<peer id>".into(),
        })?;
        // A fresh start: the measure is of a new connection.
        if self.links.open(&peer) != (0, 0) {
            let _ = self.ipfs.disconnect(peer).await;
            let closed = |links: &Links| (!links.open.contains_key(&peer)).then_some(());
            let _ = self.links.until(Duration::from_secs(5), closed).await;
        }
        self.links.lock().punched.remove(&peer);
        let start = std::time::Instant::now();
        let dial = DialOpts::unknown_peer_id().address(target.clone()).build();
        self.dial_within(dial, addr).await?;
        let connected_ms = start.elapsed().as_millis() as u64;
        let relayed = is_relayed(&target);
        let mut reach = Reach {
            peer: peer.to_string(),
            connected_ms,
            relayed,
            direct_ms: (!relayed).then_some(connected_ms),
            hole_punch_error: None,
        };
        if !relayed {
            return Ok(reach);
        }
        // Direct, or the hole punch failed.
        let outcome = |links: &Links| {
            if links.open.get(&peer).is_some_and(|(_, d)| *d > 0) {
                return Some(Ok(start.elapsed().as_millis() as u64));
            }
            match links.punched.get(&peer) {
                Some(Err(e)) => Some(Err(e.clone())),
                _ => None,
            }
        };
        let left = DIRECT_WITHIN.saturating_sub(start.elapsed());
        match self.links.until(left, outcome).await {
            Some(Ok(ms)) => reach.direct_ms = Some(ms),
            Some(Err(e)) => reach.hole_punch_error = Some(e),
            None => reach.hole_punch_error = Some("no direct connection within 10 s".into()),
        }
        Ok(reach)
    }

    /// Dials as `opts` says and waits up to [`DIRECT_WITHIN`] for the connection; `what` names
    /// the peer in the error.
    async fn dial_within(&self, opts: DialOpts, what: &str) -> Result<(), IpfsError> {
        let reason = match tokio::time::timeout(DIRECT_WITHIN, self.ipfs.connect(opts)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 10 s".into(),
        };
        Err(IpfsError::Unreachable {
            addr: what.to_owned(),
            reason,
        })
    }

    /// The node's own peer id (`12D3…`).
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// The addresses the node listens on, each with `/p2p/<peer id>` so that another node can
    /// dial it as given.
    pub async fn listen_addrs(&self) -> Vec<String> {
        self.ipfs
            .listening_addresses()
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|a| format!("{a}/p2p/{}", self.peer_id))
            .collect()
    }

    /// How many peers are connected.
    pub async fn peer_count(&self) -> usize {
        self.ipfs.connected().await.map(|p| p.len()).unwrap_or(0)
    }

    /// Dials a peer (`/ip4/…/tcp/…/p2p/…`).
    pub async fn connect(&self, addr: &str) -> Result<(), IpfsError> {
        let addr = parse_addr(addr)?;
        self.ipfs
            .connect(addr.clone())
            .await
            .map(|_| ())
            .map_err(|e| IpfsError::Listen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })
    }

    /// Stores `doc` as a pinned DAG-JSON block and returns its CID (`bagu…`).
    pub async fn put_document(&self, doc: &serde_json::Value) -> Result<String, IpfsError> {
        let cid = self
            .ipfs
            .put_dag(doc.clone())
            .codec(BlockCodec::DagJson)
            .pin(true)
            .await
            .map_err(|e| IpfsError::Block(e.to_string()))?;
        Ok(cid.to_string())
    }

    /// Removes the pin of a document that nothing points to any more.
    pub async fn unpin(&self, cid: &str) {
        let Ok(cid) = Cid::try_from(cid) else {
            return;
        };
        if let Err(e) = self.ipfs.remove_pin(cid).recursive().await {
            log::debug!("unpinning {cid}: {e}");
        }
    }

    /// Reads a DAG-JSON document: from the local repository, or from connected peers within
    /// `timeout` (`Duration::ZERO`: local only).
    pub async fn get_document(
        &self,
        cid: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, IpfsError> {
        let parsed = Cid::try_from(cid).map_err(|_| IpfsError::NotFound(cid.to_owned()))?;
        let not_found = || IpfsError::NotFound(cid.to_owned());
        let get = self.ipfs.get_dag(IpfsPath::from(parsed));
        if timeout.is_zero() {
            return get
                .local()
                .deserialized::<serde_json::Value>()
                .await
                .map_err(|_| not_found());
        }
        if let Ok(doc) = get.local().deserialized::<serde_json::Value>().await {
            return Ok(doc);
        }
        // The peers connected now (a box on the LAN), and at the same time whoever the DHT
        // says provides it (a box elsewhere, which Bitswap then dials): the first answer wins.
        let connected = self
            .ipfs
            .get_dag(IpfsPath::from(parsed))
            .timeout(timeout)
            .deserialized::<serde_json::Value>();
        let ipfs = self.ipfs.clone();
        let via_providers = async move {
            let providers = first_providers(&ipfs, parsed, timeout).await;
            if providers.is_empty() {
                return Err(NoDocument);
            }
            ipfs.get_dag(IpfsPath::from(parsed))
                .providers(&providers)
                .timeout(timeout)
                .deserialized::<serde_json::Value>()
                .await
                .map_err(|_| NoDocument)
        };
        let connected = async move { connected.await.map_err(|_| NoDocument) };
        let first = futures_util::future::select_ok([
            Box::pin(connected) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>,
            Box::pin(via_providers),
        ]);
        // Both ways together within `timeout`.
        match tokio::time::timeout(timeout, first).await {
            Ok(Ok((doc, _))) => Ok(doc),
            Ok(Err(NoDocument)) | Err(_) => Err(not_found()),
        }
    }

    /// Queues a name's record for the DHT. Returns at once: the put runs in the background, and
    /// a record that does not get out now is sent again by the next republish round.
    pub fn publish(&self, name: &IpnsName, record: Vec<u8>) {
        self.guard.own_name(&name.record_key());
        if self
            .jobs
            .try_send(LanJob::Record(name.record_key(), record.clone()))
            .is_err()
        {
            log::debug!("the LAN DHT's queue is full; {name} goes to it with the next round");
        }
        if self
            .publish
            .try_send(Announce::Record(
                name.record_key(),
                record,
                name.to_string(),
            ))
            .is_err()
        {
            log::warn!("too many IPNS records waiting; {name} goes out with the next round");
        }
    }

    /// Queues a provider record for a block the node holds, so that a peer that finds a name's
    /// record also finds who serves its document. Returns at once; libp2p's Kademlia announces
    /// it again every 12 hours while the node runs, and [`Identities::republish_all`] queues it
    /// again at every start.
    ///
    /// [`Identities::republish_all`]: crate::identity::Identities::republish_all
    pub fn provide(&self, cid: &str) {
        let Ok(parsed) = Cid::try_from(cid) else {
            return;
        };
        // The DHT key of a block's providers is its multihash (as `Ipfs::provide` has it).
        if self
            .jobs
            .try_send(LanJob::Provide(parsed.hash().to_bytes()))
            .is_err()
        {
            log::warn!("too many DHT announcements waiting; {cid} goes out with the next round");
        }
    }

    /// A block of the local repository as it is stored (its bytes hash to `cid`), or `None` when
    /// the node does not hold it. Never asks the network.
    pub async fn local_block(&self, cid: &str) -> Option<Vec<u8>> {
        let parsed = Cid::try_from(cid).ok()?;
        let block = self.ipfs.get_block(parsed).local().await.ok()?;
        Some(block.data().to_vec())
    }

    /// What the DHT record store's guard has let in and refused.
    pub fn dht_stats(&self) -> GuardStats {
        self.guard.stats()
    }

    /// The network the node is on, whether it serves the DHT, and what AutoNAT found.
    pub fn net_status(&self) -> NetStatus {
        self.net.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts raw bytes under `name`'s key into the DHT and waits for the put to end (as any
    /// peer on the network could): for tests of what a box does with a peer's records.
    #[doc(hidden)]
    pub async fn put_raw(&self, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        self.ipfs
            .dht_put(&key, value, Quorum::One)
            .await
            .map_err(|e| e.to_string())
    }

    /// Every record the DHT holds for `name` (the local store's copy included) within `timeout`.
    /// The records are unverified: see [`record::verify`].
    pub async fn find_records(&self, name: &IpnsName, timeout: Duration) -> Vec<Vec<u8>> {
        let key = RecordKey::new(&name.record_key());
        let Ok(stream) = self.ipfs.dht_get(key).await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let collect = stream.for_each(|r| {
            // A record is at most 10 KiB (IPNS); anything bigger is not one.
            if r.value.len() <= 10 * 1024 && out.len() < 64 {
                out.push(r.value);
            }
            async {}
        });
        let _ = tokio::time::timeout(timeout, collect).await;
        out
    }

    /// The peers that announce they provide the block `cid` (peer ids), found in the DHT
    /// within `timeout`.
    pub async fn find_providers(&self, cid: &str, timeout: Duration) -> Vec<String> {
        let Ok(parsed) = Cid::try_from(cid) else {
            return Vec::new();
        };
        let Ok(stream) = self.ipfs.get_providers(parsed).await else {
            return Vec::new();
        };
        let mut out = std::collections::BTreeSet::new();
        let collect = stream.for_each(|found| {
            if let Ok(peers) = found {
                out.extend(peers.into_iter().take(64).map(|p| p.to_string()));
            }
            async {}
        });
        let _ = tokio::time::timeout(timeout, collect).await;
        out.into_iter().collect()
    }

    /// Stops the node: the publisher first, then the swarm and the repository.
    pub async fn stop(self) {
        let handles =
            std::mem::take(&mut *self.publisher.lock().unwrap_or_else(|p| p.into_inner()));
        for h in handles {
            h.abort();
            let _ = h.await;
        }
        self.ipfs.exit_daemon().await;
    }
}

/// The first wait before a `public` node tries its bootstrap peers again; it doubles up to
/// [`REJOIN_MAX`].
const REJOIN_FIRST: Duration = Duration::from_secs(10);
const REJOIN_MAX: Duration = Duration::from_secs(600);
/// How often a `public` node that is in checks that it still has peers.
const STILL_IN: Duration = Duration::from_secs(60);

/// Connects to the bootstrap peers (names looked up first) and starts the DHT's bootstrap.
/// `lan`: once. `public`: again after a wait, doubling, until a peer answers, and again
/// whenever the node has lost every peer (the router restarted, the internet came back).
async fn join(ipfs: Ipfs, bootstrap: Vec<rust_ipfs::Multiaddr>, network: Network) {
    if bootstrap.is_empty() {
        return;
    }
    let mut wait = REJOIN_FIRST;
    loop {
        let mut reached = 0;
        for addr in resolve_names(&bootstrap).await {
            if !super::dnsaddr::dialable(&addr) {
                continue;
            }
            // Into the routing table at once, so that the DHT asks the peer before identify has
            // told that it speaks Kademlia.
            if super::dnsaddr::peer_of(&addr).is_some()
                && let Err(e) = ipfs.add_bootstrap(addr.clone()).await
            {
                log::debug!("{addr} is not a bootstrap address: {e}");
            }
            match dial_once(&ipfs, &addr).await {
                Ok(()) => reached += 1,
                Err(e) => log::warn!("cannot reach the bootstrap peer {addr}: {e}"),
            }
        }
        if reached > 0
            && let Err(e) = ipfs.bootstrap().await
        {
            log::warn!("DHT bootstrap failed: {e}");
        }
        if network == Network::Lan {
            return;
        }
        if reached > 0 {
            wait = REJOIN_FIRST;
            loop {
                tokio::time::sleep(STILL_IN).await;
                if ipfs
                    .connected()
                    .await
                    .map(|p| p.is_empty())
                    .unwrap_or(false)
                {
                    log::warn!("the IPFS node has lost every peer; joining the network again");
                    break;
                }
            }
        } else {
            log::warn!(
                "no bootstrap peer answered; the box tries again in {} s (is the internet up?)",
                wait.as_secs()
            );
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(REJOIN_MAX);
        }
    }
}

/// Dials `addr` unless its peer is connected or being dialled already (by autorelay, or by
/// `join` for a relay that is a bootstrap peer too): a second connection to the same peer from
/// the same port cannot reuse the listening port, and the address the peer then observes (an
/// ephemeral port) would be handed to DCUtR as if hole punches could use it.
async fn dial_once(ipfs: &Ipfs, addr: &rust_ipfs::Multiaddr) -> Result<(), String> {
    use rust_ipfs::swarm::dial_opts::PeerCondition;
    let Some(peer) = super::dnsaddr::peer_of(addr) else {
        return ipfs
            .connect(addr.clone())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
    };
    if ipfs.is_connected(peer).await.unwrap_or(false) {
        return Ok(());
    }
    let opts = DialOpts::peer_id(peer)
        .addresses(vec![addr.clone()])
        .condition(PeerCondition::DisconnectedAndNotDialing)
        .build();
    match ipfs.connect(opts).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // Another dial of the same peer may be under way: its outcome is this one's.
            let connected = async {
                while !ipfs.is_connected(peer).await.unwrap_or(false) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), connected)
                .await
                .map_err(|_| e.to_string())
        }
    }
}

/// How often the box checks that it is connected to each configured relay.
const RELAY_CHECK: Duration = Duration::from_secs(10);

/// Keeps a connection to every configured relay (`ipfs.relays`), so that autorelay can reserve
/// a slot on it whenever the box needs one: a relay that was down, or restarted, is dialled
/// again within [`RELAY_CHECK`].
async fn keep_relays(ipfs: Ipfs, relays: Vec<(rust_ipfs::PeerId, rust_ipfs::Multiaddr)>) {
    let mut down = std::collections::HashSet::new();
    loop {
        for (peer, addr) in &relays {
            if ipfs.is_connected(*peer).await.unwrap_or(false) {
                down.remove(peer);
                continue;
            }
            match dial_once(&ipfs, addr).await {
                Ok(()) => {
                    if down.remove(peer) {
                        log::info!("the relay {addr} answers again");
                    }
                }
                Err(e) => {
                    if down.insert(*peer) {
                        log::warn!(
                            "cannot reach the relay {addr} ({e}); the box tries again every {} s",
                            RELAY_CHECK.as_secs()
                        );
                    }
                }
            }
        }
        tokio::time::sleep(RELAY_CHECK).await;
    }
}

/// The configured addresses with every DNS name looked up (`/dnsaddr/…` recursively), in the
/// order given; one that cannot be looked up is logged and left out. No name, no resolver.
async fn resolve_names(addrs: &[rust_ipfs::Multiaddr]) -> Vec<rust_ipfs::Multiaddr> {
    use super::dnsaddr::{self, Step};
    if addrs
        .iter()
        .all(|a| matches!(dnsaddr::step(a), Step::Dial(_)))
    {
        return addrs.to_vec();
    }
    // The system's resolver (/etc/resolv.conf), and no other: when it cannot be read, names
    // are not looked up at all.
    let resolver = match hickory_resolver::TokioResolver::builder_tokio() {
        Ok(builder) => Some(builder.build()),
        Err(e) => {
            log::warn!(
                "the bootstrap peers named by DNS cannot be looked up: the system's DNS \
                 configuration (/etc/resolv.conf) cannot be read ({e})"
            );
            None
        }
    };
    let mut out = Vec::new();
    for addr in addrs {
        let mut found = Vec::new();
        // (address, depth): a `/dnsaddr/` entry may name another.
        let mut todo = vec![(addr.clone(), 0)];
        while let Some((next, depth)) = todo.pop() {
            if found.len() >= dnsaddr::MAX_ADDRESSES {
                break;
            }
            match dnsaddr::step(&next) {
                Step::Dial(a) => found.push(a),
                _ if depth >= dnsaddr::MAX_DEPTH => {
                    log::warn!("{addr}: DNS names point at each other too deeply; left out")
                }
                Step::Txt { name, peer } => {
                    let Some(resolver) = &resolver else { continue };
                    match resolver.txt_lookup(name.as_str()).await {
                        Ok(records) => {
                            for txt in records.iter() {
                                let bytes: Vec<u8> = txt.iter().flat_map(|s| s.to_vec()).collect();
                                if let Some(a) = dnsaddr::parse_txt(&bytes, peer.as_ref()) {
                                    todo.push((a, depth + 1));
                                }
                            }
                        }
                        Err(e) => log::warn!("cannot look up {name} (for {addr}): {e}"),
                    }
                }
                Step::Ip { host, v4, v6, rest } => {
                    let Some(resolver) = &resolver else { continue };
                    match resolver.lookup_ip(host.as_str()).await {
                        Ok(ips) => found.extend(
                            ips.iter()
                                .filter(|ip| (ip.is_ipv4() && v4) || (ip.is_ipv6() && v6))
                                .map(|ip| dnsaddr::with_ip(ip, &rest)),
                        ),
                        Err(e) => log::warn!("cannot look up {host} (for {addr}): {e}"),
                    }
                }
            }
        }
        if found.is_empty() {
            log::warn!("{addr} named no address the box can dial");
        } else if !matches!(dnsaddr::step(addr), Step::Dial(_)) {
            log::info!(
                "{addr} is {}",
                found
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        out.extend(found);
    }
    out
}

/// Keeps [`Links`] and the relay parts of [`NetStatus`] up to date with the swarm's events.
fn on_link_event<E>(
    links: &SharedLinks,
    net: &std::sync::Mutex<NetStatus>,
    reservations: &std::sync::Mutex<std::collections::HashSet<rust_ipfs::PeerId>>,
    event: &SwarmEvent<BehaviourEvent<E, impl connexa::behaviour::peer_store::store::Store>>,
) where
    E: libp2p::swarm::NetworkBehaviour,
{
    use connexa::prelude::relay::server::Event as Relay;
    match event {
        SwarmEvent::ConnectionEstablished {
            peer_id, endpoint, ..
        }
        | SwarmEvent::ConnectionClosed {
            peer_id, endpoint, ..
        } => {
            let opened = matches!(event, SwarmEvent::ConnectionEstablished { .. });
            let mut open = links.lock();
            let count = open.open.entry(*peer_id).or_default();
            let slot = if endpoint.is_relayed() {
                &mut count.0
            } else {
                &mut count.1
            };
            *slot = if opened {
                slot.saturating_add(1)
            } else {
                slot.saturating_sub(1)
            };
            if *count == (0, 0) {
                open.open.remove(peer_id);
            }
            drop(open);
            links.changed.notify_waiters();
        }
        SwarmEvent::Behaviour(BehaviourEvent::Dcutr(connexa::prelude::dcutr::Event {
            remote_peer_id,
            result,
        })) => {
            let outcome = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
            match &outcome {
                Ok(()) => log::info!("hole punch to {remote_peer_id}: a direct connection"),
                Err(e) => {
                    log::info!("hole punch to {remote_peer_id} failed ({e}); staying relayed")
                }
            }
            net.lock().unwrap_or_else(|p| p.into_inner()).hole_punch = Some(HolePunch {
                peer: remote_peer_id.to_string(),
                ok: outcome.is_ok(),
                at: crate::clock::Clock::now_unix(&crate::clock::SystemClock),
                error: outcome.as_ref().err().cloned(),
            });
            links.lock().punched.insert(*remote_peer_id, outcome);
            links.changed.notify_waiters();
        }
        SwarmEvent::Behaviour(BehaviourEvent::Relay(relay)) => {
            let mut held = reservations.lock().unwrap_or_else(|p| p.into_inner());
            let mut status = net.lock().unwrap_or_else(|p| p.into_inner());
            let Some(load) = status.relay_server.as_mut() else {
                return;
            };
            match relay {
                Relay::ReservationReqAccepted { src_peer_id, .. } if held.insert(*src_peer_id) => {
                    log::info!("relay: {src_peer_id} reserved a slot");
                }
                Relay::ReservationClosed { src_peer_id }
                | Relay::ReservationTimedOut { src_peer_id } => {
                    held.remove(src_peer_id);
                }
                Relay::ReservationReqDenied { src_peer_id, .. } => {
                    log::info!(
                        "relay: refused a slot to {src_peer_id} (not in the allow list, or full)"
                    );
                }
                Relay::CircuitReqAccepted { .. } => load.circuits += 1,
                Relay::CircuitClosed { .. } => load.circuits = load.circuits.saturating_sub(1),
                _ => {}
            }
            load.reservations = held.len();
        }
        _ => {}
    }
}

/// One way of fetching a document found nothing.
struct NoDocument;

/// The first providers of `cid` that the DHT names within `timeout` (none when it names none).
async fn first_providers(ipfs: &Ipfs, cid: Cid, timeout: Duration) -> Vec<rust_ipfs::PeerId> {
    let Ok(mut stream) = ipfs.get_providers(cid).await else {
        return Vec::new();
    };
    let first = async {
        while let Some(found) = stream.next().await {
            if let Ok(peers) = found
                && !peers.is_empty()
            {
                return peers.into_iter().take(16).collect();
            }
        }
        Vec::new()
    };
    tokio::time::timeout(timeout, first)
        .await
        .unwrap_or_default()
}

/// Takes a peer's private addresses out of the public DHT's routing table (which hands its
/// entries to anyone who asks); a peer with none left leaves the table.
fn keep_public_only(
    kademlia: &mut kad::Behaviour<kad::store::MemoryStore>,
    peer: &rust_ipfs::PeerId,
    addresses: &kad::Addresses,
) {
    for addr in addresses.iter() {
        if !super::addr::is_public(addr) {
            kademlia.remove_address(peer, addr);
        }
    }
}

/// Makes the box a provider of the block with the multihash `key` in the main DHT: stores the
/// provider record and announces it to the peers closest to the key. `addresses` (`public`
/// mode) are the public addresses the record is to carry; see [`announce_addresses`].
fn provide_own(
    kademlia: &mut kad::Behaviour<kad::store::MemoryStore>,
    key: Vec<u8>,
    addresses: Option<&[rust_ipfs::Multiaddr]>,
) {
    // Without peers the announcement itself fails; the record stays in the store, where
    // peers that ask find it, and libp2p announces it again every 12 hours.
    if let Err(e) = kademlia.start_providing(kad::RecordKey::from(key)) {
        log::warn!("the DHT store is full; a provider record waits for the next round: {e}");
        return;
    }
    if let Some(addresses) = addresses {
        carry_addresses(kademlia, addresses);
    }
}

/// In `public` mode, when the box's public addresses change: the Kademlia serves only with a
/// public address to give (a client otherwise, whatever AutoNAT confirmed), the box's own
/// provider records carry exactly those addresses, and with a new one they are announced again.
fn announce_addresses(
    kademlia: &mut kad::Behaviour<kad::store::MemoryStore>,
    public: &[rust_ipfs::Multiaddr],
) {
    // A relayed address is no reason to serve: the relay's limits would throttle every query.
    if !public.iter().any(|a| !is_relayed(a)) {
        kademlia.set_mode(Some(kad::Mode::Client));
        carry_addresses(kademlia, public);
        return;
    }
    kademlia.set_mode(Some(kad::Mode::Server));
    let keys: Vec<_> = kademlia
        .store_mut()
        .provided()
        .map(|p| p.key.clone())
        .collect();
    for key in keys {
        if let Err(e) = kademlia.start_providing(key) {
            log::debug!("a provider record was not announced again: {e}");
        }
    }
    carry_addresses(kademlia, public);
}

/// Gives the box's own provider records the addresses `addresses`. A record without addresses
/// is answered with all the node's listen addresses (libp2p-kad fills them in), the home
/// network's among them; one with addresses is answered with those.
fn carry_addresses(
    kademlia: &mut kad::Behaviour<kad::store::MemoryStore>,
    addresses: &[rust_ipfs::Multiaddr],
) {
    let store = kademlia.store_mut();
    let stale: Vec<_> = store
        .provided()
        .filter(|p| p.addresses != addresses)
        .map(|p| p.into_owned())
        .collect();
    for mut record in stale {
        record.addresses = addresses.to_vec();
        if let Err(e) = store.add_provider(record) {
            log::debug!("a provider record kept its addresses: {e}");
        }
    }
}

/// Puts queued records into the DHT, and to each delegated-routing endpoint, a few at a time.
async fn publisher(
    ipfs: Ipfs,
    queue: mpsc::Receiver<Announce>,
    endpoints: std::sync::Arc<Vec<String>>,
) {
    tokio_stream_of(queue)
        .for_each_concurrent(PUBLISH_CONCURRENCY, |job| {
            let ipfs = ipfs.clone();
            let endpoints = endpoints.clone();
            async move {
                // Without peers a put fails its quorum; the record is in the local store
                // anyway, where peers that ask find it.
                match job {
                    Announce::Record(key, record, name) => {
                        let delegated = (!endpoints.is_empty()).then(|| {
                            let record = record.clone();
                            tokio::task::spawn_blocking(move || {
                                put_delegated(&endpoints, &name, &record)
                            })
                        });
                        let put = ipfs.dht_put(&key, record, Quorum::One);
                        match tokio::time::timeout(PUT_TIMEOUT, put).await {
                            Ok(Ok(())) => log::debug!("IPNS record put into the DHT"),
                            Ok(Err(e)) => log::debug!("IPNS record kept locally only: {e}"),
                            Err(_) => log::debug!("IPNS record put timed out"),
                        }
                        if let Some(delegated) = delegated {
                            let _ = delegated.await;
                        }
                    }
                }
            }
        })
        .await;
}

/// How long one delegated-routing put may take.
const DELEGATED_TIMEOUT: Duration = Duration::from_secs(30);

/// `PUT <endpoint>/routing/v1/ipns/<name>` with the signed record (IPIP-379), to each endpoint
/// in turn; a refusal or a failure is logged and waits for the next round. Blocking (ureq).
fn put_delegated(endpoints: &[String], name: &str, record: &[u8]) {
    let agent = ureq::AgentBuilder::new()
        .timeout(DELEGATED_TIMEOUT)
        .redirects(0)
        .build();
    for endpoint in endpoints {
        let url = format!("{}/routing/v1/ipns/{name}", endpoint.trim_end_matches('/'));
        match agent
            .put(&url)
            .set("Content-Type", "application/vnd.ipfs.ipns-record")
            .send_bytes(record)
        {
            Ok(_) => log::debug!("the record of {name} was put to {endpoint}"),
            Err(ureq::Error::Status(code, _)) => log::warn!(
                "the delegated-routing endpoint {endpoint} refused the record of {name} \
                 (HTTP {code}); it is sent again with the next round"
            ),
            Err(e) => log::warn!(
                "the record of {name} did not reach the delegated-routing endpoint \
                 {endpoint} ({e}); it is sent again with the next round"
            ),
        }
    }
}

fn tokio_stream_of<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The node's [`DhtGuard`], shared between the swarm task's hook (which stores what it admits)
/// and the node (which names the box's own records).
#[derive(Clone, Default)]
struct GuardedStore {
    inner: std::sync::Arc<std::sync::Mutex<GuardState>>,
}

#[derive(Default)]
struct GuardState {
    guard: DhtGuard,
    /// Whether the Kademlia store has been given its room (at the swarm's first event).
    sized: bool,
}

impl GuardedStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn own_name(&self, key: &[u8]) {
        self.lock().guard.own_name(key);
    }

    fn stats(&self) -> GuardStats {
        self.lock().guard.stats()
    }

    /// Runs on the swarm task for every event, before connexa handles it.
    fn on_event(
        &self,
        local: rust_ipfs::PeerId,
        kademlia: &mut kad::Behaviour<kad::store::MemoryStore>,
        request: Option<&kad::InboundRequest>,
    ) {
        let mut state = self.lock();
        if !state.sized {
            state.sized = true;
            resize_store(local, kademlia);
        }
        let Some(request) = request else {
            return;
        };
        match request {
            kad::InboundRequest::PutRecord {
                source,
                record: Some(record),
                ..
            } => admit(
                &mut state.guard,
                kademlia.store_mut(),
                *source,
                record.clone(),
            ),
            // Provider records are taken as before (the store bounds them itself).
            kad::InboundRequest::AddProvider {
                record: Some(provider),
            } => {
                if let Err(e) = kademlia.store_mut().add_provider(provider.clone()) {
                    log::debug!("a peer's provider record was not stored: {e}");
                }
            }
            _ => {}
        }
    }
}

/// Gives the store room for the box's own records beyond what peers may fill (the default
/// store holds 1,024 records in all). At the first event of the swarm, so nothing is in it yet;
/// what is (records, and the box's own provider records) moves over anyway.
fn resize_store(local: rust_ipfs::PeerId, kademlia: &mut kad::Behaviour<kad::store::MemoryStore>) {
    let config = kad::store::MemoryStoreConfig {
        max_records: GuardLimits::default().remote + OWN_RECORDS,
        max_value_bytes: MAX_RECORD_BYTES,
        // The store counts peers' provider keys and the box's own together: room for both.
        max_provided_keys: GuardLimits::default().remote + OWN_RECORDS,
        ..Default::default()
    };
    let mut fresh = kad::store::MemoryStore::with_config(local, config);
    let store = kademlia.store_mut();
    for record in store.records() {
        let _ = fresh.put(record.into_owned());
    }
    for provider in store.provided() {
        let _ = fresh.add_provider(provider.into_owned());
    }
    *store = fresh;
}

/// Stores `record` from `source` if the guard admits it, expiring at its end of life at the
/// latest; counts and now and then logs a refusal.
fn admit(
    guard: &mut DhtGuard,
    store: &mut kad::store::MemoryStore,
    source: rust_ipfs::PeerId,
    mut record: kad::Record,
) {
    let now = chrono::Utc::now().timestamp();
    let check = |guard: &DhtGuard, store: &kad::store::MemoryStore| {
        let held = store.get(&record.key).map(|r| r.value.clone());
        guard.check(
            &source,
            record.key.as_ref(),
            &record.value,
            held.as_deref(),
            now,
        )
    };
    let mut verdict = check(guard, store);
    if verdict.is_err() && guard.is_full_for(&source) {
        // Records that expired since leave the store quietly: count again without them.
        guard.retain(|key| store.get(&kad::RecordKey::from(key.to_vec())).is_some());
        verdict = check(guard, store);
    }
    match verdict {
        Ok(admitted) => {
            let left = u64::try_from(admitted.eol.saturating_sub(now)).unwrap_or(0);
            let eol = std::time::Instant::now() + Duration::from_secs(left);
            record.expires = Some(record.expires.map_or(eol, |e| e.min(eol)));
            let key = record.key.clone();
            match store.put(record) {
                Ok(()) => guard.stored(source, key.as_ref()),
                Err(e) => log::warn!("the DHT record store refused a peer's record: {e:?}"),
            }
        }
        Err(why) => {
            if let Some(warning) = guard.refused(&source, &why, std::time::Instant::now()) {
                log::warn!("{warning}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn peer(seed: u8) -> rust_ipfs::PeerId {
        Keypair::ed25519_from_bytes([seed; 32])
            .unwrap()
            .public()
            .to_peer_id()
    }

    /// Every address of the routing table, by peer.
    fn table(
        kademlia: &mut kad::Behaviour<kad::store::MemoryStore>,
    ) -> Vec<(rust_ipfs::PeerId, Vec<String>)> {
        let mut out = Vec::new();
        for bucket in kademlia.kbuckets() {
            for entry in bucket.iter() {
                let addrs = entry.node.value.iter().map(|a| a.to_string()).collect();
                out.push((*entry.node.key.preimage(), addrs));
            }
        }
        out.sort();
        out
    }

    fn own_records(
        kademlia: &mut kad::Behaviour<kad::store::MemoryStore>,
    ) -> Vec<(Vec<u8>, Vec<String>)> {
        let mut out: Vec<_> = kademlia
            .store_mut()
            .provided()
            .map(|p| {
                let addrs = p.addresses.iter().map(|a| a.to_string()).collect();
                (p.key.to_vec(), addrs)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn own_provider_records_carry_only_the_public_addresses_in_public_mode() {
        let local = peer(1);
        let config = kad::Config::new(rust_ipfs::StreamProtocol::new("/ipfs/kad/1.0.0"));
        let mut kademlia =
            kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), config);
        // `lan` mode: no addresses of its own; libp2p-kad answers with the listen addresses.
        provide_own(&mut kademlia, b"lan".to_vec(), None);
        // `public` mode before AutoNAT has confirmed an address: none to give, and a client.
        provide_own(&mut kademlia, b"early".to_vec(), Some(&[]));
        assert_eq!(
            own_records(&mut kademlia),
            [(b"early".to_vec(), vec![]), (b"lan".to_vec(), vec![])]
        );
        announce_addresses(&mut kademlia, &[]);
        assert_eq!(kademlia.mode(), kad::Mode::Client);

        // An address is confirmed: every record carries it, including those from before.
        use libp2p::swarm::behaviour::{ExternalAddrConfirmed, ExternalAddrExpired};
        use libp2p::swarm::{FromSwarm, NetworkBehaviour as _};
        let public: rust_ipfs::Multiaddr = "/ip4/104.131.131.82/tcp/4001".parse().unwrap();
        // What the swarm tells every behaviour, before the hook sees the event.
        kademlia.on_swarm_event(FromSwarm::ExternalAddrConfirmed(ExternalAddrConfirmed {
            addr: &public,
        }));
        announce_addresses(&mut kademlia, std::slice::from_ref(&public));
        assert_eq!(kademlia.mode(), kad::Mode::Server);
        provide_own(
            &mut kademlia,
            b"late".to_vec(),
            Some(std::slice::from_ref(&public)),
        );
        let carried = vec![public.to_string()];
        assert_eq!(
            own_records(&mut kademlia),
            [
                (b"early".to_vec(), carried.clone()),
                (b"lan".to_vec(), carried.clone()),
                (b"late".to_vec(), carried),
            ]
        );

        // It expires: back to a client, and the records no longer name it.
        kademlia.on_swarm_event(FromSwarm::ExternalAddrExpired(ExternalAddrExpired {
            addr: &public,
        }));
        announce_addresses(&mut kademlia, &[]);
        assert_eq!(kademlia.mode(), kad::Mode::Client);
        assert!(own_records(&mut kademlia).iter().all(|(_, a)| a.is_empty()));
    }

    #[test]
    fn autonat_dial_back_requests_name_only_global_addresses() {
        // What the vendored libp2p-autonat sends to the peer it asks to dial back: the box's
        // candidates and listen addresses (0.0.0.0 expanded to every interface's).
        let addrs = |list: &[&str]| -> Vec<rust_ipfs::Multiaddr> {
            list.iter().map(|a| a.parse().unwrap()).collect()
        };
        let candidates = addrs(&["/ip4/203.0.114.7/tcp/4001", "/ip4/192.168.1.5/tcp/4001"]);
        let listen = addrs(&[
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/192.168.1.5/tcp/4001",
            "/ip4/10.0.0.2/tcp/4001",
            "/ip6/fd00::5/tcp/4001",
            "/ip6/fe80::5/tcp/4001",
            "/ip4/203.0.114.7/tcp/4001",
            "/ip6/2a01:4f8::5/tcp/4001",
            "/ip6/2001:4860::8888/tcp/4001",
        ]);
        let request = libp2p::autonat::v1::dial_back_addresses(&candidates, &listen, true);
        assert_eq!(
            request,
            addrs(&[
                "/ip4/203.0.114.7/tcp/4001",
                "/ip6/2a01:4f8::5/tcp/4001",
                "/ip6/2001:4860::8888/tcp/4001",
            ])
        );
        // The box runs AutoNAT with libp2p's default configuration, which sets the flag.
        assert!(libp2p::autonat::v1::Config::default().only_global_ips);
    }

    #[test]
    fn the_public_routing_table_keeps_only_public_addresses() {
        let local = peer(1);
        let config = kad::Config::new(rust_ipfs::StreamProtocol::new("/ipfs/kad/1.0.0"));
        let mut kademlia =
            kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), config);
        let (mixed, private_only) = (peer(2), peer(3));
        for (who, addr) in [
            (mixed, "/ip4/192.168.1.20/tcp/4001"),
            (mixed, "/ip4/104.131.131.82/tcp/4001"),
            (mixed, "/ip4/127.0.0.1/tcp/4001"),
            (private_only, "/ip4/10.0.0.7/tcp/4001"),
        ] {
            kademlia.add_address(&who, addr.parse().unwrap());
            // What the swarm's hook does on the RoutingUpdated event that follows.
            let addresses = kademlia
                .kbucket(who)
                .and_then(|b| {
                    b.iter()
                        .find(|e| *e.node.key.preimage() == who)
                        .map(|e| e.node.value.clone())
                })
                .unwrap();
            keep_public_only(&mut kademlia, &who, &addresses);
        }
        let public = format!("/ip4/104.131.131.82/tcp/4001/p2p/{mixed}");
        let rows = table(&mut kademlia);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].0, mixed);
        // Routing-table addresses carry the peer id.
        assert_eq!(rows[0].1, vec![public], "{rows:?}");
    }
}
