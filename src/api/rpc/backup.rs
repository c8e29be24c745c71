//! `backup.*`.

use super::{Call, RpcError, RpcResult};
use crate::protocol::Role;
use crate::protocol::backup::{
    ArchiveTicket, BackupArchiveTicket, BackupDisable, BackupEnable, BackupExists, BackupFetch,
    BackupLatest, BackupPut, BackupRestoreKeys, BackupStatus, Disabled, Enabled, Exists, Fetched,
    Latest, RestoredKeys, StatusList, Stored,
};

/// A pending device may only take a backup over, with the proof of its words.
pub(super) async fn enable(call: &Call<'_>, p: BackupEnable) -> RpcResult<Enabled> {
    let pending = call.device.role == Role::Pending;
    if pending && p.proof.is_none() {
        return Err(super::pending_approval());
    }
    Ok(call.backups()?.enable(call.device, p, !pending).await?)
}

/// A version is written once to the WAL and once to the database: room for twice the bundle.
pub(super) async fn put(call: &Call<'_>, p: BackupPut) -> RpcResult<Stored> {
    call.room_for((p.bundle.len() as u64).saturating_mul(2))?;
    Ok(call.backups()?.put(call.device, p).await?)
}

pub(super) async fn status(call: &Call<'_>, _: BackupStatus) -> RpcResult<StatusList> {
    Ok(call.backups()?.status(&call.device.group_id).await?)
}

pub(super) async fn exists(call: &Call<'_>, _: BackupExists) -> RpcResult<Exists> {
    Ok(call.backups()?.exists().await?)
}

pub(super) async fn fetch(call: &Call<'_>, p: BackupFetch) -> RpcResult<Fetched> {
    Ok(call.backups()?.fetch(call.device, p).await?)
}

pub(super) async fn archive_ticket(
    call: &Call<'_>,
    p: BackupArchiveTicket,
) -> RpcResult<ArchiveTicket> {
    ticket(call, &p.backup_id, p.version).await
}

/// A one-download URL for an archive of a version of the caller's own backup.
pub(super) async fn ticket(
    call: &Call<'_>,
    backup_id: &str,
    version: Option<u64>,
) -> RpcResult<ArchiveTicket> {
    let source = call
        .backups()?
        .archive(&call.device.group_id, backup_id, version, call.state.name())
        .await?;
    let (filename, size, version) = (
        source.plan.filename().to_owned(),
        source.plan.len(),
        source.version,
    );
    let issued = call.state.tickets().issue(source).map_err(|e| {
        log::error!("no ticket: {e}");
        RpcError::Internal
    })?;
    Ok(ArchiveTicket {
        url: format!("/v1/archive/{}", issued.ticket),
        filename,
        size,
        version,
        expires: issued.expires,
    })
}

pub(super) async fn restore_keys(call: &Call<'_>, p: BackupRestoreKeys) -> RpcResult<RestoredKeys> {
    call.room_for((p.sealed.len() as u64).saturating_mul(2))?;
    Ok(call
        .backups()?
        .restore_keys(&call.device.group_id, p)
        .await?)
}

pub(super) async fn disable(call: &Call<'_>, p: BackupDisable) -> RpcResult<Disabled> {
    Ok(call.backups()?.disable(&call.device.group_id, p).await?)
}

pub(super) async fn latest(call: &Call<'_>, p: BackupLatest) -> RpcResult<Latest> {
    Ok(call.backups()?.latest(p).await?)
}
