//! `pairing.open` and `devices.*`: who may revoke or rename whom is the pairing service's rule.

use super::{Call, RpcResult};
use crate::protocol::devices::{
    DeviceInfo, DeviceList, DevicesList, DevicesRename, DevicesRevoke, PairingOpen, PairingOpened,
    Renamed, Revoked,
};

pub(super) async fn pairing_open(call: &Call<'_>, _: PairingOpen) -> RpcResult<PairingOpened> {
    let (uri, expires) = call.state.pairing().open_window();
    log::info!("pairing window opened by device {}", call.device.device_id);
    Ok(PairingOpened {
        uri: uri.encode(),
        expires,
    })
}

pub(super) async fn list(call: &Call<'_>, _: DevicesList) -> RpcResult<DeviceList> {
    let devices = call.devices().list().await?;
    Ok(DeviceList {
        devices: devices
            .into_iter()
            .map(|d| DeviceInfo {
                device_id: d.device_id,
                name: d.name,
                role: d.role,
                paired_at: d.paired_at,
                last_seen: d.last_seen,
            })
            .collect(),
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
