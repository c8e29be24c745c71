//! `box.info` and `box.factory_reset`.

use super::{Call, RpcError, RpcResult};
use crate::api::Scope;
use crate::protocol::Role;
use crate::protocol::info::{BoxFacts, BoxInfo, Erased, FactoryReset, RESET_CONFIRMATION};

pub(super) async fn box_info(call: &Call<'_>, _: BoxInfo) -> RpcResult<BoxFacts> {
    let f = call.state.facts(Scope::Full).await;
    let (Some(devices), Some(identities)) = (f.devices, f.identities) else {
        return Err(RpcError::Unavailable(
            "the box is starting: try again in a few seconds".into(),
        ));
    };
    Ok(BoxFacts {
        name: f.name,
        version: f.version,
        agreement_key: f.agreement_key,
        signing_key: f.signing_key,
        fingerprint: f.fingerprint,
        uptime_s: f.uptime_s,
        time: f.time,
        pairing_open: f.pairing_open,
        ipfs_peers: f.ipfs.as_ref().map_or(0, |i| i.peers as u64),
        devices,
        identities,
        network: f.ipfs.map(|i| crate::protocol::info::BoxNetwork {
            peer_id: i.peer_id,
            reachability: i.net.reachability,
            relayed: i.net.relayed,
            hole_punch: i.net.hole_punch,
        }),
    })
}

/// The owner erases the box: the answer goes out, then the daemon stops, erases its data
/// directory and starts again with a new seed and an open pairing window.
pub(super) async fn factory_reset(call: &Call<'_>, p: FactoryReset) -> RpcResult<Erased> {
    if call.device.role != Role::Owner {
        return Err(RpcError::Forbidden(
            "only the owner's phone can erase the box".into(),
        ));
    }
    if p.confirm != RESET_CONFIRMATION {
        return Err(RpcError::InvalidParams(format!(
            "to erase the box, confirm must be \"{RESET_CONFIRMATION}\""
        )));
    }
    log::warn!("factory reset by device {}", call.device.device_id);
    // The marker is durable before the answer: "erased" is a promise the box keeps even if
    // the power is cut now (the erase finishes at the next start).
    call.state.request_factory_reset().map_err(|e| {
        log::error!("cannot start the factory reset: {e}");
        RpcError::Unavailable(format!(
            "the box cannot start the erase ({e}); nothing was erased. Try again, or unplug \
             the box and plug it in again first"
        ))
    })?;
    Ok(Erased { erased: true })
}
