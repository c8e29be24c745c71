//! The LAN DHT (`/ipfs/lan/kad/1.0.0`): the second Kademlia that kubo runs for peers on private
//! addresses. A kubo node on the household's network looks the box up there (its public DHT
//! ignores peers without public addresses), so the box answers there too: the records of its
//! DIDs and the provider records of their documents, as on `/ipfs/kad/1.0.0`.
//!
//! It only answers. What LAN peers put into it is not kept (the box's DHT record store with its
//! checks is the main one, protocol §9), and the box resolves through the main DHT.
//!
//! A `NetworkBehaviour` of its own, given to rust-ipfs as its custom behaviour: rust-ipfs
//! accepts one that emits no events, so this one handles libp2p-kad's events itself, and takes
//! the box's records and provider records from a channel the [`Node`](super::Node) feeds.

use std::convert::Infallible;
use std::task::{Context, Poll};

use connexa::prelude::dht as kad;
use connexa::prelude::dht::store::RecordStore as _;
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use tokio::sync::mpsc;

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
    jobs: mpsc::Receiver<LanJob>,
}

/// Jobs waiting for the swarm; beyond this they are dropped (the next republish round sends
/// them again).
const QUEUE: usize = 4096;

impl LanDht {
    /// The behaviour for the node `local`, and the sender its jobs come through.
    pub fn new(local: PeerId) -> (LanDht, mpsc::Sender<LanJob>) {
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
        let (tx, jobs) = mpsc::channel(QUEUE);
        (LanDht { kad, jobs }, tx)
    }

    fn run(&mut self, job: LanJob) {
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

impl NetworkBehaviour for LanDht {
    type ConnectionHandler = THandler<kad::Behaviour<kad::store::MemoryStore>>;
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
        self.kad.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )
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
        while let Poll::Ready(Some(job)) = self.jobs.poll_recv(cx) {
            self.run(job);
        }
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

    #[test]
    fn jobs_fill_the_lan_store() {
        let local = rust_ipfs::Keypair::ed25519_from_bytes([5; 32])
            .unwrap()
            .public()
            .to_peer_id();
        let (mut lan, tx) = LanDht::new(local);
        tx.try_send(LanJob::Record(b"/ipns/x".to_vec(), b"signed".to_vec()))
            .unwrap();
        tx.try_send(LanJob::Provide(b"multihash".to_vec())).unwrap();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let _ = lan.poll(&mut cx);
        let key = kad::RecordKey::from(b"/ipns/x".to_vec());
        assert_eq!(lan.kad.store_mut().get(&key).unwrap().value, b"signed");
        assert!(lan.provides(b"multihash"));
        assert!(!lan.provides(b"other"));
        assert_eq!(lan.kad.protocol_names(), [StreamProtocol::new(PROTOCOL)]);
    }
}
