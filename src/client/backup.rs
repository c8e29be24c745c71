//! The phone's side of backups (protocol §5): the mnemonic, the bundle, automatic uploads, and
//! restore with its five outcomes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Client, ClientError, OwnIdentity, mnemonic, secret_b64u};
use crate::backup::rebind_text;
use crate::protocol::backup::{
    BackupEnable, BackupExists, BackupFetch, BackupPut, BackupRestoreKeys, Enabled,
    RestoreIdentity, Stored,
};
use crate::protocol::extract::{Approved, ExtractApprove};
use crate::protocol::identity::IdentityList;
use std::collections::BTreeMap;

use crate::backup::wire::{SealedIdentity, SealedKeys};
use crate::crypto::{self, BackupSecrets, Secret32, b64u, b64u_decode};
use crate::identity::Did;
use crate::identity::document::{self, PublicKeys};

/// Someone else's DID in the address book.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Peer {
    pub did: String,
    pub name: String,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}  {}", self.did, self.name)
    }
}

/// What `peer remove` did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerRemoved {
    pub did: String,
    pub removed: bool,
}

impl std::fmt::Display for PeerRemoved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Removed {} from the address book.", self.did)
    }
}

/// An identity of the address book, by DID and name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Named {
    pub did: String,
    pub name: String,
}

fn named(own: &[OwnIdentity]) -> Vec<Named> {
    own.iter()
        .map(|o| Named {
            did: o.did.clone(),
            name: o.name.clone(),
        })
        .collect()
}

/// What a restore with the 24 words brought back (`backup restore`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Restored {
    pub restored: bool,
    pub backup_id: String,
    /// The version restored from (or, onto a new box, the version written there).
    pub version: u64,
    pub identities: Vec<Named>,
    pub peers: Vec<Peer>,
    /// The DIDs whose keys the box had lost and got back.
    pub keys_restored: Vec<String>,
    /// The box had lost the backup: this phone's copy went back onto it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub onto_new_box: bool,
}

impl std::fmt::Display for Restored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Restored from backup version {}: {} identities and {} peers.",
            self.version,
            self.identities.len(),
            self.peers.len()
        )?;
        for i in &self.identities {
            write!(f, "\n  {}  {}", i.did, i.name)?;
        }
        if !self.keys_restored.is_empty() {
            write!(
                f,
                "\nThe box had lost {} identity keys; they are back and republished.",
                self.keys_restored.len()
            )?;
        }
        Ok(())
    }
}

/// What `identity-box restore FILE` put back onto a box.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestoredArchive {
    pub restored: bool,
    pub backup_id: String,
    /// The archive's version.
    pub from_version: u64,
    /// The version the box now holds.
    pub version: u64,
    pub identities: Vec<Named>,
    /// How many contacts the address book holds.
    pub peers: usize,
    pub keys_restored: Vec<String>,
}

impl std::fmt::Display for RestoredArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backup {} (version {} of the file) with {} identities and {} contacts is on the box \
             again as version {}.",
            self.backup_id,
            self.from_version,
            self.identities.len(),
            self.peers,
            self.version
        )
    }
}

/// What the phone keeps once backups are on: the id and the two derived secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct BackupState {
    pub backup_id: String,
    #[serde(with = "secret_b64u")]
    pub bundle_key: Secret32,
    #[serde(with = "secret_b64u")]
    pub recipient: Secret32,
    /// The identity keys of the latest version, still sealed to the recipient (b64u): with
    /// the 24 words they give a new or reset box its keys back.
    #[serde(default)]
    pub sealed_keys: Option<String>,
    /// The newest version this device wrote or read (so it knows when another device of its
    /// group wrote a newer one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_version: Option<u64>,
    /// Hex SHA-256 of the bundle this device last wrote or read: a newer version with the same
    /// bundle is one the box made by itself, with nothing new in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_bundle: Option<String>,
}

impl std::fmt::Debug for BackupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupState")
            .field("backup_id", &self.backup_id)
            .finish_non_exhaustive()
    }
}

impl BackupState {
    pub(super) fn secrets(&self) -> BackupSecrets {
        BackupSecrets {
            backup_id: self.backup_id.clone(),
            bundle_key: self.bundle_key.clone(),
            recipient: self.recipient.clone(),
        }
    }

