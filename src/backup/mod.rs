//! Backups (protocol §5): the phone's encrypted bundles, the box's identity keys sealed to the
//! owner, automatic versions, and restore.
//!
//! The box never holds a key that opens what it keeps: the bundle is `crypto_secretbox`ed by
//! the phone, and the identity keys are sealed (`crypto_box_seal`) to the owner's recipient key,
//! whose secret half only the mnemonic gives. A version is one durable transaction. When an
//! identity a backup lists changes or is deleted, the box writes a new version by itself (the
//! same bundle, freshly sealed keys), so backups stay automatic on both sides.

pub mod archive;
pub mod bundle;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::clock::Clock;
use crate::config::BackupSettings;
use crate::crypto::{self, BoxKeys, NONCE_LEN, Secret32};
use crate::identity::{Did, Identities, IdentityError};
use crate::store::{
    BackupRow, Device, IdentityRow, NewBackup, NewVersion, Rebound, Store, StoreError,
};
use wire::{SealedIdentity, SealedKeys, SealedKeysError};

/// Why a backup operation failed; each maps to a protocol §3 error kind.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    InvalidParams(String),
    /// `backup_not_found`.
    #[error("{0}")]
    NotFound(String),
    /// Taking over another device's backup (`backup.enable`) without the proof of its words.
    #[error(
        "this backup belongs to another device; taking it over needs the proof that only its \
         24-word backup phrase gives"
    )]
    NeedsProof,
    /// The backup belongs to another device.
    #[error(
        "this backup belongs to another device; take it over first with backup.enable and the \
         proof of its backup phrase"
    )]
    OtherDevice,
    /// Backups are turned off for this backup.
    #[error("backups are turned off for this backup; turn them on again with backup.enable")]
    TurnedOff,
    /// A version would list an identity of another device.
    #[error(
        "{0} is not an identity of this device; a backup can hold only the device's own \
         identities"
    )]
    NotOwnIdentity(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// The device holds as many backups as it may.
    #[error("{0}")]
    Quota(String),
    /// Taking a backup over would put an eleventh device in its person's group.
    #[error(
        "this backup's person has 10 devices already, as many as one person may; revoke one \
         you no longer use first"
    )]
    GroupFull,
    /// A v2 version under a group key the group no longer uses (a device left it).
    #[error(
        "this bundle is under a group key that is no longer used (a device left the group): \
         fetch the newest version, which holds the new key sealed to this device, or make a \
         new group key and seal it to the group's devices"
    )]
    GroupKeyRetired,
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An archive could not be laid out (a bug, not bad input).
    #[error("cannot lay out the archive: {0}")]
    Archive(std::io::Error),
}

type Result<T> = std::result::Result<T, BackupError>;

pub use crate::protocol::backup::{
    ArchiveTicket, BackupArchiveTicket, BackupDisable, BackupEnable, BackupFetch, BackupLatest,
    BackupPut, BackupRestoreKeys, BackupSummary, Disabled, Enabled, Exists, Fetched, Latest,
    Listed, RestoreIdentity, RestoredKeys, StatusList, Stored,
};

/// The backup service.
#[derive(Debug, Clone)]
pub struct Backups {
    store: Store,
    identities: Identities,
    keys: Arc<BoxKeys>,
    clock: Arc<dyn Clock>,
    settings: BackupSettings,
    /// Backups one device may hold (`quota.backups_per_device`).
    max_per_device: u32,
}

/// An archive ready to be sent: its layout, and where its bundle's bytes are.
#[derive(Debug, Clone)]
pub struct ArchiveSource {
    pub plan: Arc<archive::Plan>,
    pub backup_id: String,
    pub version: u64,
    store: Store,
}

