//! `pairing.open` and `devices.*`: who may change whom is the pairing service's rule.

use super::{Call, RpcError, RpcResult};
use crate::protocol::Role;
use crate::protocol::devices::{
    DeviceInfo, DeviceList, DevicesApprove, DevicesLink, DevicesLinkClaim, DevicesLinkFetch,
    DevicesLinkStart, DevicesList, DevicesReassign, DevicesRename, DevicesRevoke, DevicesSetRole,
    GroupInfo, LinkClaimed, LinkDone, LinkFetched, LinkStarted, PairingOpen, PairingOpened,
    Reassigned, Renamed, Revoked, RoleSet,
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

/// The devices, grouped by person; device keys only for the caller's own group.
pub(super) async fn list(call: &Call<'_>, _: DevicesList) -> RpcResult<DeviceList> {
    let (devices, removed) = call.devices().list().await?;
    let mut groups: Vec<GroupInfo> = Vec::new();
    for d in &devices {
        match groups.iter_mut().find(|g| g.group_id == d.group_id) {
            Some(g) => g.devices.push(d.device_id.clone()),
            None => groups.push(GroupInfo {
                group_id: d.group_id.clone(),
                devices: vec![d.device_id.clone()],
                key_id: None,
                rotate: false,
            }),
        }
    }
    for g in &mut groups {
        let key = call.store.group_key(&g.group_id).await?;
        g.rotate = key.rotation_due();
        g.key_id = key.current;
    }
    let own = &call.device.group_id;
    Ok(DeviceList {
        devices: devices
            .into_iter()
            .map(|d| DeviceInfo {
                key: (&d.group_id == own).then(|| crate::crypto::b64u(&d.device_key)),
                device_id: d.device_id,
                name: d.name,
                role: d.role,
                paired_at: d.paired_at,
                last_seen: d.last_seen,
                pending_until: d.pending_until,
                group_id: d.group_id,
            })
            .collect(),
        removed,
        groups,
        group_id: own.clone(),
    })
}

pub(super) async fn link_start(call: &Call<'_>, _: DevicesLinkStart) -> RpcResult<LinkStarted> {
    Ok(call.state.pairing().link_start(call.device))
}

pub(super) async fn link_claim(call: &Call<'_>, p: DevicesLinkClaim) -> RpcResult<LinkClaimed> {
    Ok(call
        .state
        .pairing()
        .link_claim(call.store, call.device, p)
        .await?)
}

pub(super) async fn link(call: &Call<'_>, p: DevicesLink) -> RpcResult<LinkDone> {
    Ok(call
        .state
        .pairing()
        .link(call.store, call.device, p)
        .await?)
}

pub(super) async fn link_fetch(call: &Call<'_>, p: DevicesLinkFetch) -> RpcResult<LinkFetched> {
    Ok(call
        .state
        .pairing()
        .link_fetch(call.store, call.device, p)
        .await?)
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
