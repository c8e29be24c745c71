//! Paired devices and pairing windows: `pairing.open`, `devices.*` (protocol §2, §3).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A device's role (protocol §2): the first device paired is the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Member,
}

impl Role {
    /// The name on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

super::no_params! {
    /// `pairing.open`: opens a pairing window so that another phone can pair.
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
}

/// What `devices.list` answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

impl fmt::Display for DeviceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in &self.devices {
            if !first {
                writeln!(f)?;
            }
            first = false;
            write!(f, "{}  {:<6}  {}", d.device_id, d.role, d.name)?;
        }
        Ok(())
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
