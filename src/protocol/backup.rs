//! Backups: `backup.*` (protocol §5, §6). The box only ever sees ciphertext: bundles are
//! `crypto_secretbox`ed by the phone, identity keys sealed to the owner's recipient key.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `backup.enable`: registers a backup id and its recipient key; with `proof`, takes a backup
/// of another device over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupEnable {
    pub backup_id: String,
    /// b64u X25519 public key.
    pub recipient: String,
    /// b64u `crypto_box` of `rebind <backup_id> <device_id>` from the recipient secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof_nonce: Option<String>,
}

/// What `backup.enable` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Enabled {
    pub backup_id: String,
    pub enabled: bool,
    /// Whether this call took the backup over from another device.
    pub rebound: bool,
    /// The device that held the backup and was revoked by this take-over (a recovery on a new
    /// phone supersedes the old one); absent when none was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded: Option<String>,
}

impl fmt::Display for Enabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Backup {} is on", self.backup_id)?;
        if self.rebound {
            write!(f, ", taken over by this device")?;
        }
        if let Some(old) = &self.superseded {
            write!(f, "; device {old} can no longer use the box")?;
        }
        write!(f, ".")
    }
}

/// `backup.put`: a new version of a backup.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupPut {
    pub backup_id: String,
    /// b64u of `nonce ‖ tag ‖ ciphertext`.
    pub bundle: String,
    /// The DIDs whose keys the box seals into this version.
    #[serde(default)]
    pub identities: Vec<String>,
}

/// Megabytes of base64 say nothing to a person reading a log.
impl fmt::Debug for BackupPut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupPut")
            .field("backup_id", &self.backup_id)
            .field("bundle_chars", &self.bundle.len())
            .field("identities", &self.identities)
            .finish()
    }
}

/// What `backup.put` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stored {
    pub backup_id: String,
    pub version: u64,
    pub created: i64,
    /// Bytes stored: bundle and sealed keys.
    pub size: u64,
    /// The sealed identity keys of this version (b64u): a phone keeps the latest copy, so that
    /// it can give a new or reset box its keys back.
    pub sealed_keys: String,
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Backup version {} saved on the box ({} bytes).",
            self.version, self.size
        )
    }
}

super::no_params! {
    /// `backup.status`: the caller's backups.
    BackupStatus;
    /// `backup.exists`: how many backups the box holds, of anyone (for a restore).
    BackupExists;
}

/// One backup in `backup.status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BackupSummary {
    pub backup_id: String,
    pub versions: u64,
    pub latest_version: Option<u64>,
    pub latest_created: Option<i64>,
    pub size: u64,
}

/// What `backup.status` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StatusList {
    pub backups: Vec<BackupSummary>,
}

impl fmt::Display for StatusList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.backups.is_empty() {
            return write!(
                f,
                "This phone has no backup on the box: `backup enable` turns backups on."
            );
        }
        let lines: Vec<String> = self
            .backups
            .iter()
            .map(|b| {
                let newest = b
                    .latest_version
                    .map_or_else(|| "none".to_owned(), |v| v.to_string());
                format!(
                    "backup {}: {} versions kept, newest is version {newest} ({} bytes)",
                    b.backup_id, b.versions, b.size
                )
            })
            .collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// What `backup.exists` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Exists {
    pub count: u64,
}

impl fmt::Display for Exists {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "The box holds {} backup(s).", self.count)
    }
}

/// `backup.fetch`: a version (the newest by default) of any backup, by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFetch {
    pub backup_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// A version as the phone gets it back: ciphertext, its hashes, and the documents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fetched {
    pub backup_id: String,
    pub version: u64,
    pub created: i64,
    pub bundle: String,
    pub sealed_keys: String,
    /// Hex SHA-256 of the bundle and of the sealed keys as stored, so that the phone can tell
    /// a damaged backup from a wrong mnemonic.
    pub bundle_sha256: String,
    pub sealed_sha256: String,
    /// The identities of the version: `[{did, cid, seq}]`.
    pub identities: Vec<Listed>,
    pub documents: BTreeMap<String, Value>,
    /// The version's identity keys sealed to the caller's device key, when the caller is a
    /// device of the backup's group (b64u).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_keys: Option<String>,
}

impl fmt::Display for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Backup {} version {} ({} identities).",
            self.backup_id,
            self.version,
            self.identities.len()
        )
    }
}

/// One identity a version lists.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Listed {
    pub did: String,
    pub cid: String,
    pub seq: u64,
}

/// `backup.archive_ticket`: a download of the caller's backup as an archive (protocol §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupArchiveTicket {
    pub backup_id: String,
    /// The newest complete version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// What `backup.archive_ticket` answers: a download URL for an archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArchiveTicket {
    /// Path on the box: `/v1/archive/<ticket>`.
    pub url: String,
    pub filename: String,
    pub size: u64,
    pub version: u64,
    pub expires: i64,
}

impl fmt::Display for ArchiveTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} bytes, version {}) can be downloaded once from {}",
            self.filename, self.size, self.version, self.url
        )
    }
}

/// `backup.restore_keys`: identity keys for a box that lost them, sealed to its agreement key.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRestoreKeys {
    pub backup_id: String,
    /// b64u of the keys payload sealed to the box's agreement key.
    pub sealed: String,
    /// For a box that does not hold an identity: its document and label.
    #[serde(default)]
    pub identities: Vec<RestoreIdentity>,
}

impl fmt::Debug for BackupRestoreKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupRestoreKeys")
            .field("backup_id", &self.backup_id)
            .field("sealed_chars", &self.sealed.len())
            .field("identities", &self.identities.len())
            .finish()
    }
}

/// An identity `backup.restore_keys` brings back: its DID, label and document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreIdentity {
    pub did: String,
    #[serde(default)]
    pub name: Option<String>,
    pub document: Value,
}

/// What `backup.restore_keys` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestoredKeys {
    pub restored: Vec<String>,
    /// Identities that were deleted on this box, and stay deleted.
    pub skipped: Vec<String>,
}

impl fmt::Display for RestoredKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "The box has {} identity key(s) back; {} stay deleted.",
            self.restored.len(),
            self.skipped.len()
        )
    }
}

/// `backup.disable`: stops versioning; with `delete`, erases every version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupDisable {
    pub backup_id: String,
    #[serde(default)]
    pub delete: bool,
}

/// What `backup.disable` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Disabled {
    pub backup_id: String,
    pub deleted: bool,
}

impl fmt::Display for Disabled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.deleted {
            write!(
                f,
                "Backups are off, and every version is erased from the box."
            )
        } else {
            write!(f, "Backups are off; the versions on the box are kept.")
        }
    }
}

/// `backup.latest`: the newest version's number, time and size, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupLatest {
    pub backup_id: String,
}

/// What `backup.latest` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Latest {
    pub version: u64,
    pub created: i64,
    pub size: u64,
}

impl fmt::Display for Latest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "The newest version is {} ({} bytes).",
            self.version, self.size
        )
    }
}
