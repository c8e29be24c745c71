//! The phone's side of groups (protocol §2 "Groups", §5 "Bundle format v2"): linking a new
//! device, bundles every device of the person opens, keeping up with the versions the other
//! devices write, and a new group key after a device left.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::backup::{BackupState, Bundle, Peer};
use super::{Client, ClientError, OwnIdentity, secret_b64u};
use crate::backup::bundle::{self, Recipients};
use crate::crypto::{self, BackupSecrets, Secret32, b64u, b64u_decode};
use crate::pairing::link::{LinkUri, comparison_code};
use crate::protocol::backup::{BackupFetch, BackupLatest, Stored};
use crate::protocol::devices::{
    DevicesLink, DevicesLinkClaim, DevicesLinkFetch, DevicesLinkStart, DevicesList, LinkDone,
    LinkStarted, LinkState,
};
use crate::protocol::identity::IdentityList;

/// A backup's secrets as a linked device gets them.
#[derive(Clone, Serialize, Deserialize)]
pub struct LinkedBackup {
    pub backup_id: String,
    #[serde(with = "secret_b64u")]
    pub bundle_key: Secret32,
    #[serde(with = "secret_b64u")]
    pub recipient: Secret32,
}

impl std::fmt::Debug for LinkedBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedBackup")
            .field("backup_id", &self.backup_id)
            .finish_non_exhaustive()
    }
}

/// What a device seals for a device it links (protocol §2, the reference client's `sealed`).
#[derive(Clone, Serialize, Deserialize)]
pub struct LinkSecrets {
    pub v: u32,
    #[serde(with = "secret_b64u")]
    pub group_key: Secret32,
    pub own: Vec<OwnIdentity>,
    pub peers: Vec<Peer>,
    #[serde(default)]
    pub backups: Vec<LinkedBackup>,
}

impl std::fmt::Debug for LinkSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSecrets")
            .field("own", &self.own.len())
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

/// What the device that scanned a link QR shows before the person confirms.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LinkApproval {
    pub device_id: String,
    pub name: String,
    /// The 6-digit comparison code: the new device shows the same.
    pub comparison: String,
}

impl std::fmt::Display for LinkApproval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Linking \"{}\". Check that it shows the code {}, then confirm.",
            self.name, self.comparison
        )
    }
}

/// Where the new device's link stands.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkProgress {
    Waiting,
    /// `by` scanned the link QR: both show `comparison`.
    Claimed {
        by: String,
        comparison: String,
    },
    /// Linked by `by`: this device has the person's identities, contacts and backups.
    Linked {
        by: String,
        identities: usize,
        peers: usize,
        backups: usize,
    },
}

impl std::fmt::Display for LinkProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkProgress::Waiting => write!(
                f,
                "No device has scanned the link code yet; scan it with another device of yours."
            ),
            LinkProgress::Claimed { by, comparison } => write!(
                f,
                "\"{by}\" scanned the link code. Check that it shows {comparison}, and confirm there."
            ),
            LinkProgress::Linked {
                by,
                identities,
                peers,
                backups,
            } => write!(
                f,
                "Linked by \"{by}\": {identities} identities, {peers} contacts and {backups} \
                 backups are on this device now."
            ),
        }
    }
}

fn id16(hex_id: &str) -> Result<[u8; 16], ClientError> {
    hex::decode(hex_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ClientError::Protocol(format!("{hex_id} is not 32 hex digits")))
}

fn key32(text: &str) -> Result<[u8; 32], ClientError> {
    b64u_decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ClientError::Protocol("a device key is not 32 bytes of base64url".into()))
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(e.to_string())
}

impl Client {
    fn device_public(&self) -> [u8; 32] {
        crypto::x25519_public(&self.state.device.secret)
    }

    /// The new device: a link code, shown as the link QR.
    pub fn link_start(&mut self) -> Result<LinkStarted, ClientError> {
        let started = self.call(&DevicesLinkStart {})?;
        self.state.link_code = Some(started.code.clone());
        Ok(started)
    }

