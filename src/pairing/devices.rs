//! The paired devices as a service: who may revoke, rename, promote, approve whom, and who gets
//! what a removed device held (protocol §2). The API asks this service; it never reaches the
//! store for devices itself.

use crate::clock::Clock;
use crate::protocol::Role;
use crate::store::{Change, Device, Reassign, RemovedDevice, Renamed, Store, StoreError};

use super::valid_device_name;

/// Why a change of a device was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The new name is empty, too long or holds control characters.
    #[error("name must be 1 to {} printable characters", super::MAX_DEVICE_NAME)]
    InvalidName,
    /// Another device of the box has the name.
    #[error("another device of this box is called {0:?}; choose another name")]
    NameTaken(String),
    /// A member tried to change another device, or to do what only an owner does.
    #[error("only an owner's phone can {verb}")]
    NotOwner { verb: &'static str },
    /// The change would leave the box without an owner.
    #[error("this is the box's only owner; make another device an owner first (devices.set_role)")]
    LastOwner,
    /// `devices.set_role` to `pending`, which only a pairing gives.
    #[error("a role can be set to owner or member; a device is pending only when it pairs")]
    NotSettable,
    /// `devices.approve` of a device that is not waiting for approval.
    #[error("device {0} is not waiting for approval")]
    NotPending(String),
    /// No paired device has this id.
    #[error("no device {0} is paired")]
    NotPaired(String),
    /// `devices.reassign` from a device that is still paired.
    #[error("device {0} is still paired; revoke it first, then hand over what it held")]
    StillPaired(String),
    /// `devices.reassign` from a device this box never removed.
    #[error("no device {0} was revoked or superseded on this box")]
    NeverRemoved(String),
    /// `devices.reassign` to a device that cannot hold identities.
    #[error("device {0} is not a paired member or owner")]
    NotMember(String),
    /// `devices.reassign` from a device whose person has other devices: they hold it all.
    #[error(
        "device {0} belonged to a person whose other devices are still paired: they hold its \
         identities and backups already"
    )]
    GroupLives(String),
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
    /// Every paired device, oldest first, and every removed one, newest first. Pending devices
    /// whose time ran out are removed first.
    pub async fn list(&self) -> Result<(Vec<Device>, Vec<RemovedDevice>), DeviceError> {
        self.expire_pending().await?;
        Ok((
            self.store.devices().await?,
            self.store.removed_devices().await?,
        ))
    }

    /// Removes the pending devices that were neither approved nor promoted in time.
    pub async fn expire_pending(&self) -> Result<(), DeviceError> {
        for id in self.store.expire_pending(self.clock.now_unix()).await? {
            log::info!("pending device {id} removed: nobody approved it in time");
        }
        Ok(())
    }

    /// How many devices are paired.
    pub async fn count(&self) -> Result<u64, DeviceError> {
        Ok(self.store.device_count().await?)
    }

    /// Revokes `target`: an owner may revoke anyone, any device itself; never the last owner.
    /// The key is remembered and never pairs again.
    pub async fn revoke(&self, by: &Device, target: &str) -> Result<(), DeviceError> {
        // A device of the same person may revoke the person's lost phone (protocol §2).
        let same_person = by.role != Role::Pending
            && self
                .store
                .device(target)
                .await?
                .is_some_and(|t| t.group_id == by.group_id);
        if by.role != Role::Owner && by.device_id != target && !same_person {
            return Err(DeviceError::NotOwner {
                verb: "revoke another device",
            });
        }
        let now = self.clock.now_unix();
        changed(
            self.store.revoke_device(target, &by.device_id, now).await?,
            target,
        )?;
        log::info!("device {target} revoked by {}", by.device_id);
        Ok(())
    }

    /// Renames `target` and returns the name as stored: an owner may rename anyone, any
    /// device itself. Names are unique on a box (compared without case).
    pub async fn rename(
        &self,
        by: &Device,
        target: &str,
        name: &str,
    ) -> Result<String, DeviceError> {
        let name = valid_device_name(name).ok_or(DeviceError::InvalidName)?;
        if by.role != Role::Owner && by.device_id != target {
            return Err(DeviceError::NotOwner {
                verb: "rename another device",
            });
        }
        match self.store.rename_device(target, &name).await? {
            Renamed::Done => Ok(name),
            Renamed::NotPaired => Err(DeviceError::NotPaired(target.to_owned())),
            Renamed::Taken => Err(DeviceError::NameTaken(name)),
        }
    }

    /// Makes `target` an owner or a member (owners only; the last owner stays one).
    pub async fn set_role(&self, by: &Device, target: &str, role: Role) -> Result<(), DeviceError> {
        if by.role != Role::Owner {
            return Err(DeviceError::NotOwner {
                verb: "change a device's role",
            });
        }
        if role == Role::Pending {
            return Err(DeviceError::NotSettable);
        }
        let now = self.clock.now_unix();
        changed(
            self.store
                .set_device_role(target, role, &by.device_id, now)
                .await?,
            target,
        )?;
        log::info!("device {target} made {role} by {}", by.device_id);
        Ok(())
    }

    /// Lets a pending device in, as a member (owners only).
    pub async fn approve(&self, by: &Device, target: &str) -> Result<(), DeviceError> {
        if by.role != Role::Owner {
            return Err(DeviceError::NotOwner {
                verb: "approve a device",
            });
        }
        self.expire_pending().await?;
        match self.store.device(target).await? {
            None => return Err(DeviceError::NotPaired(target.to_owned())),
            Some(d) if d.role != Role::Pending => {
                return Err(DeviceError::NotPending(target.to_owned()));
            }
            Some(_) => {}
        }
        let now = self.clock.now_unix();
        changed(
            self.store
                .set_device_role(target, Role::Member, &by.device_id, now)
                .await?,
            target,
        )?;
        log::info!("pending device {target} approved by {}", by.device_id);
        Ok(())
    }

    /// Hands what a removed device held (identities, backups) to a paired device (owners
    /// only); returns how many identities and backups changed hands.
    pub async fn reassign(
        &self,
        by: &Device,
        from: &str,
        to: &str,
    ) -> Result<(u64, u64), DeviceError> {
        if by.role != Role::Owner {
            return Err(DeviceError::NotOwner {
                verb: "hand over what a removed device held",
            });
        }
        let now = self.clock.now_unix();
        match self
            .store
            .reassign_device_data(from, to, &by.device_id, now)
            .await?
        {
            Reassign::Done {
                identities,
                backups,
            } => {
                log::info!(
                    "{identities} identities and {backups} backups of removed device {from} \
                     handed to {to} by {}",
                    by.device_id
                );
                Ok((identities, backups))
            }
            Reassign::FromPaired => Err(DeviceError::StillPaired(from.to_owned())),
            Reassign::FromUnknown => Err(DeviceError::NeverRemoved(from.to_owned())),
            Reassign::ToNotMember => Err(DeviceError::NotMember(to.to_owned())),
            Reassign::GroupLives => Err(DeviceError::GroupLives(from.to_owned())),
        }
    }
}

fn changed(change: Change, target: &str) -> Result<(), DeviceError> {
    match change {
        Change::Done => Ok(()),
        Change::NotPaired => Err(DeviceError::NotPaired(target.to_owned())),
        Change::LastOwner => Err(DeviceError::LastOwner),
    }
}
