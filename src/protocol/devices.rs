//! Paired devices and pairing windows: `pairing.open`, `devices.*` (protocol §2, §3).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A device's role (protocol §2): what the window it paired in gave it, or what an owner set.
/// Ordered from the least to the most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Paired in the start-up window: it may only look for and take over a backup until an
    /// owner approves it.
    Pending,
    /// Uses the box for its own identities and backups.
    Member,
    /// Also decides who else may use the box.
    Owner,
}

impl Role {
    /// The name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
            Role::Pending => "pending",
        }
    }

    /// The role named `name` in the database.
    pub fn from_name(name: &str) -> Option<Role> {
        match name {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            "pending" => Some(Role::Pending),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

super::no_params! {
    /// `pairing.open`: an owner opens a pairing window so that another phone can pair as a
    /// member.
    PairingOpen;
    /// `devices.list`: the paired devices.
    DevicesList;
}

/// What `pairing.open` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PairingOpened {
    /// The QR code's text, `idbox://pair?…`.
    pub uri: String,
    /// When the window closes (Unix seconds, box clock); null while it lasts until a pairing.
    pub expires: Option<i64>,
}

impl fmt::Display for PairingOpened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pairing code: {}", self.uri)
    }
}

/// One paired device.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device_id: String,
    pub name: String,
    pub role: Role,
    pub paired_at: i64,
    pub last_seen: Option<i64>,
    /// A pending device: when the box removes it unless an owner approves it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_until: Option<i64>,
    /// The person (group of devices) it belongs to.
    pub group_id: String,
    /// Its X25519 public key (b64u): given for the devices of the caller's own group only, so
    /// that a device can seal the group key to the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One person: a group of devices that share identities and backups.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GroupInfo {
    pub group_id: String,
    /// Its devices' ids, oldest first.
    pub devices: Vec<String>,
    /// The id of the group key its newest versions are under (32 hex digits), as far as the
    /// box knows; `null` before the first v2 bundle or after a device left.
    pub key_id: Option<String>,
    /// A device left the group: the next version must be under a new group key.
    pub rotate: bool,
}

/// Why a device can no longer use the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Removal {
    /// An owner, or the device itself, revoked it.
    Revoked,
    /// Another device took over its backup with the backup's words (a recovery).
    Superseded,
}

/// A device that was paired and can no longer use the box; its key cannot pair again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RemovedDevice {
    pub device_id: String,
    pub name: String,
    /// The role it had.
    pub role: Role,
    pub reason: Removal,
    /// The device that revoked or superseded it; `null` when the box itself removed it.
    pub by: Option<String>,
    /// When (box time).
    pub at: i64,
}

/// What `devices.list` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
    /// Revoked and superseded devices, newest first.
    #[serde(default)]
    pub removed: Vec<RemovedDevice>,
    /// The people: the devices grouped, in the order of their oldest device.
    #[serde(default)]
    pub groups: Vec<GroupInfo>,
    /// The caller's group.
    pub group_id: String,
}

impl fmt::Display for DeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in &self.devices {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{}  {:<7}  {}", d.device_id, d.role, d.name)?;
        }
        for d in &self.removed {
            writeln!(f)?;
            let how = match d.reason {
                Removal::Revoked => "revoked",
                Removal::Superseded => "superseded",
            };
            write!(f, "{}  {how:<10}  {}", d.device_id, d.name)?;
            if let Some(by) = &d.by {
                write!(f, " (by {by})")?;
            }
        }
        Ok(())
    }
}

/// `devices.set_role`: an owner makes a device an owner or a member (the last owner cannot
/// step down).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesSetRole {
    pub device_id: String,
    pub role: Role,
}

/// `devices.approve`: an owner lets a pending device in, as a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesApprove {
    pub device_id: String,
}

/// What `devices.set_role` and `devices.approve` answer: the device's role now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RoleSet {
    pub device_id: String,
    pub role: Role,
}