    pub(super) fn from_secrets(s: &BackupSecrets, sealed_keys: Option<String>) -> Self {
        Self {
            backup_id: s.backup_id.clone(),
            bundle_key: s.bundle_key.clone(),
            recipient: s.recipient.clone(),
            sealed_keys,
            known_version: None,
            known_bundle: None,
        }
    }
}

/// The bundle's plaintext, as the reference client writes it (protocol §5).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    pub v: u32,
    pub own: Vec<OwnIdentity>,
    pub peers: Vec<Peer>,
}

impl Client {
    /// Turns backups on: makes 32 bytes of entropy, registers the derived id and recipient
    /// with the box, and uploads the first bundle. Returns the 24 words, to be shown once.
    pub fn enable_backup(&mut self) -> Result<(Zeroizing<String>, Stored), ClientError> {
        let entropy = Secret32::random().map_err(|e| ClientError::Protocol(e.to_string()))?;
        let secrets = BackupSecrets::from_entropy(&entropy);
        self.enable_on_box(&secrets, false)?;
        self.state.backup = Some(BackupState::from_secrets(&secrets, None));
        let stored = self.put_backup()?;
        Ok((mnemonic::words(&entropy), stored))
    }

    /// The bundle's plaintext: this phone's address book.
    pub fn bundle(&self) -> Bundle {
        Bundle {
            v: 1,
            own: self.state.identities.clone(),
            peers: self.state.peers.clone(),
        }
    }

    /// `backup.put` of a sealed bundle; the answer's sealed keys become this phone's copy.
    /// (A v1 bundle: what a phone before groups wrote; the tests keep writing one.)
    #[doc(hidden)]
    pub fn put_bundle(
        &mut self,
        backup_id: &str,
        bundle: String,
        identities: Vec<String>,
    ) -> Result<Stored, ClientError> {
        let hash = b64u_decode(&bundle).map(|b| hex::encode(crypto::sha256(&b)));
        let stored = self.call(&BackupPut {
            backup_id: backup_id.to_owned(),
            bundle,
            identities,
        })?;
        if let Some(state) = &mut self.state.backup {
            state.sealed_keys = Some(stored.sealed_keys.clone());
            state.known_version = Some(stored.version);
            state.known_bundle = hash.ok();
        }
        Ok(stored)
    }

    /// After a change of the address book: a new version when backups are on.
    pub fn backup_if_enabled(&mut self) -> Result<Option<Stored>, ClientError> {
        if self.state.backup.is_none() {
            return Ok(None);
        }
        self.put_backup().map(Some)
    }

    /// Forgets the backup secrets (after `backup.disable`).
    pub fn forget_backup(&mut self) {
        self.state.backup = None;
    }

    /// Adds (or renames) someone else's DID in the address book.
    pub fn add_peer(&mut self, did: &str, name: &str) -> Result<Peer, ClientError> {
        let did: Did = did
            .trim()
            .parse()
            .map_err(|e: crate::identity::DidError| ClientError::Protocol(e.to_string()))?;
        let did = did.to_string();
        match self.state.peers.iter_mut().find(|p| p.did == did) {
            Some(p) => p.name = name.to_owned(),
            None => self.state.peers.push(Peer {
                did: did.clone(),
                name: name.to_owned(),
            }),
        }
        Ok(Peer {
            did,
            name: name.to_owned(),
        })
    }

    /// Removes someone else's DID from the address book.
    pub fn remove_peer(&mut self, did: &str) -> Result<PeerRemoved, ClientError> {
        let before = self.state.peers.len();
        self.state.peers.retain(|p| p.did != did.trim());
        if self.state.peers.len() == before {
            return Err(ClientError::Protocol(format!(
                "{did} is not in the address book"
            )));
        }
        Ok(PeerRemoved {
            did: did.trim().to_owned(),
            removed: true,
        })
    }

