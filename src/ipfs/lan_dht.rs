//! The LAN DHT (`/ipfs/lan/kad/1.0.0`): the second Kademlia that kubo runs for peers on private
//! addresses. A kubo node on the household's network looks the box up there (its public DHT
//! ignores peers without public addresses), so the box answers there too: the records of its
//! DIDs and the provider records of their documents, as on `/ipfs/kad/1.0.0`.
//!
//! It only answers. What LAN peers put into it is not kept (the box's DHT record store with its
//! checks is the main one, protocol §9), and the box resolves through the main DHT.
//!
//! It answers only over connections from a private address (the household's network, or this
//! machine), as kubo's keeps only such peers: a stranger on the internet neither hears that the
//! box speaks it nor learns the box's home addresses from its answers.
//!
//! A `NetworkBehaviour` of its own, given to rust-ipfs as its custom behaviour: rust-ipfs
//! accepts one that emits no events, so this one handles libp2p-kad's events itself. The
//! [`Node`](super::Node)'s jobs reach it on the swarm's task ([`LanDht::run`]).

use std::convert::Infallible;
use std::task::{Context, Poll};

use connexa::prelude::dht as kad;
use connexa::prelude::dht::store::RecordStore as _;
use either::Either;
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::swarm::handler::ConnectionEvent;
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol};

use super::dht_guard::{MAX_RECORD_BYTES, OWN_RECORDS};

/// kubo's LAN DHT.
pub const PROTOCOL: &str = "/ipfs/lan/kad/1.0.0";

/// What the LAN DHT is to answer with.
#[derive(Debug)]
pub enum LanJob {
    /// A signed IPNS record under its DHT key (replacing the one before).
    Record(Vec<u8>, Vec<u8>),
    /// A provider record: the box holds the block with this multihash.
    Provide(Vec<u8>),
}

/// The behaviour.
pub struct LanDht {
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

impl LanDht {
    /// The behaviour for the node `local`.
    pub fn new(local: PeerId) -> LanDht {
        let mut config = kad::Config::new(StreamProtocol::new(PROTOCOL));
        // Peers' puts reach `poll` as events, which drops them.
        config.set_record_filtering(kad::StoreInserts::FilterBoth);
        let store = kad::store::MemoryStore::with_config(
            local,
            kad::store::MemoryStoreConfig {
                max_records: OWN_RECORDS,
                max_provided_keys: OWN_RECORDS,
                max_value_bytes: MAX_RECORD_BYTES,
                ..Default::default()
            },
        );
        let mut kad = kad::Behaviour::with_config(local, store, config);
        // A LAN has no confirmed public address: answer anyway (as the main DHT does in `lan`).
        kad.set_mode(Some(kad::Mode::Server));
        LanDht { kad }
    }

    /// Keeps a record, or a provider record, to answer with.
    pub fn run(&mut self, job: LanJob) {
        match job {
            LanJob::Record(key, value) => {
                let record = kad::Record::new(kad::RecordKey::from(key), value);
                if let Err(e) = self.kad.store_mut().put(record) {
                    log::debug!("the LAN DHT did not keep a record: {e:?}");
                }
            }
            LanJob::Provide(key) => {
                // Without LAN peers the announcement itself fails; the record stays in the store,
                // where peers that ask find it.
                if let Err(e) = self.kad.start_providing(kad::RecordKey::from(key)) {
                    log::debug!("the LAN DHT did not keep a provider record: {e:?}");
                }
            }
        }
    }