    /// The new device: how its link stands; once linked, takes the person's secrets and the
    /// newest backup version.
    pub fn link_progress(&mut self) -> Result<LinkProgress, ClientError> {
        let fetched = self.call(&DevicesLinkFetch {
            device_id: self.state.device.device_id.clone(),
        })?;
        let by = fetched.by.clone();
        match (fetched.state, by, fetched.sealed) {
            (LinkState::Claimed, Some(by), _) => {
                let code = self.state.link_code.clone().ok_or_else(|| {
                    protocol("this device has no link code: show the link QR again")
                })?;
                Ok(LinkProgress::Claimed {
                    comparison: comparison_code(&self.device_public(), &key32(&by.key)?, &code),
                    by: by.name,
                })
            }
            // Linked already, and the secrets taken: fetching again changes nothing (the box
            // keeps them a day; the group key may have turned over since).
            (LinkState::Linked, Some(by), Some(_)) if self.state.link_code.is_none() => {
                Ok(LinkProgress::Linked {
                    by: by.name,
                    identities: self.state.identities.len(),
                    peers: self.state.peers.len(),
                    backups: usize::from(self.state.backup.is_some()),
                })
            }
            (LinkState::Linked, Some(by), Some(sealed)) => {
                let sealed = b64u_decode(&sealed).map_err(protocol)?;
                let plain = Zeroizing::new(
                    crypto::seal_open(&self.state.device.secret, &sealed).ok_or_else(|| {
                        protocol(
                            "what the other device sealed does not open with this device's key",
                        )
                    })?,
                );
                let secrets: LinkSecrets = serde_json::from_slice(&plain).map_err(|_| {
                    protocol("what the other device sealed is not in a format this client knows")
                })?;
                let (identities, peers, backups) = (
                    secrets.own.len(),
                    secrets.peers.len(),
                    secrets.backups.len(),
                );
                self.install(secrets)?;
                self.state.link_code = None;
                self.sync_backup()?;
                Ok(LinkProgress::Linked {
                    by: by.name,
                    identities,
                    peers,
                    backups,
                })
            }
            _ => Ok(LinkProgress::Waiting),
        }
    }

    fn install(&mut self, secrets: LinkSecrets) -> Result<(), ClientError> {
        self.state.group_key = Some(secrets.group_key);
        self.merge(Bundle {
            v: 1,
            own: secrets.own,
            peers: secrets.peers,
        })?;
        // A backup this device had already stays its backup (the box moved it into the group).
        if self.state.backup.is_none()
            && let Some(b) = secrets.backups.into_iter().next()
        {
            let mut state = BackupState::from_secrets(
                &BackupSecrets {
                    backup_id: b.backup_id,
                    bundle_key: b.bundle_key,
                    recipient: b.recipient,
                },
                None,
            );
            state.known_version = None;
            self.state.backup = Some(state);
        }
        Ok(())
    }

    /// Adds what `book` holds and this device lacks (contacts by DID; identities by DID, only
    /// those the box holds live for the group: one deleted since stays deleted).
    fn merge(&mut self, book: Bundle) -> Result<(), ClientError> {
        let held = self.held_identities()?;
        for own in book.own {
            if held.contains(&own.did) && !self.state.identities.iter().any(|o| o.did == own.did) {
                self.state.identities.push(own);
            }
        }
        for peer in book.peers {
            if !self.state.peers.iter().any(|p| p.did == peer.did) {
                self.state.peers.push(peer);
            }
        }
        Ok(())
    }

    /// The DIDs of the group's live identities on the box.
    fn held_identities(&mut self) -> Result<Vec<String>, ClientError> {
        Ok(self
            .call(&IdentityList {})?
            .identities
            .into_iter()
            .map(|i| i.did)
            .collect())
    }