    /// Restores the address book from the box with the owner's 24 words, takes the backup
    /// over (so this phone's later changes version the same backup), and gives the box back
    /// any identity keys it lacks. Nothing changes here unless everything checks out.
    pub fn restore_backup(&mut self, phrase: &str) -> Result<Restored, ClientError> {
        let entropy = mnemonic::parse(phrase)?;
        let secrets = BackupSecrets::from_entropy(&entropy);
        let count = self.call(&BackupExists {})?.count;
        // This phone's own copy of the sealed keys, for a box that lost the backup.
        let own_copy = self
            .state
            .backup
            .as_ref()
            .filter(|b| b.backup_id == secrets.backup_id)
            .and_then(|b| b.sealed_keys.clone());
        if count == 0 {
            return match own_copy {
                Some(sealed) => self.restore_onto_box(&secrets, &sealed),
                None => Err(ClientError::NoBackupOnBox),
            };
        }
        let fetched = match self.call(&BackupFetch {
            backup_id: secrets.backup_id.clone(),
            version: None,
        }) {
            Err(e) if e.kind() == Some("backup_not_found") => {
                return match own_copy {
                    Some(sealed) => self.restore_onto_box(&secrets, &sealed),
                    None => Err(ClientError::NoMatchingBackup),
                };
            }
            other => other?,
        };
        let damaged = |what: &str| ClientError::BackupDamaged(what.to_owned());
        let bundle =
            b64u_decode(&fetched.bundle).map_err(|_| damaged("bundle is not base64url"))?;
        let sealed = b64u_decode(&fetched.sealed_keys)
            .map_err(|_| damaged("sealed keys are not base64url"))?;
        if hex::encode(crypto::sha256(&bundle)) != fetched.bundle_sha256 {
            return Err(damaged("the bundle does not match its hash"));
        }
        if hex::encode(crypto::sha256(&sealed)) != fetched.sealed_sha256 {
            return Err(damaged("the sealed keys do not match their hash"));
        }
        let plain = secrets
            .open_bundle(&bundle)
            .ok_or_else(|| damaged("the bundle does not open with this phrase"))?;
        let book: Bundle = serde_json::from_slice(&plain)
            .map_err(|_| damaged("the bundle does not hold an address book"))?;
        let keys = SealedKeys::open(&secrets.recipient, &sealed)
            .map_err(|_| damaged("the sealed identity keys do not open with this phrase"))?;

        // Take the backup over with the proof only the phrase gives.
        self.enable_on_box(&secrets, true)?;
        self.state.identities = book.own.clone();
        for own in &mut self.state.identities {
            if let Some(doc) = fetched.documents.get(&own.did) {
                own.document = Some(doc.clone());
            }
        }
        self.state.peers = book.peers.clone();
        self.state.backup = Some(BackupState::from_secrets(
            &secrets,
            Some(fetched.sealed_keys.clone()),
        ));

        // Identity keys the box does not hold (a new or reset box) go back to it.
        let held: Vec<String> = self
            .call(&IdentityList {})?
            .identities
            .into_iter()
            .map(|i| i.did)
            .collect();
        let missing: Vec<_> = keys
            .identities
            .iter()
            .filter(|k| !held.contains(&k.did))
            .cloned()
            .collect();
        let keys_restored = if missing.is_empty() {
            Vec::new()
        } else {
            self.restore_keys(&secrets.backup_id, missing, &book.own, &fetched.documents)?
        };
        Ok(Restored {
            restored: true,
            backup_id: secrets.backup_id,
            version: fetched.version,
            identities: named(&book.own),
            peers: book.peers,
            keys_restored,
            onto_new_box: false,
        })
    }
}

impl Client {
    /// `backup.enable` for these secrets; `take_over` adds the proof of the words (protocol §5),
    /// which a backup of another device needs.
    fn enable_on_box(
        &mut self,
        secrets: &BackupSecrets,
        take_over: bool,
    ) -> Result<Enabled, ClientError> {
        let mut params = BackupEnable {
            backup_id: secrets.backup_id.clone(),
            recipient: b64u(&secrets.recipient_public()),
            proof: None,
            proof_nonce: None,
        };
        if take_over {
            let nonce = crypto::random_nonce();
            let text = rebind_text(&secrets.backup_id, &self.state.device.device_id);
            let proof = crypto::nacl_box(
                &secrets.recipient,
                &self.box_key()?,
                &nonce,
                text.as_bytes(),
            );
            params.proof = Some(b64u(&proof));
            params.proof_nonce = Some(b64u(&nonce));
        }
        self.call(&params)
    }

