//! The household's DIDs: identity keys, DID documents, publishing and resolution (protocol §4).
//!
//! Each identity has its own ed25519 key, made here and kept in the store; its IPNS name is
//! the DID. A new value of an identity is, in order: the document stored and pinned in the
//! IPFS node, a record signed with the next sequence number, one durable store write (the
//! reply waits for it), and the record queued for the DHT. Records are re-signed with a fresh
//! end of life at start and every few hours ([`Identities::republish_all`]).

pub mod did;
pub mod document;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::crypto::{self, Secret32};
use crate::ipfs::{self, IpnsName, Node, record};
pub use crate::protocol::identity::{
    IdentityCreate, IdentitySummary, IdentityUpdate, IdentityView, KeysParam, Resolution,
    ResolutionMetadata, Service,
};
use crate::store::{IdentityRow, Publication, Store, StoreError};
pub use did::{Did, DidError};
use document::PublicKeys;

/// How long a signed record stays valid (protocol §4: 48 h).
pub const RECORD_LIFETIME_SECS: i64 = 48 * 3600;
/// Longest identity label.
pub const MAX_NAME_CHARS: usize = 64;

/// Why an identity operation failed; each maps to a protocol §3 error kind.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The request's values are not acceptable.
    #[error("{0}")]
    InvalidParams(String),
    /// The string is not a `did:ipid` DID.
    #[error(transparent)]
    InvalidDid(#[from] DidError),
    /// No such identity here, or nothing found on the network.
    #[error("{0}")]
    NotFound(String),
    /// The identity belongs to another device.
    #[error("this identity belongs to another device; only that device can change or delete it")]
    Forbidden,
    /// The device holds as many identities as it may.
    #[error("{0}")]
    Quota(String),
    /// Another request changed the identity first.
    #[error("the identity was changed by another request at the same time; try again")]
    Conflict,
    /// The IPFS node failed.
    #[error("{0}")]
    Ipfs(#[from] ipfs::IpfsError),
    /// A record could not be made.
    #[error("{0}")]
    Record(#[from] record::RecordError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness for a new key.
    #[error("cannot make a new key: {0}")]
    Random(String),
}

/// The identity service.
#[derive(Debug, Clone)]
pub struct Identities {
    store: Store,
    node: Node,
    clock: Arc<dyn Clock>,
    resolve_timeout: Duration,
    /// Live identities one device may hold (`quota.identities_per_device`).
    max_per_device: u32,
}

impl Identities {
    pub fn new(
        store: Store,
        node: Node,
        clock: Arc<dyn Clock>,
        resolve_timeout: Duration,
        max_per_device: u32,
    ) -> Self {
        Self {
            store,
            node,
            clock,
            resolve_timeout,
            max_per_device,
        }
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Makes a new identity owned by `group_id`.
    pub async fn create(
        &self,
        group_id: &str,
        p: IdentityCreate,
    ) -> Result<IdentityView, IdentityError> {
        let label = valid_name(&p.name)?;
        let keys = p.keys.decode().map_err(IdentityError::InvalidParams)?;
        let secret = Secret32::random().map_err(|e| IdentityError::Random(e.to_string()))?;
        let did = Did::new(record::name_of_seed(secret.expose()));
        let services =
            document::normalize_services(&did, p.services).map_err(IdentityError::InvalidParams)?;
        let view = self
            .insert_new(group_id, label, &secret, keys, &services, 0)
            .await?;
        log::info!("identity {did} created by group {group_id}");
        Ok(view)
    }

    /// Stores and publishes the first value this box holds of an identity: the document put
    /// and pinned, a record signed with `seq`, one durable insert, the record queued.
    async fn insert_new(
        &self,
        group_id: &str,
        label: String,
        secret: &Secret32,
        keys: PublicKeys,
        services: &[Service],
        seq: u64,
    ) -> Result<IdentityView, IdentityError> {
        let did = Did::new(record::name_of_seed(secret.expose()));
        let doc = document::document(&did, &keys, services);
        let cid = self.node.put_document(&doc).await?;
        let now = self.clock.now_unix();
        let record = record::sign(
            secret.expose(),
            &ipfs_path(&cid),
            seq,
            now + RECORD_LIFETIME_SECS,
        )?;
        let row = IdentityRow {
            did: did.to_string(),
            ipns_name: did.ipns_name().to_string(),
            name: label,
            group_id: group_id.to_owned(),
            secret_key: Some(Zeroizing::new(*secret.expose())),
            signing_key: keys.signing,
            agreement_key: keys.agreement,
            services: services_json(services),
            document: doc.to_string(),
            cid,
            seq,
            record: record.clone(),
            created: now,
            updated: now,
            deactivated: false,
        };
        let view = view(&row, doc);
        if !self
            .store
            .insert_identity(row, u64::from(self.max_per_device))
            .await?
        {
            return Err(self.quota());
        }
        self.node.publish(did.ipns_name(), record);
        self.node.provide(&view.cid);
        Ok(view)
    }

    /// The refusal of one identity too many.
    fn quota(&self) -> IdentityError {
        IdentityError::Quota(format!(
            "this phone holds {} identities, as many as the box allows one device \
             (quota.identities_per_device); delete one first",
            self.max_per_device
        ))
    }

    /// The live identities of a device.
    pub async fn list(&self, group_id: &str) -> Result<Vec<IdentitySummary>, IdentityError> {
        Ok(self
            .store
            .identities_of(group_id)
            .await?
            .into_iter()
            .map(|r| IdentitySummary {
                did: r.did,
                name: r.name,
                cid: r.cid,
                seq: r.seq,
                updated: r.updated,
            })
            .collect())
    }

    /// One identity of the calling device.
    pub async fn get(&self, group_id: &str, did: &str) -> Result<IdentityView, IdentityError> {
        let row = self.owned(group_id, did).await?;
        let doc = parse_document(&row.document)?;
        Ok(view(&row, doc))
    }

    /// Publishes a new document with other keys and/or services.
    pub async fn update(
        &self,
        group_id: &str,
        p: IdentityUpdate,
    ) -> Result<IdentityView, IdentityError> {
        let row = self.owned(group_id, &p.did).await?;
        let did: Did = row.did.parse()?;
        let keys = match &p.keys {
            Some(k) => k.decode().map_err(IdentityError::InvalidParams)?,
            None => PublicKeys {
                signing: row.signing_key,
                agreement: row.agreement_key,
            },
        };
        let services = match p.services {
            Some(s) => {
                document::normalize_services(&did, s).map_err(IdentityError::InvalidParams)?
            }
            None => serde_json::from_str(&row.services).unwrap_or_default(),
        };
        let doc = document::document(&did, &keys, &services);
        self.publish_new_value(&row, &did, doc, keys, services_json(&services), false)
            .await
    }

    /// Publishes the deactivated document, then erases the identity key.
    pub async fn delete(&self, group_id: &str, did: &str) -> Result<Did, IdentityError> {
        let row = self.owned(group_id, did).await?;
        let parsed: Did = row.did.parse()?;
        let keys = PublicKeys {
            signing: row.signing_key,
            agreement: row.agreement_key,
        };
        self.publish_new_value(
            &row,
            &parsed,
            document::deactivated(&parsed),
            keys,
            row.services.clone(),
            true,
        )
        .await?;
        log::info!("identity {parsed} deleted by group {group_id}; its key is erased");
        Ok(parsed)
    }

    async fn publish_new_value(
        &self,
        row: &IdentityRow,
        did: &Did,
        doc: Value,
        keys: PublicKeys,
        services: String,
        deactivate: bool,
    ) -> Result<IdentityView, IdentityError> {
        let secret = row
            .secret_key
            .as_ref()
            .ok_or_else(|| IdentityError::NotFound(format!("{did} has been deleted")))?;
        let cid = self.node.put_document(&doc).await?;
        if cid == row.cid {
            // Nothing changed: no new value, no new sequence number.
            return Ok(view(row, doc));
        }
        let now = self.clock.now_unix();
        let seq = next_seq(row.seq)?;
        let record = record::sign(secret, &ipfs_path(&cid), seq, now + RECORD_LIFETIME_SECS)?;
        let publication = Publication {
            signing_key: keys.signing,
            agreement_key: keys.agreement,
            services,
            document: doc.to_string(),
            cid: cid.clone(),
            seq,
            record: record.clone(),
            updated: now,
            deactivated: deactivate,
        };
        if !self
            .store
            .publish_identity(&row.did, row.seq, publication)
            .await?
        {
            return Err(IdentityError::Conflict);
        }
        self.node.publish(did.ipns_name(), record);
        self.node.provide(&cid);
        self.node.unpin(&row.cid).await;
        let mut updated = row.clone();
        updated.cid = cid;
        updated.seq = seq;
        updated.updated = now;
        Ok(view(&updated, doc))
    }

    /// Brings back an identity from its key (protocol §5 `backup.restore_keys`): binds it to
    /// `group_id` and publishes its document with a sequence number above `min_seq` and above
    /// any this box has used. A box that does not hold the identity needs its `document` and
    /// `name`; the document is rebuilt from its keys and services, never stored as given.
    /// `Ok(None)`: the identity was deleted on this box and stays deleted.
    pub async fn import(
        &self,
        group_id: &str,
        secret: &Secret32,
        min_seq: u64,
        name: Option<&str>,
        document: Option<&Value>,
    ) -> Result<Option<IdentityView>, IdentityError> {
        let did = Did::new(record::name_of_seed(secret.expose()));
        match self.store.identity(&did.to_string()).await? {
            Some(row) if row.deactivated => Ok(None),
            Some(row) => {
                let now = self.clock.now_unix();
                let key = Zeroizing::new(*secret.expose());
                let doc = parse_document(&row.document)?;
                // The repository may have lost the block; putting it is idempotent.
                let cid = self.node.put_document(&doc).await?;
                let seq = next_seq(row.seq.max(min_seq))?;
                let record = record::sign(
                    secret.expose(),
                    &ipfs_path(&cid),
                    seq,
                    now + RECORD_LIFETIME_SECS,
                )?;
                let publication = Publication {
                    signing_key: row.signing_key,
                    agreement_key: row.agreement_key,
                    services: row.services.clone(),
                    document: row.document.clone(),
                    cid: cid.clone(),
                    seq,
                    record: record.clone(),
                    updated: now,
                    deactivated: false,
                };
                if !self
                    .store
                    .adopt_identity(&row.did, row.seq, group_id, key, publication)
                    .await?
                {
                    return Err(IdentityError::Conflict);
                }
                self.node.publish(did.ipns_name(), record);
                self.node.provide(&cid);
                log::info!("identity {did} restored to group {group_id} (sequence {seq})");
                let mut updated = row;
                updated.group_id = group_id.to_owned();
                updated.cid = cid;
                updated.seq = seq;
                updated.updated = now;
                Ok(Some(view(&updated, doc)))
            }
            None => {
                let given = document.ok_or_else(|| {
                    IdentityError::InvalidParams(format!(
                        "this box does not hold {did}: send its document with its key"
                    ))
                })?;
                let (keys, services) = document::parse_live(&did, given).map_err(|e| {
                    IdentityError::InvalidParams(format!("the document of {did}: {e}"))
                })?;
                let label = valid_name(name.unwrap_or("restored identity"))?;
                // Other boxes may still hold records of the old box with higher numbers.
                let seen = self.highest_seq_on_network(&did).await;
                let seq = next_seq(min_seq.max(seen.unwrap_or(0)))?;
                let view = self
                    .insert_new(group_id, label, secret, keys, &services, seq)
                    .await?;
                log::info!(
                    "identity {did} restored onto this box for group {group_id} (sequence {seq})"
                );
                Ok(Some(view))
            }
        }
    }

    /// The highest sequence number of a valid record for `did` that the network gives within
    /// a short time (none without peers).
    async fn highest_seq_on_network(&self, did: &Did) -> Option<u64> {
        let timeout = self.resolve_timeout.min(Duration::from_secs(5));
        let now = self.clock.now_unix();
        self.node
            .find_records(did.ipns_name(), timeout)
            .await
            .iter()
            .filter_map(|bytes| record::verify(did.ipns_name(), bytes, now).ok())
            .map(|info| info.seq)
            .max()
    }

    /// The live identities of a device, with their keys (for sealing them into a backup).
    pub async fn keys_of(&self, group_id: &str) -> Result<Vec<IdentityRow>, IdentityError> {
        Ok(self.store.identities_of(group_id).await?)
    }

    /// The identity `did`, checked to be live and owned by `group_id`.
    async fn owned(&self, group_id: &str, did: &str) -> Result<IdentityRow, IdentityError> {
        let parsed: Did = did.parse()?;
        let row = self
            .store
            .identity(&parsed.to_string())
            .await?
            .filter(|r| !r.deactivated)
            .ok_or_else(|| IdentityError::NotFound(format!("this box has no identity {parsed}")))?;
        if !crypto::ct_eq(row.group_id.as_bytes(), group_id.as_bytes()) {
            return Err(IdentityError::Forbidden);
        }
        Ok(row)
    }

    /// Resolves any `did:ipid`: this box's identities from the store, others from the network.
    pub async fn resolve(&self, did: &str) -> Result<Resolution, IdentityError> {
        let did: Did = did.trim().parse()?;
        if let Some(row) = self.store.identity(&did.to_string()).await? {
            let document = parse_document(&row.document)?;
            return Ok(Resolution {
                metadata: ResolutionMetadata {
                    cid: row.cid,
                    seq: row.seq,
                    created: Some(row.created),
                    updated: Some(row.updated),
                    deactivated: row.deactivated,
                    ipns_record: crypto::b64u(&row.record),
                    local: true,
                },
                document,
            });
        }
        self.resolve_remote(&did).await
    }

    /// The newest valid IPNS record of `name`, as signed bytes: this box's own from the store
    /// (a deleted identity's last record too, while it lives), any other from the network. For
    /// the gateway routes (protocol §7), whose callers check the record themselves.
    pub async fn record_of(&self, name: &IpnsName) -> Result<Vec<u8>, IdentityError> {
        let did = Did::new(*name);
        if let Some(row) = self.store.identity(&did.to_string()).await?
            && record::verify(name, &row.record, self.clock.now_unix()).is_ok()
        {
            return Ok(row.record);
        }
        self.best_remote_record(&did)
            .await
            .map(|(_, bytes)| bytes)
            .ok_or_else(|| {
                IdentityError::NotFound(format!(
                    "no valid record for {name} was found on the network"
                ))
            })
    }

    /// The block of one of this box's documents as stored (for the gateway, protocol §7), or
    /// `None` for any other CID: blocks the node fetched for resolving others' DIDs are not
    /// served, so that nobody can learn from the box which DIDs its household looked up.
    pub async fn own_block(&self, cid: &str) -> Result<Option<Vec<u8>>, IdentityError> {
        if !self.store.is_identity_document(cid).await? {
            return Ok(None);
        }
        Ok(self.node.local_block(cid).await)
    }

    /// The newest valid record of `did` that peers hold, with what it says.
    async fn best_remote_record(&self, did: &Did) -> Option<(record::RecordInfo, Vec<u8>)> {
        let name = did.ipns_name();
        let now = self.clock.now_unix();
        let found = self.node.find_records(name, self.resolve_timeout).await;
        found
            .into_iter()
            .filter_map(|bytes| match record::verify(name, &bytes, now) {
                Ok(info) => Some((info, bytes)),
                Err(e) => {
                    log::debug!("ignoring a record for {did}: {e}");
                    None
                }
            })
            .max_by_key(|(info, _)| (info.seq, info.eol))
    }

    async fn resolve_remote(&self, did: &Did) -> Result<Resolution, IdentityError> {
        let Some((info, bytes)) = self.best_remote_record(did).await else {
            return Err(IdentityError::NotFound(format!(
                "no valid record for {did} was found on the network"
            )));
        };
        let cid = info.value.strip_prefix("/ipfs/").ok_or_else(|| {
            IdentityError::NotFound(format!("the record of {did} names no document"))
        })?;
        let document = self.node.get_document(cid, self.resolve_timeout).await?;
        document::check_conformance(did, &document).map_err(|e| {
            IdentityError::NotFound(format!(
                "the document published for {did} is not valid: {e}"
            ))
        })?;
        Ok(Resolution {
            metadata: ResolutionMetadata {
                cid: cid.to_owned(),
                seq: info.seq,
                created: None,
                updated: None,
                deactivated: document::is_deactivated(&document),
                ipns_record: crypto::b64u(&bytes),
                local: false,
            },
            document,
        })
    }

    /// Re-signs every live identity's record with a fresh end of life and queues it for the
    /// DHT, and queues deleted identities' last records as they are while they live. Returns
    /// how many live identities were republished.
    pub async fn republish_all(&self) -> Result<usize, IdentityError> {
        let rows = self.store.live_identities().await?;
        let eol = self.clock.now_unix() + RECORD_LIFETIME_SECS;
        let mut count = 0;
        for row in rows {
            let (Some(secret), Ok(did)) = (row.secret_key.as_ref(), row.did.parse::<Did>()) else {
                continue;
            };
            self.restore_block(&row, &did).await?;
            let record = record::sign(secret, &ipfs_path(&row.cid), row.seq, eol)?;
            // An update that won meanwhile has already published its own, newer record.
            if self
                .store
                .refresh_identity_record(&row.did, row.seq, record.clone())
                .await?
            {
                self.node.publish(did.ipns_name(), record);
                self.node.provide(&row.cid);
                count += 1;
            }
        }
        // A deleted DID's last record (pointing at its deactivated document) goes out again
        // as it is while it is alive: its key is erased, so it cannot be signed anew, but the
        // box keeps holding it, so that a peer replaying an older record of the name cannot
        // bring the DID back (protocol §9, "The DHT record store").
        let now = self.clock.now_unix();
        for row in self.store.deleted_identities().await? {
            let Ok(did) = row.did.parse::<Did>() else {
                continue;
            };
            if record::verify(did.ipns_name(), &row.record, now).is_err() {
                continue;
            }
            self.restore_block(&row, &did).await?;
            self.node.publish(did.ipns_name(), row.record);
            self.node.provide(&row.cid);
        }
        Ok(count)
    }

    /// Puts an identity's document back into the node when its repository lost the block (a
    /// damaged or deleted ipfs/ directory): the database holds the document.
    async fn restore_block(&self, row: &IdentityRow, did: &Did) -> Result<(), IdentityError> {
        if self
            .node
            .get_document(&row.cid, Duration::ZERO)
            .await
            .is_ok()
        {
            return Ok(());
        }
        let cid = self
            .node
            .put_document(&parse_document(&row.document)?)
            .await?;
        if cid != row.cid {
            log::error!(
                "the stored document of {did} does not match its CID {}",
                row.cid
            );
        }
        Ok(())
    }

    /// How many live identities the box holds.
    pub async fn count(&self) -> Result<u64, IdentityError> {
        Ok(self.store.identity_count().await?)
    }
}

fn ipfs_path(cid: &str) -> String {
    format!("/ipfs/{cid}")
}

fn services_json(services: &[Service]) -> String {
    serde_json::to_string(services).unwrap_or_else(|_| "[]".into())
}

fn parse_document(text: &str) -> Result<Value, IdentityError> {
    serde_json::from_str(text).map_err(|e| {
        IdentityError::Store(StoreError::BadValue(format!(
            "a stored document is not JSON: {e}"
        )))
    })
}

fn view(row: &IdentityRow, document: Value) -> IdentityView {
    IdentityView {
        did: row.did.clone(),
        ipns_name: row.ipns_name.clone(),
        name: row.name.clone(),
        cid: row.cid.clone(),
        seq: row.seq,
        document,
        created: row.created,
        updated: row.updated,
    }
}

/// A label: 1 to 64 printable characters, trimmed.
fn valid_name(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(IdentityError::InvalidParams(format!(
            "an identity's name is 1 to {MAX_NAME_CHARS} printable characters"
        )));
    }
    Ok(name.to_owned())
}

/// The largest IPNS sequence number the box stores (SQLite keeps integers as i64).
const MAX_SEQ: u64 = i64::MAX as u64;

/// The sequence number after `seq`, or why there is none: a restored record (protocol §5) may
/// carry any number, and adding one must neither wrap nor leave what the database can hold.
fn next_seq(seq: u64) -> Result<u64, IdentityError> {
    seq.checked_add(1)
        .filter(|&next| next <= MAX_SEQ)
        .ok_or_else(|| {
            IdentityError::InvalidParams(format!(
                "the sequence number {seq} is the largest an IPNS record can have here; this \
                 identity cannot be published again (make a new one)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_neither_wrap_nor_outgrow_the_database() {
        assert_eq!(next_seq(0).ok(), Some(1));
        assert_eq!(next_seq(MAX_SEQ - 1).ok(), Some(MAX_SEQ));
        assert!(matches!(
            next_seq(MAX_SEQ),
            Err(IdentityError::InvalidParams(_))
        ));
        assert!(matches!(
            next_seq(u64::MAX),
            Err(IdentityError::InvalidParams(_))
        ));
    }
}
