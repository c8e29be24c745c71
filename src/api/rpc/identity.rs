//! `identity.*` and `did.resolve`.

use super::{Call, RpcResult};
use crate::protocol::identity::{
    Deleted, DidResolve, IdentityCreate, IdentityDelete, IdentityGet, IdentityList,
    IdentityListing, IdentityUpdate, IdentityView, Resolution,
};

pub(super) async fn create(call: &Call<'_>, p: IdentityCreate) -> RpcResult<IdentityView> {
    call.room_for_identity()?;
    Ok(call.identities()?.create(&call.device.group_id, p).await?)
}

pub(super) async fn list(call: &Call<'_>, _: IdentityList) -> RpcResult<IdentityListing> {
    Ok(IdentityListing {
        identities: call.identities()?.list(&call.device.group_id).await?,
    })
}

pub(super) async fn get(call: &Call<'_>, p: IdentityGet) -> RpcResult<IdentityView> {
    Ok(call
        .identities()?
        .get(&call.device.group_id, &p.did)
        .await?)
}

pub(super) async fn update(call: &Call<'_>, p: IdentityUpdate) -> RpcResult<IdentityView> {
    let view = call.identities()?.update(&call.device.group_id, p).await?;
    backups_follow(call, &view.did).await;
    Ok(view)
}

pub(super) async fn delete(call: &Call<'_>, p: IdentityDelete) -> RpcResult<Deleted> {
    let did = call
        .identities()?
        .delete(&call.device.group_id, &p.did)
        .await?;
    backups_follow(call, &did.to_string()).await;
    Ok(Deleted {
        did: did.to_string(),
        deleted: true,
    })
}

pub(super) async fn resolve(call: &Call<'_>, p: DidResolve) -> RpcResult<Resolution> {
    Ok(call.identities()?.resolve(&p.did).await?)
}

/// Backups that list a changed identity get a new version before the reply (protocol §5: the
/// box makes it by itself). The change itself stands even if that fails; the failure is logged.
async fn backups_follow(call: &Call<'_>, did: &str) {
    if let Ok(backups) = call.backups()
        && let Err(e) = backups.identity_changed(did).await
    {
        log::error!("no new backup version after a change of {did}: {e}");
    }
}