    /// Gives the box identity keys it lacks, sealed to its agreement key, with the documents
    /// to publish. Returns the DIDs the box restored.
    fn restore_keys(
        &mut self,
        backup_id: &str,
        keys: Vec<SealedIdentity>,
        own: &[OwnIdentity],
        documents: &BTreeMap<String, Value>,
    ) -> Result<Vec<String>, ClientError> {
        let identities = keys
            .iter()
            .map(|k| {
                let own = own.iter().find(|o| o.did == k.did);
                RestoreIdentity {
                    did: k.did.clone(),
                    name: own.map(|o| o.name.clone()),
                    document: documents
                        .get(&k.did)
                        .cloned()
                        .or_else(|| own.and_then(|o| o.document.clone()))
                        .or_else(|| own.and_then(document_of))
                        .unwrap_or(Value::Null),
                }
            })
            .collect();
        let resealed = SealedKeys::new(keys).seal(&self.box_key()?);
        let answer = self.call(&BackupRestoreKeys {
            backup_id: backup_id.to_owned(),
            sealed: b64u(&resealed),
            identities,
        })?;
        Ok(answer.restored)
    }

    /// A new or reset box: this phone still has its address book and its copy of the sealed
    /// keys; the words open them. The box gets the backup, the keys and the documents back.
    fn restore_onto_box(
        &mut self,
        secrets: &BackupSecrets,
        sealed: &str,
    ) -> Result<Restored, ClientError> {
        let damaged = |what: &str| ClientError::BackupDamaged(what.to_owned());
        let sealed = b64u_decode(sealed).map_err(|_| damaged("this phone's copy of the keys"))?;
        let keys = SealedKeys::open(&secrets.recipient, &sealed)
            .map_err(|_| damaged("this phone's copy of the keys does not open with this phrase"))?;
        self.enable_on_box(secrets, false)?;
        let own = self.state.identities.clone();
        let keys_restored = self.restore_keys(
            &secrets.backup_id,
            keys.identities.clone(),
            &own,
            &BTreeMap::new(),
        )?;
        let stored = self.put_backup()?;
        Ok(Restored {
            restored: true,
            backup_id: secrets.backup_id.clone(),
            version: stored.version,
            identities: named(&own),
            peers: self.state.peers.clone(),
            keys_restored,
            onto_new_box: true,
        })
    }
}

/// The document this phone's keys describe (no services): for a box that lost it.
fn document_of(own: &OwnIdentity) -> Option<Value> {
    let did: Did = own.did.parse().ok()?;
    let signing = ed25519_dalek::SigningKey::from_bytes(own.signing_secret.expose());
    let keys = PublicKeys {
        signing: signing.verifying_key().to_bytes(),
        agreement: crypto::x25519_public(&own.agreement_secret),
    };
    Some(document::document(&did, &keys, &[]))
}