impl ArchiveSource {
    /// Bytes `start..end` of the archive as a stream of pieces of at most `chunk` bytes read
    /// one after the other (constant memory whatever the bundle's size). `on_end` runs once
    /// the archive's last byte has been handed out.
    pub fn stream(
        &self,
        start: u64,
        end: u64,
        chunk: usize,
        on_end: impl FnOnce() + Send + 'static,
    ) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
        let reaches_end = end >= self.plan.len();
        let pieces: std::collections::VecDeque<archive::Piece> =
            self.plan.pieces(start, end, chunk as u64).into();
        // The bundle's pieces are contiguous: one sequential reader serves them all.
        let bundle_range = pieces
            .iter()
            .fold(None, |acc: Option<(u64, u64)>, p| match p {
                archive::Piece::Bundle { offset, len } => Some(match acc {
                    None => (*offset, offset + len),
                    Some((a, _)) => (a, offset + len),
                }),
                archive::Piece::Bytes(_) => acc,
            });
        let reader = bundle_range.map(|(a, b)| {
            self.store
                .stream_bundle(&self.backup_id, self.version, a, b - a, chunk)
        });
        let state = (pieces, reader, Some(on_end), reaches_end);
        futures_util::stream::unfold(
            state,
            |(mut pieces, mut reader, mut on_end, reaches_end)| async move {
                let piece = pieces.pop_front()?;
                let bytes = match piece {
                    archive::Piece::Bytes(b) => Ok(b),
                    archive::Piece::Bundle { len, .. } => {
                        let next = match reader.as_mut() {
                            Some(r) => r.recv().await,
                            None => None,
                        };
                        match next {
                            Some(Ok(b)) if b.len() as u64 == len => Ok(bytes::Bytes::from(b)),
                            Some(Err(e)) => Err(std::io::Error::other(e)),
                            _ => Err(std::io::Error::other(
                                "this backup version was removed from the box during the download",
                            )),
                        }
                    }
                };
                if pieces.is_empty()
                    && reaches_end
                    && bytes.is_ok()
                    && let Some(f) = on_end.take()
                {
                    f();
                }
                Some((bytes, (pieces, reader, on_end, reaches_end)))
            },
        )
    }
}

/// The text a restored phone signs (as a `crypto_box`) to take a backup over.
pub fn rebind_text(backup_id: &str, device_id: &str) -> String {
    format!("rebind {backup_id} {device_id}")
}

/// A `backup_id`: 32 lower-case hex digits.
pub fn check_backup_id(id: &str) -> Result<()> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(BackupError::InvalidParams(
            "backup_id must be 32 lower-case hex digits".into(),
        ))
    }
}

fn decode_b64u(text: &str, what: &str) -> Result<Vec<u8>> {
    crypto::b64u_decode(text).map_err(|_| {
        BackupError::InvalidParams(format!("{what} must be base64url without padding"))
    })
}

fn not_found(id: &str) -> BackupError {
    BackupError::NotFound(format!(
        "no backup matches this mnemonic on this box (backup {id})"
    ))
}

impl Backups {
    pub fn new(
        store: Store,
        identities: Identities,
        keys: Arc<BoxKeys>,
        clock: Arc<dyn Clock>,
        settings: BackupSettings,
        max_per_device: u32,
    ) -> Self {
        Self {
            store,
            identities,
            keys,
            clock,
            settings,
            max_per_device,
        }
    }