    /// Whether this behaviour holds a provider record of its own for `key` (for tests).
    #[cfg(test)]
    fn provides(&mut self, key: &[u8]) -> bool {
        let key = kad::RecordKey::from(key.to_vec());
        self.kad.store_mut().provided().any(|p| p.key == key)
    }
}

/// libp2p-kad's handler of one connection.
type KadHandler = THandler<kad::Behaviour<kad::store::MemoryStore>>;

/// The Kademlia handler of one connection, which over a connection from a public address
/// neither offers the protocol nor takes note that the peer speaks it (so the peer never
/// enters the LAN DHT's routing table).
pub struct Gated {
    inner: KadHandler,
    open: bool,
}

impl Gated {
    fn new(inner: KadHandler, remote: &Multiaddr) -> Gated {
        Gated {
            inner,
            open: !super::addr::is_public(remote),
        }
    }
}

impl ConnectionHandler for Gated {
    type FromBehaviour = <KadHandler as ConnectionHandler>::FromBehaviour;
    type ToBehaviour = <KadHandler as ConnectionHandler>::ToBehaviour;
    type InboundProtocol = <KadHandler as ConnectionHandler>::InboundProtocol;
    type OutboundProtocol = <KadHandler as ConnectionHandler>::OutboundProtocol;
    type InboundOpenInfo = <KadHandler as ConnectionHandler>::InboundOpenInfo;
    type OutboundOpenInfo = <KadHandler as ConnectionHandler>::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        if self.open {
            self.inner.listen_protocol()
        } else {
            SubstreamProtocol::new(Either::Right(DeniedUpgrade), ())
        }
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.inner.on_behaviour_event(event);
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        if !self.open && matches!(event, ConnectionEvent::RemoteProtocolsChange(_)) {
            return;
        }
        self.inner.on_connection_event(event);
    }
}

impl NetworkBehaviour for LanDht {
    type ConnectionHandler = Gated;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.kad
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad
            .handle_established_inbound_connection(connection_id, peer, local_addr, remote_addr)
            .map(|inner| Gated::new(inner, remote_addr))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.kad.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.kad
            .handle_established_outbound_connection(
                connection_id,
                peer,
                addr,
                role_override,
                port_use,
            )
            .map(|inner| Gated::new(inner, addr))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.kad.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.kad
            .on_connection_handler_event(peer_id, connection_id, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        loop {
            match self.kad.poll(cx) {
                // Query results, routing updates, peers' puts: nothing the box acts on.
                Poll::Ready(ToSwarm::GenerateEvent(_)) => continue,
                Poll::Ready(other) => {
                    return Poll::Ready(
                        other.map_out(|_| unreachable!("handled in the arm above")),
                    );
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn node(seed: u8) -> PeerId {
        rust_ipfs::Keypair::ed25519_from_bytes([seed; 32])
            .unwrap()
            .public()
            .to_peer_id()
    }

    #[test]
    fn jobs_fill_the_lan_store() {
        let mut lan = LanDht::new(node(5));
        lan.run(LanJob::Record(b"/ipns/x".to_vec(), b"signed".to_vec()));
        lan.run(LanJob::Provide(b"multihash".to_vec()));
        let key = kad::RecordKey::from(b"/ipns/x".to_vec());
        assert_eq!(lan.kad.store_mut().get(&key).unwrap().value, b"signed");
        assert!(lan.provides(b"multihash"));
        assert!(!lan.provides(b"other"));
        assert_eq!(lan.kad.protocol_names(), [StreamProtocol::new(PROTOCOL)]);
    }

    #[test]
    fn only_connections_from_private_addresses_may_open_the_lan_dht() {
        let mut lan = LanDht::new(node(5));
        let local: Multiaddr = "/ip4/192.168.1.5/tcp/4001".parse().unwrap();
        for (n, (remote, open)) in [
            ("/ip4/192.168.1.20/tcp/4001", true),
            ("/ip4/127.0.0.1/tcp/50000", true),
            ("/ip6/fe80::1/tcp/4001", true),
            ("/ip4/104.131.131.82/tcp/4001", false),
            ("/ip6/2001:db8::7/tcp/4001", false),
        ]
        .into_iter()
        .enumerate()
        {
            let remote: Multiaddr = remote.parse().unwrap();
            let inbound = lan
                .handle_established_inbound_connection(
                    ConnectionId::new_unchecked(2 * n),
                    node(6),
                    &local,
                    &remote,
                )
                .unwrap();
            let outbound = lan
                .handle_established_outbound_connection(
                    ConnectionId::new_unchecked(2 * n + 1),
                    node(6),
                    &remote,
                    Endpoint::Dialer,
                    PortUse::Reuse,
                )
                .unwrap();
            for handler in [inbound, outbound] {
                let offered = matches!(handler.listen_protocol().upgrade(), Either::Left(_));
                assert_eq!(offered, open, "{remote}");
            }
        }
    }
}