impl Client {
    /// Restores a box from an archive (`identity-box restore`): the words open the bundle and
    /// the sealed keys; the box gets the backup (this bundle, byte for byte), the identity keys
    /// and the archive's documents, as when the archive was made. This client becomes the
    /// backup's device; the phone takes it over again with `backup restore` and the words.
    pub fn restore_archive(
        &mut self,
        opened: &crate::backup::archive::Opened,
        phrase: &str,
    ) -> Result<RestoredArchive, ClientError> {
        let found = drill(opened, phrase)?;
        let secrets = BackupSecrets::from_entropy(&mnemonic::parse(phrase)?);
        let damaged = |what: &str| ClientError::BackupDamaged(what.to_owned());
        let bundle = opened
            .bundle
            .as_deref()
            .ok_or_else(|| damaged("no bundle"))?;
        let sealed = opened
            .sealed_keys
            .as_deref()
            .ok_or_else(|| damaged("no sealed keys"))?;
        let plain = secrets
            .open_bundle(bundle)
            .ok_or_else(|| damaged("bundle.enc does not open with these words"))?;
        let book: Bundle = serde_json::from_slice(&plain)
            .map_err(|_| damaged("bundle.enc does not hold an address book"))?;
        let keys = SealedKeys::open(&secrets.recipient, sealed)
            .map_err(|_| damaged("box-keys.sealed does not open with these words"))?;

        self.state.identities = book.own.clone();
        for own in &mut self.state.identities {
            if let Some(doc) = opened.documents.get(&own.did) {
                own.document = Some(doc.clone());
            }
        }
        self.state.peers = book.peers.clone();
        self.state.backup = Some(BackupState::from_secrets(&secrets, None));
        match self.enable_on_box(&secrets, false) {
            Err(e) if e.kind() == Some("forbidden") => self.enable_on_box(&secrets, true)?,
            other => other?,
        };
        let own = self.state.identities.clone();
        let dids: Vec<String> = keys.identities.iter().map(|k| k.did.clone()).collect();
        let keys_restored =
            self.restore_keys(&secrets.backup_id, keys.identities, &own, &opened.documents)?;
        let stored = self.put_bundle(&secrets.backup_id, b64u(bundle), dids)?;
        Ok(RestoredArchive {
            restored: true,
            backup_id: secrets.backup_id,
            from_version: opened.manifest.seq,
            version: stored.version,
            identities: found
                .identities
                .iter()
                .map(|(did, name)| Named {
                    did: did.clone(),
                    name: name.clone(),
                })
                .collect(),
            peers: found.peers,
            keys_restored,
        })
    }

    /// Answers a computer's request to save this phone's backup (the QR text
    /// `idbox://approve?session=…&code=…`): approves with the newest version, or refuses.
    pub fn approve_extraction(&mut self, uri: &str, refuse: bool) -> Result<Approved, ClientError> {
        let (session, code) = crate::extract::parse_approve_uri(uri).ok_or_else(|| {
            ClientError::Protocol(
                "this is not an approval code: expected idbox://approve?session=…&code=…".into(),
            )
        })?;
        let backup_id = match &self.state.backup {
            Some(b) => Some(b.backup_id.clone()),
            None if refuse => None,
            None => return Err(ClientError::BackupsOff),
        };
        self.call(&ExtractApprove {
            session,
            code,
            backup_id,
            version: None,
            refuse,
        })
    }
}

/// What a restore drill found in an archive: the words open it, and what it would bring back.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Drill {
    /// Own identities in the address book, with their names.
    pub identities: Vec<(String, String)>,
    pub peers: usize,
    /// Identities whose keys the sealed keys hold.
    pub keys: Vec<String>,
}

/// Opens an archive's bundle and sealed keys with the backup words, changing nothing: a
/// restore drill (`identity-box verify FILE --mnemonic-file F`).
pub fn drill(opened: &crate::backup::archive::Opened, phrase: &str) -> Result<Drill, ClientError> {
    let entropy = mnemonic::parse(phrase)?;
    let secrets = BackupSecrets::from_entropy(&entropy);
    if secrets.backup_id != opened.manifest.backup_id {
        return Err(ClientError::ArchiveOfOtherWords {
            words: secrets.backup_id.clone(),
            archive: opened.manifest.backup_id.clone(),
        });
    }
    let damaged = |what: &str| ClientError::BackupDamaged(what.to_owned());
    let bundle = opened
        .bundle
        .as_deref()
        .ok_or_else(|| damaged("the archive was read without its bundle"))?;
    let plain = secrets
        .open_bundle(bundle)
        .ok_or_else(|| damaged("bundle.enc does not open with these words"))?;
    let book: Bundle = serde_json::from_slice(&plain)
        .map_err(|_| damaged("bundle.enc does not hold an address book"))?;
    let sealed = opened
        .sealed_keys
        .as_deref()
        .ok_or_else(|| damaged("the archive was read without its sealed keys"))?;
    let keys = SealedKeys::open(&secrets.recipient, sealed)
        .map_err(|_| damaged("box-keys.sealed does not open with these words"))?;
    Ok(Drill {
        identities: book
            .own
            .iter()
            .map(|o| (o.did.clone(), o.name.clone()))
            .collect(),
        peers: book.peers.len(),
        keys: keys.identities.iter().map(|k| k.did.clone()).collect(),
    })
}