    /// Turns backups on for `backup_id`, or lets a restored phone take its backup over. With
    /// `may_create` false (a pending device), only an existing backup can be taken over.
    pub async fn enable(
        &self,
        caller: &Device,
        p: BackupEnable,
        may_create: bool,
    ) -> Result<Enabled> {
        let device_id = caller.device_id.as_str();
        check_backup_id(&p.backup_id)?;
        let recipient: [u8; 32] = decode_b64u(&p.recipient, "recipient")?
            .try_into()
            .map_err(|_| BackupError::InvalidParams("recipient must be 32 bytes".into()))?;
        crypto::check_x25519_public(&recipient).map_err(|_| {
            BackupError::InvalidParams(
                "recipient is not a usable X25519 public key (it has low order)".into(),
            )
        })?;
        let enabled = |rebound| Enabled {
            backup_id: p.backup_id.clone(),
            enabled: true,
            rebound,
            superseded: None,
        };
        let existing = match self.store.backup(&p.backup_id).await? {
            Some(b) => b,
            None if !may_create => return Err(not_found(&p.backup_id)),
            None => {
                let row = BackupRow {
                    backup_id: p.backup_id.clone(),
                    group_id: caller.group_id.clone(),
                    recipient,
                    created: self.clock.now_unix(),
                    enabled: true,
                };
                let max = u64::from(self.max_per_device);
                match self.store.insert_backup(row, max).await? {
                    NewBackup::Inserted => {
                        log::info!("backups enabled by device {device_id}");
                        return Ok(enabled(false));
                    }
                    NewBackup::Quota => {
                        return Err(BackupError::Quota(format!(
                            "this phone holds {max} backups on the box, as many as it allows one \
                             device (quota.backups_per_device); turn one off with its data \
                             deleted first"
                        )));
                    }
                    NewBackup::Exists => {}
                }
                // Another request made it first: judge this one against it.
                self.store
                    .backup(&p.backup_id)
                    .await?
                    .ok_or_else(|| not_found(&p.backup_id))?
            }
        };
        if !crypto::ct_eq(&existing.recipient, &recipient) {
            return Err(BackupError::Conflict(
                "this backup already exists with another recipient key".into(),
            ));
        }
        if existing.group_id == caller.group_id {
            if !existing.enabled {
                self.store.set_backup_enabled(&p.backup_id, true).await?;
                log::info!("backups turned on again by device {device_id}");
            }
            return Ok(enabled(false));
        }
        self.check_proof(&existing, device_id, &p)?;
        let dids = match self.store.backup_version(&p.backup_id, None).await? {
            Some(v) => listed(&v.identities).into_iter().map(|l| l.did).collect(),
            None => Vec::new(),
        };
        let superseded = match self
            .store
            .rebind_backup(&p.backup_id, device_id, dids, self.clock.now_unix())
            .await?
        {
            Rebound::Done { superseded } => superseded,
            Rebound::NoBackup => return Err(not_found(&p.backup_id)),
            Rebound::GroupFull => return Err(BackupError::GroupFull),
        };
        log::info!(
            "backup taken over by device {device_id} (from group {}) with the mnemonic's proof",
            existing.group_id
        );
        if let Some(old) = &superseded {
            log::info!(
                "device {old} superseded by device {device_id}: it can no longer use the box"
            );
        }
        Ok(Enabled {
            superseded,
            ..enabled(true)
        })
    }

    fn check_proof(&self, backup: &BackupRow, device_id: &str, p: &BackupEnable) -> Result<()> {
        let refuse = || BackupError::NeedsProof;
        let (Some(proof), Some(nonce)) = (&p.proof, &p.proof_nonce) else {
            return Err(refuse());
        };
        let proof = crypto::b64u_decode(proof).map_err(|_| refuse())?;
        let nonce: [u8; NONCE_LEN] = crypto::b64u_decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(refuse)?;
        let opened = crypto::nacl_box_open(
            self.keys.agreement_secret(),
            &backup.recipient,
            &nonce,
            &proof,
        )
        .ok_or_else(refuse)?;
        let expected = rebind_text(&backup.backup_id, device_id);
        if crypto::ct_eq(&opened, expected.as_bytes()) {
            Ok(())
        } else {
            Err(refuse())
        }
    }

    /// The backup `id`, checked to exist and belong to the group `group_id`.
    async fn owned(&self, group_id: &str, id: &str) -> Result<BackupRow> {
        check_backup_id(id)?;
        let backup = self.store.backup(id).await?.ok_or_else(|| {
            BackupError::NotFound(format!(
                "there is no backup {id} on this box; turn backups on first (backup.enable)"
            ))
        })?;
        if backup.group_id != group_id {
            return Err(BackupError::OtherDevice);
        }
        Ok(backup)
    }

