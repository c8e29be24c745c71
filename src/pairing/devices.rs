//! The paired devices as a service: who may revoke or rename whom (protocol §2). The API asks
//! this service; it never reaches the store for devices itself.

use crate::clock::Clock;
use crate::protocol::Role;
use crate::store::{Device, Store, StoreError};

use super::valid_device_name;

/// Why a change of a device was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The new name is empty, too long or holds control characters.
    #[error("name must be 1 to {} printable characters", super::MAX_DEVICE_NAME)]
    InvalidName,
    /// A member tried to change another device.
    #[error("only the owner's phone can {verb} another device")]
    Forbidden { verb: &'static str },
    /// No paired device has this id.
    #[error("no device {0} is paired")]
    NotPaired(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The devices paired with the box.
#[derive(Debug)]
pub struct Devices<'a> {
    pub(super) store: &'a Store,
    pub(super) clock: &'a dyn Clock,
}

impl Devices<'_> {
    /// Every paired device, oldest first.
    pub async fn list(&self) -> Result<Vec<Device>, DeviceError> {
        Ok(self.store.devices().await?)
    }

    /// How many devices are paired.
    pub async fn count(&self) -> Result<u64, DeviceError> {
        Ok(self.store.device_count().await?)
    }

    /// Removes `target`: the owner may revoke anyone; any device may revoke itself.
    pub async fn revoke(&self, by: &Device, target: &str) -> Result<(), DeviceError> {
        may_change(by, target, "revoke")?;
        let now = self.clock.now_unix();
        if !self.store.revoke_device(target, &by.device_id, now).await? {
            return Err(DeviceError::NotPaired(target.to_owned()));
        }
        log::info!("device {target} revoked by {}", by.device_id);
        Ok(())
    }

    /// Renames `target` and returns the name as stored: the owner may rename anyone; any
    /// device may rename itself.
    pub async fn rename(
        &self,
        by: &Device,
        target: &str,
        name: &str,
    ) -> Result<String, DeviceError> {
        let name = valid_device_name(name).ok_or(DeviceError::InvalidName)?;
        may_change(by, target, "rename")?;
        if !self.store.rename_device(target, &name).await? {
            return Err(DeviceError::NotPaired(target.to_owned()));
        }
        Ok(name)
    }
}

fn may_change(by: &Device, target: &str, verb: &'static str) -> Result<(), DeviceError> {
    if by.role == Role::Owner || by.device_id == target {
        Ok(())
    } else {
        Err(DeviceError::Forbidden { verb })
    }
}