impl fmt::Display for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Device {} is now {} of the box.",
            self.device_id,
            match self.role {
                Role::Owner => "an owner",
                Role::Member => "a member",
                Role::Pending => "waiting for approval",
            }
        )
    }
}

/// `devices.reassign`: an owner hands what a revoked device held (its identities and backups)
/// to a paired device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesReassign {
    /// The revoked or superseded device.
    pub from: String,
    /// A paired device (not pending).
    pub to: String,
}

/// What `devices.reassign` answers: how much changed hands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reassigned {
    pub from: String,
    pub to: String,
    pub identities: u64,
    pub backups: u64,
}

impl fmt::Display for Reassigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} identities and {} backups passed from device {} to device {}.",
            self.identities, self.backups, self.from, self.to
        )
    }
}

/// `devices.revoke`: the owner may revoke anyone; any device may revoke itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesRevoke {
    pub device_id: String,
}

/// What `devices.revoke` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revoked {
    pub revoked: bool,
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revoked {
            write!(f, "The device is removed: it can no longer use the box.")
        } else {
            write!(f, "The device was not removed.")
        }
    }
}

/// `devices.rename`: the owner may rename anyone; any device may rename itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesRename {
    pub device_id: String,
    pub name: String,
}

/// What `devices.rename` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Renamed {
    pub device_id: String,
    pub name: String,
}

impl fmt::Display for Renamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Device {} is now called \"{}\".",
            self.device_id, self.name
        )
    }
}

super::no_params! {
    /// `devices.link_start`: a new device asks for a link code, to show as a link QR.
    DevicesLinkStart;
}

/// What `devices.link_start` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkStarted {
    /// The link QR's text, `idbox://link?v=1&device=…&key=…&code=…`.
    pub uri: String,
    /// The 8-digit code it holds.
    pub code: String,
    /// When the code stops working (box time).
    pub expires: i64,
}

impl fmt::Display for LinkStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Link code: {}\nScan it with another device of yours within 5 minutes.",
            self.uri
        )
    }
}

/// `devices.link_claim`: a device of a group that scanned a link QR announces itself, so that
/// both can show the comparison code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesLinkClaim {
    pub device_id: String,
    pub code: String,
}

/// A device as a link shows it to the other.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkPeer {
    pub device_id: String,
    pub name: String,
    /// Its X25519 public key (b64u).
    pub key: String,
}

/// What `devices.link_claim` answers: the new device as the box knows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkClaimed {
    pub device: LinkPeer,
    pub expires: i64,
}

impl fmt::Display for LinkClaimed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Linking \"{}\" ({}).",
            self.device.name, self.device.device_id
        )
    }
}

/// `devices.link`: the device that claimed a link code hands the new device the group's
/// secrets, sealed to it; the new device joins the caller's group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesLink {
    pub device_id: String,
    pub code: String,
    /// b64u of `crypto_box_seal(secrets, new device's key)`.
    pub sealed: String,
}

/// What `devices.link` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkDone {
    pub device_id: String,
    pub group_id: String,
    /// The linked device's role now.
    pub role: Role,
}

impl fmt::Display for LinkDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Device {} is linked: it shares your identities and backups now.",
            self.device_id
        )
    }
}

/// `devices.link_fetch`: the new device asks how its link stands, and takes what was sealed
/// for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesLinkFetch {
    pub device_id: String,
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// No device has scanned the code yet.
    Waiting,
    /// A device scanned it (`by`): compare the codes, then confirm on that device.
    Claimed,
    /// Linked: `sealed` holds the group's secrets.
    Linked,
}

/// What `devices.link_fetch` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LinkFetched {
    pub state: LinkState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<LinkPeer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

impl fmt::Display for LinkFetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, &self.by) {
            (LinkState::Linked, Some(by)) => write!(f, "Linked by \"{}\".", by.name),
            (LinkState::Claimed, Some(by)) => {
                write!(f, "\"{}\" scanned the link code.", by.name)
            }
            _ => write!(f, "No device has scanned the link code yet."),
        }
    }
}