    /// Stores a new version: the phone's bundle and the keys of the identities it lists.
    pub async fn put(&self, caller: &Device, p: BackupPut) -> Result<Stored> {
        // Check the size before decoding: base64url is 4 characters per 3 bytes.
        let max = self.settings.max_bundle_bytes;
        if (p.bundle.len() as u64).saturating_mul(3) / 4 > max {
            return Err(too_large(max));
        }
        let backup = self.owned(&caller.group_id, &p.backup_id).await?;
        if !backup.enabled {
            return Err(BackupError::TurnedOff);
        }
        let bundle = decode_b64u(&p.bundle, "bundle")?;
        let group_key_id = self.check_v2(&backup, &bundle).await?;
        if bundle.len() as u64 > max {
            return Err(too_large(max));
        }
        if bundle.len() < NONCE_LEN + 16 {
            return Err(BackupError::InvalidParams(
                "bundle is too short to be nonce, tag and ciphertext".into(),
            ));
        }
        let mut dids: Vec<String> = Vec::with_capacity(p.identities.len());
        for did in &p.identities {
            let did = did
                .parse::<Did>()
                .map_err(|e| BackupError::InvalidParams(e.to_string()))?
                .to_string();
            if !dids.contains(&did) {
                dids.push(did);
            }
        }
        let own = self.identities.keys_of(&caller.group_id).await?;
        let mut rows = Vec::with_capacity(dids.len());
        for did in &dids {
            let Some(row) = own.iter().find(|r| &r.did == did) else {
                return Err(BackupError::NotOwnIdentity(did.clone()));
            };
            rows.push(row);
        }
        let hash = crypto::sha256(&bundle);
        let size = bundle.len();
        self.write_version(&backup, Some((bundle, hash, group_key_id)), &rows)
            .await
            .map(|(version, created, sealed_keys)| Stored {
                backup_id: backup.backup_id.clone(),
                version,
                created,
                // Base64url without padding: 4 characters per 3 bytes.
                size: (size + sealed_keys.len() * 3 / 4) as u64,
                sealed_keys,
            })
    }

    /// For a v2 bundle (protocol §5, "Bundle format v2"): its structure reads, its mnemonic
    /// slot is this backup's, its group key is not retired (a new one becomes the group's),
    /// and its group key is sealed to nobody outside the group. Returns the group key's id;
    /// `None` for a v1 bundle.
    async fn check_v2(&self, backup: &BackupRow, bundle: &[u8]) -> Result<Option<String>> {
        if !bundle::is_v2(bundle) {
            return Ok(None);
        }
        let parsed =
            bundle::parse(bundle).map_err(|e| BackupError::InvalidParams(e.to_string()))?;
        if hex::encode(parsed.backup_id()) != backup.backup_id {
            return Err(BackupError::InvalidParams(
                "this bundle was made for another backup (its mnemonic slot names another id)"
                    .into(),
            ));
        }
        let key_id = parsed.group_key_id().map(hex::encode).ok_or_else(|| {
            BackupError::InvalidParams("a v2 bundle must have a group slot".into())
        })?;
        // Sealed to nobody this box knows outside the group: no device of another person,
        // no removed device. (Ids this box never saw are let through: an archive restored onto
        // a new box names the devices of the box it came from.)
        let devices = self.store.devices().await?;
        let removed = self.store.removed_devices().await?;
        for id in parsed.device_ids().map(hex::encode) {
            let outsider = devices
                .iter()
                .any(|d| d.device_id == id && d.group_id != backup.group_id)
                || (removed.iter().any(|r| r.device_id == id)
                    && !devices.iter().any(|d| d.device_id == id));
            if outsider {
                return Err(BackupError::InvalidParams(format!(
                    "this bundle seals the group key to device {id}, which is not a device of \
                     this backup's person (or was removed); seal it only to the devices \
                     devices.list shows in your group"
                )));
            }
        }
        // Judged again, and taken as the group's, in the version's own transaction.
        if self.key_retired(&backup.group_id, &key_id).await? {
            return Err(BackupError::GroupKeyRetired);
        }
        Ok(Some(key_id))
    }

    /// Whether `key_id` is a retired key of the group `group_id`.
    async fn key_retired(&self, group_id: &str, key_id: &str) -> Result<bool> {
        let key = self.store.group_key(group_id).await?;
        Ok(key.retired.iter().any(|k| k == key_id))
    }

