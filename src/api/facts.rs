//! One snapshot of the box's facts: `/v1/info`, `box.info` and the admin `status` are views of
//! it, so their names and values cannot drift apart.

use super::AppState;

/// How much to gather: what anyone on the network may read, or everything (for a paired
/// device and the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Keys, clock, pairing, the time of the newest backup: no counts (an unauthenticated
    /// route must not cost the database more than one indexed read).
    Public,
    /// Everything.
    Full,
}

/// The box's facts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub name: String,
    pub version: String,
    /// The box agreement key, b64u.
    pub agreement_key: String,
    /// The box signing key, b64u.
    pub signing_key: String,
    /// `fp` of protocol §8.
    pub fingerprint: String,
    /// The box's clock, Unix seconds.
    pub time: i64,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// The database is open and the box answers `/health` with 200.
    pub healthy: bool,
    pub pairing_open: bool,
    /// When the open window closes; `None` while closed or open until a phone pairs.
    pub pairing_expires: Option<i64>,
    /// When the newest version of any backup was made.
    pub last_backup_at: Option<i64>,
    /// The rest is gathered with [`Scope::Full`] only, and absent while the database is not
    /// open (or a read failed: the failure is logged).
    pub first_started_at: Option<i64>,
    pub devices: Option<u64>,
    pub identities: Option<u64>,
    pub backups: Option<u64>,
    /// The IPFS node, while it runs.
    pub ipfs: Option<IpfsFacts>,
}

/// The embedded IPFS node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpfsFacts {
    pub peer_id: String,
    /// Listening addresses, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    pub peers: usize,
    /// Peers' records in the DHT store, and the records refused since the start.
    pub dht: crate::ipfs::dht_guard::GuardStats,
    /// The network, DHT mode and reachability.
    pub net: crate::ipfs::NetStatus,
}

/// A read that may fail: logged, and `None`.
fn logged<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Option<T> {
    r.map_err(|e| log::warn!("{what}: {e}")).ok()
}

impl AppState {
    /// The box's facts now.
    pub async fn facts(&self, scope: Scope) -> Facts {
        let keys = self.keys();
        let store = self.store();
        let last_backup_at = match self.backups() {
            Some(b) => logged("last backup time", b.last_backup_at().await).flatten(),
            None => None,
        };
        let mut facts = Facts {
            name: self.name().to_owned(),
            version: crate::VERSION.to_owned(),
            agreement_key: keys.agreement_b64u.clone(),
            signing_key: keys.signing_b64u.clone(),
            fingerprint: keys.fingerprint.clone(),
            time: self.clock.now_unix(),
            uptime_s: self.uptime_secs(),
            healthy: self.is_ready(),
            pairing_open: self.pairing().public_window().is_some(),
            pairing_expires: self
                .pairing()
                .public_window()
                .and_then(|(_, expires)| expires),
            last_backup_at,
            first_started_at: None,
            devices: None,
            identities: None,
            backups: None,
            ipfs: None,
        };
        if scope == Scope::Public {
            return facts;
        }
        if let Some(store) = store {
            facts.first_started_at = logged("first start", store.first_started_at().await);
            facts.devices = logged("devices", self.pairing().devices(store).count().await);
        }
        if let Some(ids) = self.identities() {
            facts.identities = logged("identities", ids.count().await);
            let node = ids.node();
            facts.ipfs = Some(IpfsFacts {
                peer_id: node.peer_id().to_owned(),
                listen: node.listen_addrs().await,
                peers: node.peer_count().await,
                dht: node.dht_stats(),
                net: node.net_status(),
            });
        }
        if let Some(b) = self.backups() {
            facts.backups = logged("backups", b.exists().await.map(|e| e.count));
        }
        facts
    }
}
