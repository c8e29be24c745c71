//! `pairing.open` and `devices.*`: who may change whom is the pairing service's rule.

use super::{Call, RpcError, RpcResult};
use crate::protocol::Role;
use crate::protocol::devices::{
    DeviceInfo, DeviceList, DevicesApprove, DevicesList, DevicesReassign, DevicesRename,
    DevicesRevoke, DevicesSetRole, PairingOpen, PairingOpened, Reassigned, Renamed, Revoked,
    RoleSet,
};

/// An owner opens a window whose code only it gets (the device that pairs is a member).
pub(super) async fn pairing_open(call: &Call<'_>, _: PairingOpen) -> RpcResult<PairingOpened> {
    if call.device.role != Role::Owner {
        return Err(RpcError::Forbidden(
            "only an owner's phone can let another phone pair; ask an owner of the box".into(),
        ));
    }
    let (uri, expires) = call.state.pairing().open_window();
    log::info!("pairing window opened by device {}", call.device.device_id);
    Ok(PairingOpened {
        uri: uri.encode(),
        expires,
    })
}

pub(super) async fn list(call: &Call<'_>, _: DevicesList) -> RpcResult<DeviceList> {
    let (devices, removed) = call.devices().list().await?;
    Ok(DeviceList {
        devices: devices
            .into_iter()
            .map(|d| DeviceInfo {
                device_id: d.device_id,
                name: d.name,
                role: d.role,
                paired_at: d.paired_at,
                last_seen: d.last_seen,
                pending_until: d.pending_until,
            })
            .collect(),
        removed,
    })
}

pub(super) async fn revoke(call: &Call<'_>, p: DevicesRevoke) -> RpcResult<Revoked> {
    call.devices().revoke(call.device, &p.device_id).await?;
    Ok(Revoked { revoked: true })
}

pub(super) async fn rename(call: &Call<'_>, p: DevicesRename) -> RpcResult<Renamed> {
    let name = call
        .devices()
        .rename(call.device, &p.device_id, &p.name)
        .await?;
    Ok(Renamed {
        device_id: p.device_id,
        name,
    })
}

pub(super) async fn set_role(call: &Call<'_>, p: DevicesSetRole) -> RpcResult<RoleSet> {
    call.devices()
        .set_role(call.device, &p.device_id, p.role)
        .await?;
    Ok(RoleSet {
        device_id: p.device_id,
        role: p.role,
    })
}

pub(super) async fn approve(call: &Call<'_>, p: DevicesApprove) -> RpcResult<RoleSet> {
    call.devices().approve(call.device, &p.device_id).await?;
    Ok(RoleSet {
        device_id: p.device_id,
        role: Role::Member,
    })
}

pub(super) async fn reassign(call: &Call<'_>, p: DevicesReassign) -> RpcResult<Reassigned> {
    let (identities, backups) = call.devices().reassign(call.device, &p.from, &p.to).await?;
    Ok(Reassigned {
        from: p.from,
        to: p.to,
        identities,
        backups,
    })
}