    /// The device that scanned a link QR: claims the code and shows the comparison code.
    pub fn link_claim(&mut self, uri: &str) -> Result<LinkApproval, ClientError> {
        let uri = LinkUri::parse(uri).map_err(protocol)?;
        let claimed = self.call(&DevicesLinkClaim {
            device_id: uri.device_id.clone(),
            code: uri.code.clone(),
        })?;
        if !crypto::ct_eq(&key32(&claimed.device.key)?, &uri.key) {
            return Err(protocol(
                "the box knows this device by another key than its link QR shows: do not link it",
            ));
        }
        Ok(LinkApproval {
            device_id: uri.device_id,
            name: claimed.device.name,
            comparison: comparison_code(&uri.key, &self.device_public(), &uri.code),
        })
    }

    /// The device that claimed a link code, once the person confirmed that both show
    /// `comparison`: seals the person's secrets to the new device and links it.
    pub fn link_approve(&mut self, uri: &str, comparison: &str) -> Result<LinkDone, ClientError> {
        let uri = LinkUri::parse(uri).map_err(protocol)?;
        let expected = comparison_code(&uri.key, &self.device_public(), &uri.code);
        if !crypto::ct_eq(expected.as_bytes(), comparison.trim().as_bytes()) {
            return Err(protocol(
                "the comparison codes differ: do not link this device (scan its link QR again)",
            ));
        }
        let group_key = self.group_key()?;
        let secrets = LinkSecrets {
            v: 1,
            group_key,
            own: self.state.identities.clone(),
            peers: self.state.peers.clone(),
            backups: self
                .state
                .backup
                .iter()
                .map(|b| LinkedBackup {
                    backup_id: b.backup_id.clone(),
                    bundle_key: b.bundle_key.clone(),
                    recipient: b.recipient.clone(),
                })
                .collect(),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&secrets).map_err(protocol)?);
        let sealed = crypto::seal(&uri.key, &plain);
        self.call(&DevicesLink {
            device_id: uri.device_id,
            code: uri.code,
            sealed: b64u(&sealed),
        })
    }

    /// The group key, made now if this device has none.
    fn group_key(&mut self) -> Result<Secret32, ClientError> {
        if let Some(k) = &self.state.group_key {
            return Ok(k.clone());
        }
        let k = Secret32::random().map_err(protocol)?;
        self.state.group_key = Some(k.clone());
        Ok(k)
    }

    /// Reads the newest version when another device of the group wrote one since this device
    /// last wrote or read one, and adds what it holds. Returns the version read.
    pub fn sync_backup(&mut self) -> Result<Option<u64>, ClientError> {
        let Some(state) = self.state.backup.clone() else {
            return Ok(None);
        };
        let latest = match self.call(&BackupLatest {
            backup_id: state.backup_id.clone(),
        }) {
            Err(e) if e.kind() == Some("backup_not_found") => return Ok(None),
            other => other?,
        };
        if state.known_version.is_some_and(|v| v >= latest.version) {
            return Ok(None);
        }
        let fetched = self.call(&BackupFetch {
            backup_id: state.backup_id.clone(),
            version: None,
        })?;
        if state.known_bundle.as_deref() == Some(fetched.bundle_sha256.as_str()) {
            // A version the box made by itself (an identity changed): the same bundle.
            if let Some(b) = &mut self.state.backup {
                b.known_version = Some(fetched.version);
            }
            return Ok(None);
        }
        let bytes = b64u_decode(&fetched.bundle)
            .map_err(|_| ClientError::BackupDamaged("bundle is not base64url".into()))?;
        let plain = self.open_bundle(&bytes, &state)?;
        let book: Bundle = serde_json::from_slice(&plain).map_err(|_| {
            ClientError::BackupDamaged("the bundle does not hold an address book".into())
        })?;
        self.merge(book)?;
        if let Some(b) = &mut self.state.backup {
            b.known_version = Some(fetched.version);
            b.known_bundle = Some(fetched.bundle_sha256.clone());
        }
        Ok(Some(fetched.version))
    }

    /// Opens a bundle of this device's group: with the group key, else with the group key
    /// sealed to this device (which becomes its group key), else with the words' bundle key.
    pub fn open_bundle(
        &mut self,
        bytes: &[u8],
        state: &BackupState,
    ) -> Result<Zeroizing<Vec<u8>>, ClientError> {
        let damaged = || {
            ClientError::BackupDamaged(
                "the bundle opens neither with this device's group key nor with the backup's \
                 keys"
                    .into(),
            )
        };
        if bundle::is_v2(bytes)
            && let Ok(parsed) = bundle::parse(bytes)
        {
            if let Some(k) = &self.state.group_key
                && let Some(plain) = parsed.open_with_group_key(k)
            {
                return Ok(plain);
            }
            let me = id16(&self.state.device.device_id)?;
            if let Some(k) = parsed.group_key_for(&me, &self.state.device.secret)
                && let Some(plain) = parsed.open_with_group_key(&k)
            {
                self.state.group_key = Some(k);
                return Ok(plain);
            }
        }
        state.secrets().open_bundle(bytes).ok_or_else(damaged)
    }

    /// Uploads the address book as a new v2 version: first reads a newer version another
    /// device wrote, makes a new group key when a device left the group, and seals the group
    /// key to the group's devices. A version under a retired key is refused by the box: then
    /// this device reads the newest version (which may hold the new key) and tries once more,
    /// with a new key if it still has none.
    pub fn put_backup(&mut self) -> Result<Stored, ClientError> {
        if self.state.backup.is_none() {
            return Err(ClientError::BackupsOff);
        }
        match self.sync_backup() {
            // A newest version this device cannot open (no key for it yet) does not stop it
            // from writing its own: a new group key, sealed to the group's devices.
            Err(ClientError::BackupDamaged(why)) => {
                log::warn!("the newest backup version could not be read ({why}); writing anew");
            }
            other => {
                other?;
            }
        }
        match self.put_v2(false) {
            Err(e) if e.kind() == Some("group_key_retired") => {
                self.sync_backup()?;
                match self.put_v2(false) {
                    Err(e) if e.kind() == Some("group_key_retired") => self.put_v2(true),
                    other => other,
                }
            }
            other => other,
        }
    }

    fn put_v2(&mut self, new_key: bool) -> Result<Stored, ClientError> {
        let state = self.state.backup.clone().ok_or(ClientError::BackupsOff)?;
        let list = self.call(&DevicesList {})?;
        let rotate = list
            .groups
            .iter()
            .any(|g| g.group_id == list.group_id && g.rotate);
        if rotate || new_key {
            self.state.group_key = Some(Secret32::random().map_err(protocol)?);
        }
        let group_key = self.group_key()?;
        let mut devices = Vec::new();
        for d in &list.devices {
            if d.group_id == list.group_id
                && d.role != crate::protocol::Role::Pending
                && let Some(key) = &d.key
            {
                devices.push((id16(&d.device_id)?, key32(key)?));
            }
        }
        let plain = Zeroizing::new(serde_json::to_vec(&self.bundle()).map_err(protocol)?);
        let sealed = bundle::seal(
            &plain,
            &Recipients {
                backup_id: id16(&state.backup_id)?,
                bundle_key: &state.bundle_key,
                group_key: &group_key,
                devices: &devices,
            },
        )
        .map_err(protocol)?;
        // Only the identities the box holds for the group (one deleted by another device is
        // no longer the group's).
        let held = self.held_identities()?;
        let identities = self
            .state
            .identities
            .iter()
            .map(|i| i.did.clone())
            .filter(|d| held.contains(d))
            .collect();
        self.put_bundle(&state.backup_id, b64u(&sealed), identities)
    }
}