    /// Writes a version holding the keys of `rows` (those with a key: deleted identities have
    /// none) sealed to the backup's recipient and to each device of its group.
    async fn write_version(
        &self,
        backup: &BackupRow,
        bundle: Option<(Vec<u8>, [u8; 32], Option<String>)>,
        rows: &[&IdentityRow],
    ) -> Result<(u64, i64, String)> {
        let mut sealed = Vec::with_capacity(rows.len());
        let mut list = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(secret) = &row.secret_key else {
                continue;
            };
            sealed.push(SealedIdentity::new(row.did.clone(), secret, row.seq));
            list.push(Listed {
                did: row.did.clone(),
                cid: row.cid.clone(),
                seq: row.seq,
            });
        }
        let payload = SealedKeys::new(sealed);
        let sealed_keys = payload.seal(&backup.recipient);
        let sealed_b64u = crypto::b64u(&sealed_keys);
        let device_keys = self
            .store
            .group_devices(&backup.group_id)
            .await?
            .into_iter()
            .filter(|d| d.role != crate::protocol::Role::Pending)
            .map(|d| (d.device_id, payload.seal(&d.device_key)))
            .collect();
        let created = self.clock.now_unix();
        let (bundle, group_key_id) = match bundle {
            Some((bytes, hash, key_id)) => (Some((bytes, hash)), key_id),
            None => (None, None),
        };
        let version = NewVersion {
            bundle,
            group_key_id,
            device_keys,
            sealed_sha256: crypto::sha256(&sealed_keys),
            sealed_keys,
            identities: serde_json::to_string(&list)
                .unwrap_or_else(|_| unreachable!("strings and numbers always serialize")),
            created,
        };
        let key_id = version.group_key_id.clone();
        let Some(n) = self
            .store
            .add_backup_version(&backup.backup_id, version, self.settings.keep_versions)
            .await?
        else {
            // Retired between the check and the write (a device left), or the backup is gone.
            if let Some(key_id) = key_id
                && self.key_retired(&backup.group_id, &key_id).await?
            {
                return Err(BackupError::GroupKeyRetired);
            }
            return Err(not_found(&backup.backup_id));
        };
        Ok((n, created, sealed_b64u))
    }

    /// After an identity changed (new document, deletion, restore): every backup whose newest
    /// version lists it gets a new version with the same bundle and freshly sealed keys.
    /// Returns the versions written.
    pub async fn identity_changed(&self, did: &str) -> Result<Vec<(String, u64)>> {
        let mut written = Vec::new();
        for backup in self.store.backups_listing(did).await? {
            let Some(newest) = self.store.backup_version(&backup.backup_id, None).await? else {
                continue;
            };
            let own = self.identities.keys_of(&backup.group_id).await?;
            // Deleted identities, and those no longer the owner's, drop out.
            let rows: Vec<&IdentityRow> = listed(&newest.identities)
                .iter()
                .filter_map(|l| own.iter().find(|r| r.did == l.did))
                .collect();
            let (version, _, _) = self.write_version(&backup, None, &rows).await?;
            log::info!(
                "backup version {version} made after a change of {did} (group {})",
                backup.group_id
            );
            written.push((backup.backup_id, version));
        }
        Ok(written)
    }

    /// This device's backups.
    pub async fn status(&self, device_id: &str) -> Result<StatusList> {
        Ok(StatusList {
            backups: self
                .store
                .backups_of(device_id)
                .await?
                .into_iter()
                .map(|s| BackupSummary {
                    backup_id: s.backup_id,
                    versions: s.versions,
                    latest_version: s.latest_version,
                    latest_created: s.latest_created,
                    size: s.size,
                })
                .collect(),
        })
    }

    /// The id of the device's only backup, for a request that names none (`extract.approve`
    /// without `backup_id`): `NotFound` when it has none, `InvalidParams` naming the choice when
    /// it has several.
    pub async fn sole_backup(&self, device_id: &str) -> Result<String> {
        let mut ids: Vec<String> = self
            .store
            .backups_of(device_id)
            .await?
            .into_iter()
            .map(|s| s.backup_id)
            .collect();
        match ids.len() {
            0 => Err(BackupError::NotFound(
                "this phone has no backup on the box: turn backups on first".into(),
            )),
            1 => Ok(ids.remove(0)),
            _ => Err(BackupError::InvalidParams(format!(
                "this phone has {} backups on the box ({}): say which one with backup_id",
                ids.len(),
                ids.join(", ")
            ))),
        }
    }

    /// When the newest complete version of any backup was made (the only backup fact the box
    /// tells anyone on the network).
    pub async fn last_backup_at(&self) -> Result<Option<i64>> {
        Ok(self.store.last_backup_at().await?)
    }

    /// How many backups the box holds, of any device.
    pub async fn exists(&self) -> Result<Exists> {
        Ok(Exists {
            count: self.store.backup_count().await?,
        })
    }

    /// The newest version's number, time and size (`backup.latest`): any paired device that
    /// knows the id may ask.
    pub async fn latest(&self, p: BackupLatest) -> Result<Latest> {
        check_backup_id(&p.backup_id)?;
        let (version, created, size) = self
            .store
            .latest_version(&p.backup_id)
            .await?
            .ok_or_else(|| not_found(&p.backup_id))?;
        Ok(Latest {
            version,
            created,
            size,
        })
    }

    /// A version's ciphertext and documents: any paired device that knows the id may fetch;
    /// a device of the backup's group also gets the keys sealed to it.
    pub async fn fetch(&self, caller: &Device, p: BackupFetch) -> Result<Fetched> {
        check_backup_id(&p.backup_id)?;
        let v = self
            .store
            .backup_version(&p.backup_id, p.version)
            .await?
            .ok_or_else(|| match p.version {
                Some(n) => BackupError::NotFound(format!(
                    "this backup has no version {n}; backup.status lists the versions kept"
                )),
                None => not_found(&p.backup_id),
            })?;
        let identities = listed(&v.identities);
        let documents = self.documents_of(&identities).await?;
        let in_group = self
            .store
            .backup(&v.backup_id)
            .await?
            .is_some_and(|b| b.group_id == caller.group_id);
        let device_keys = match in_group {
            true => self
                .store
                .version_device_keys(&v.backup_id, v.version, &caller.device_id)
                .await?
                .map(|k| crypto::b64u(&k)),
            false => None,
        };
        Ok(Fetched {
            device_keys,
            backup_id: v.backup_id,
            version: v.version,
            created: v.created,
            bundle: crypto::b64u(&v.bundle),
            sealed_keys: crypto::b64u(&v.sealed_keys),
            bundle_sha256: hex::encode(v.bundle_sha256),
            sealed_sha256: hex::encode(v.sealed_sha256),
            identities,
            documents,
        })
    }

    /// The current documents of the listed identities, by DID.
    async fn documents_of(&self, identities: &[Listed]) -> Result<BTreeMap<String, Value>> {
        let mut documents = BTreeMap::new();
        for l in identities {
            if let Some(row) = self.store.identity(&l.did).await?
                && let Ok(doc) = serde_json::from_str::<Value>(&row.document)
            {
                documents.insert(l.did.clone(), doc);
            }
        }
        Ok(documents)
    }

    /// Lays out the archive of a version of the caller's backup (the newest when `version` is
    /// `None`), signed by this box; its bundle is read from the store as it is sent.
    pub async fn archive(
        &self,
        device_id: &str,
        backup_id: &str,
        version: Option<u64>,
        box_name: &str,
    ) -> Result<ArchiveSource> {
        let backup = self.owned(device_id, backup_id).await?;
        let meta = self
            .store
            .backup_version_meta(&backup.backup_id, version)
            .await?
            .ok_or_else(|| match version {
                Some(n) => BackupError::NotFound(format!(
                    "this backup has no version {n}; backup.status lists the versions kept"
                )),
                None => BackupError::NotFound(
                    "this backup has no version yet; upload one with backup.put".into(),
                ),
            })?;
        let documents = self
            .documents_of(&listed(&meta.identities))
            .await?
            .into_iter()
            .map(|(did, doc)| {
                let name = did.strip_prefix("did:ipid:").unwrap_or(&did).to_owned();
                (name, doc)
            })
            .collect();
        let inputs = archive::Inputs {
            box_name: box_name.to_owned(),
            backup_id: backup.backup_id.clone(),
            version: meta.version,
            created: meta.created,
            bundle_len: meta.bundle_len,
            bundle_sha256: meta.bundle_sha256,
            sealed_keys: meta.sealed_keys,
            documents,
        };
        let plan = archive::Plan::new(&inputs, &self.keys).map_err(BackupError::Archive)?;
        Ok(ArchiveSource {
            plan: Arc::new(plan),
            backup_id: backup.backup_id,
            version: meta.version,
            store: self.store.clone(),
        })
    }

    /// Imports identity keys sealed to this box, binds them to the caller and republishes
    /// them above every sequence number seen.
    pub async fn restore_keys(
        &self,
        device_id: &str,
        p: BackupRestoreKeys,
    ) -> Result<RestoredKeys> {
        check_backup_id(&p.backup_id)?;
        let sealed = decode_b64u(&p.sealed, "sealed")?;
        let keys =
            SealedKeys::open(self.keys.agreement_secret(), &sealed).map_err(|e| match e {
                SealedKeysError::CannotOpen => BackupError::InvalidParams(
                    "the identity keys are not sealed to this box's agreement key".into(),
                ),
                other => BackupError::InvalidParams(other.to_string()),
            })?;
        let mut restored = Vec::new();
        let mut skipped = Vec::new();
        for id in &keys.identities {
            let secret: Secret32 = id.secret().ok_or_else(|| {
                BackupError::InvalidParams(format!("the key of {} is not 32 bytes", id.did))
            })?;
            let did = Did::new(crate::ipfs::record::name_of_seed(secret.expose()));
            if id.did.parse::<Did>().ok().as_ref() != Some(&did) {
                return Err(BackupError::InvalidParams(format!(
                    "the key listed for {} belongs to {did}",
                    id.did
                )));
            }
            let given = p.identities.iter().find(|g| g.did == did.to_string());
            match self
                .identities
                .import(
                    device_id,
                    &secret,
                    id.seq,
                    given.and_then(|g| g.name.as_deref()),
                    given.map(|g| &g.document),
                )
                .await?
            {
                Some(view) => {
                    // Backups that list it (the caller's own, after a take-over) get a version.
                    if let Err(e) = self.identity_changed(&view.did).await {
                        log::error!("no new backup version after restoring {did}: {e}");
                    }
                    restored.push(view.did);
                }
                None => skipped.push(did.to_string()),
            }
        }
        Ok(RestoredKeys { restored, skipped })
    }

    /// Turns backups off; with `delete`, erases every version, leaving nothing in the files.
    pub async fn disable(&self, device_id: &str, p: BackupDisable) -> Result<Disabled> {
        let backup = self.owned(device_id, &p.backup_id).await?;
        if p.delete {
            self.store.delete_backup(&backup.backup_id).await?;
            log::info!("backup erased by group {device_id}");
        } else {
            self.store
                .set_backup_enabled(&backup.backup_id, false)
                .await?;
            log::info!("backups turned off by group {device_id}; the versions are kept");
        }
        Ok(Disabled {
            backup_id: backup.backup_id,
            deleted: p.delete,
        })
    }
}

fn too_large(max: u64) -> BackupError {
    BackupError::TooLarge(format!(
        "the backup is larger than this box accepts ({max} bytes); remove attachments from \
         the phone's address book, or ask the box's owner to raise backup.max_bundle_bytes"
    ))
}

/// The identities a stored version lists.
fn listed(json: &str) -> Vec<Listed> {
    serde_json::from_str(json).unwrap_or_default()
}
