//! JSON-RPC 2.0 dispatch inside the channel (SPEC §3). Adding a method is one function below and
//! one line in [`dispatch`]: params and results are typed, errors carry SPEC §3's kinds.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use crate::backup::{
    BackupError, Backups, DisableParams, Disabled, EnableParams, Enabled, Exists, FetchParams,
    Fetched, PutParams, RestoreKeysParams, RestoredKeys, StatusList, Stored,
};
use crate::identity::{
    CreateParams, Identities, IdentityError, IdentitySummary, IdentityView, Resolution,
    UpdateParams,
};
use crate::ipfs::IpfsError;
use crate::pairing::valid_device_name;
use crate::pairing::wire::{RpcErrorBody, RpcErrorData, RpcRequest, RpcResponse};
use crate::store::{Device, Role, Store, StoreError};

/// A method's failure, answered inside the channel.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The request is not JSON-RPC 2.0.
    #[error("{0}")]
    InvalidRequest(String),
    /// No such method.
    #[error("there is no method {0:?}")]
    MethodNotFound(String),
    /// The params do not fit the method.
    #[error("{0}")]
    InvalidParams(String),
    /// The thing named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// This device may not do that.
    #[error("{0}")]
    Forbidden(String),
    /// Someone else changed the thing first.
    #[error("{0}")]
    Conflict(String),
    /// No backup with that id (SPEC §5: "no backup matches this mnemonic").
    #[error("{0}")]
    BackupNotFound(String),
    /// The thing sent is larger than the box accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The box cannot do it right now.
    #[error("{0}")]
    Unavailable(String),
    /// Something failed inside the box.
    #[error("something went wrong inside the box")]
    Internal,
}

impl RpcError {
    /// JSON-RPC code and SPEC §3 kind.
    fn code_and_kind(&self) -> (i64, &'static str) {
        match self {
            RpcError::InvalidRequest(_) => (-32600, "invalid_params"),
            RpcError::MethodNotFound(_) => (-32601, "not_found"),
            RpcError::InvalidParams(_) => (-32602, "invalid_params"),
            RpcError::NotFound(_) => (-32001, "not_found"),
            RpcError::Forbidden(_) => (-32003, "forbidden"),
            RpcError::Conflict(_) => (-32009, "conflict"),
            RpcError::BackupNotFound(_) => (-32004, "backup_not_found"),
            RpcError::TooLarge(_) => (-32013, "too_large"),
            RpcError::Unavailable(_) => (-32006, "unavailable"),
            RpcError::Internal => (-32603, "internal"),
        }
    }

    pub fn body(&self) -> RpcErrorBody {
        let (code, kind) = self.code_and_kind();
        RpcErrorBody {
            code,
            message: self.to_string(),
            data: RpcErrorData { kind: kind.into() },
        }
    }
}

impl From<StoreError> for RpcError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Closed => RpcError::Unavailable("the box is shutting down".into()),
            other => {
                log::error!("database: {other}");
                RpcError::Internal
            }
        }
    }
}

impl From<IdentityError> for RpcError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::InvalidParams(m) => RpcError::InvalidParams(m),
            IdentityError::InvalidDid(e) => RpcError::InvalidParams(e.to_string()),
            IdentityError::NotFound(m) => RpcError::NotFound(m),
            IdentityError::Ipfs(IpfsError::NotFound(cid)) => RpcError::NotFound(format!(
                "the document {cid} was not found on the network; the box that holds it may be off"
            )),
            IdentityError::Forbidden => RpcError::Forbidden(e.to_string()),
            IdentityError::Conflict => RpcError::Conflict(e.to_string()),
            IdentityError::Store(e) => e.into(),
            other => {
                log::error!("identity: {other}");
                RpcError::Internal
            }
        }
    }
}

impl From<BackupError> for RpcError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::InvalidParams(m) => RpcError::InvalidParams(m),
            BackupError::NotFound(m) => RpcError::BackupNotFound(m),
            BackupError::Forbidden(m) => RpcError::Forbidden(m),
            BackupError::Conflict(m) => RpcError::Conflict(m),
            BackupError::TooLarge(m) => RpcError::TooLarge(m),
            BackupError::Identity(e) => e.into(),
            BackupError::Store(e) => e.into(),
            BackupError::Archive(e) => {
                log::error!("archive: {e}");
                RpcError::Internal
            }
        }
    }
}

type RpcResult<T> = Result<T, RpcError>;

/// What a method sees: the box, its store, and the calling device.
#[derive(Debug)]
pub struct Call<'a> {
    pub state: &'a AppState,
    pub store: &'a Store,
    pub device: &'a Device,
}

/// Runs one request and builds its response (errors included).
pub async fn dispatch(call: &Call<'_>, req: RpcRequest, request_nonce: String) -> RpcResponse {
    let id = req.id.clone();
    let result = if req.jsonrpc == "2.0" {
        route(call, &req.method, req.params.unwrap_or(Value::Null)).await
    } else {
        Err(RpcError::InvalidRequest("jsonrpc must be \"2.0\"".into()))
    };
    response(id, result, request_nonce)
}

/// The method table: one line per method.
async fn route(call: &Call<'_>, method: &str, params: Value) -> RpcResult<Value> {
    match method {
        "box.info" => reply(box_info(call, parse(params)?).await),
        "pairing.open" => reply(pairing_open(call, parse(params)?).await),
        "devices.list" => reply(devices_list(call, parse(params)?).await),
        "devices.revoke" => reply(devices_revoke(call, parse(params)?).await),
        "devices.rename" => reply(devices_rename(call, parse(params)?).await),
        "identity.create" => reply(identity_create(call, parse(params)?).await),
        "identity.list" => reply(identity_list(call, parse(params)?).await),
        "identity.get" => reply(identity_get(call, parse(params)?).await),
        "identity.update" => reply(identity_update(call, parse(params)?).await),
        "identity.delete" => reply(identity_delete(call, parse(params)?).await),
        "did.resolve" => reply(did_resolve(call, parse(params)?).await),
        "backup.enable" => reply(backup_enable(call, parse(params)?).await),
        "backup.put" => reply(backup_put(call, parse(params)?).await),
        "backup.status" => reply(backup_status(call, parse(params)?).await),
        "backup.exists" => reply(backup_exists(call, parse(params)?).await),
        "backup.fetch" => reply(backup_fetch(call, parse(params)?).await),
        "backup.archive_ticket" => reply(backup_archive_ticket(call, parse(params)?).await),
        "extract.approve" => reply(extract_approve(call, parse(params)?).await),
        "backup.restore_keys" => reply(backup_restore_keys(call, parse(params)?).await),
        "backup.disable" => reply(backup_disable(call, parse(params)?).await),
        "box.factory_reset" => reply(box_factory_reset(call, parse(params)?).await),
        other => Err(RpcError::MethodNotFound(other.to_owned())),
    }
}

/// The response for a request whose JSON did not parse.
pub fn parse_error(message: String, request_nonce: String) -> RpcResponse {
    let mut r = response(
        Value::Null,
        Err(RpcError::InvalidRequest(message)),
        request_nonce,
    );
    if let Some(e) = &mut r.error {
        e.code = -32700;
    }
    r
}

fn response(id: Value, result: RpcResult<Value>, request_nonce: String) -> RpcResponse {
    let (result, error) = match result {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e.body())),
    };
    RpcResponse {
        jsonrpc: "2.0".into(),
        id,
        result,
        error,
        request_nonce,
    }
}

fn parse<P: DeserializeOwned>(params: Value) -> RpcResult<P> {
    let params = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params
    };
    serde_json::from_value(params)
        .map_err(|e| RpcError::InvalidParams(format!("invalid params: {e}")))
}

fn reply<R: Serialize>(result: RpcResult<R>) -> RpcResult<Value> {
    result.and_then(|r| serde_json::to_value(r).map_err(|_| RpcError::Internal))
}

/// Methods without params accept `{}` or nothing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoxInfo {
    pub name: String,
    pub version: String,
    pub agreement_key: String,
    pub signing_key: String,
    pub fingerprint: String,
    pub uptime_s: u64,
    pub time: i64,
    pub pairing_open: bool,
    pub ipfs_peers: u64,
    pub devices: u64,
    pub identities: u64,
}

async fn box_info(call: &Call<'_>, _: NoParams) -> RpcResult<BoxInfo> {
    let keys = call.state.keys();
    Ok(BoxInfo {
        name: call.state.name().to_owned(),
        version: crate::VERSION.to_owned(),
        agreement_key: keys.agreement_b64u.clone(),
        signing_key: keys.signing_b64u.clone(),
        fingerprint: keys.fingerprint.clone(),
        uptime_s: call.state.uptime_secs(),
        time: call.state.pairing().now(),
        pairing_open: call.state.pairing().is_open(),
        ipfs_peers: match call.state.identities() {
            Some(ids) => ids.node().peer_count().await as u64,
            None => 0,
        },
        devices: call.store.device_count().await?,
        identities: call.store.identity_count().await?,
    })
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PairingOpened {
    pub uri: String,
    /// When the window closes (Unix seconds, box clock); null while it lasts until a pairing.
    pub expires: Option<i64>,
}

async fn pairing_open(call: &Call<'_>, _: NoParams) -> RpcResult<PairingOpened> {
    let (uri, expires) = call.state.pairing().open_window();
    log::info!("pairing window opened by device {}", call.device.device_id);
    Ok(PairingOpened {
        uri: uri.encode(),
        expires,
    })
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device_id: String,
    pub name: String,
    pub role: Role,
    pub paired_at: i64,
    pub last_seen: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

async fn devices_list(call: &Call<'_>, _: NoParams) -> RpcResult<DeviceList> {
    let devices = call.store.devices().await?;
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceIdParams {
    pub device_id: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Revoked {
    pub revoked: bool,
}

/// The owner may revoke anyone; any device may revoke itself.
async fn devices_revoke(call: &Call<'_>, p: DeviceIdParams) -> RpcResult<Revoked> {
    authorize_on(call, &p.device_id, "revoke")?;
    let now = call.state.pairing().now();
    if !call
        .store
        .revoke_device(&p.device_id, &call.device.device_id, now)
        .await?
    {
        return Err(RpcError::NotFound(format!(
            "no device {} is paired",
            p.device_id
        )));
    }
    log::info!(
        "device {} revoked by {}",
        p.device_id,
        call.device.device_id
    );
    Ok(Revoked { revoked: true })
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameParams {
    pub device_id: String,
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Renamed {
    pub device_id: String,
    pub name: String,
}

/// The owner may rename anyone; any device may rename itself.
async fn devices_rename(call: &Call<'_>, p: RenameParams) -> RpcResult<Renamed> {
    let name = valid_device_name(&p.name).ok_or_else(|| {
        RpcError::InvalidParams("name must be 1 to 64 printable characters".into())
    })?;
    authorize_on(call, &p.device_id, "rename")?;
    if !call.store.rename_device(&p.device_id, &name).await? {
        return Err(RpcError::NotFound(format!(
            "no device {} is paired",
            p.device_id
        )));
    }
    Ok(Renamed {
        device_id: p.device_id,
        name,
    })
}

fn authorize_on(call: &Call<'_>, target: &str, verb: &str) -> RpcResult<()> {
    if call.device.role == Role::Owner || call.device.device_id == target {
        Ok(())
    } else {
        Err(RpcError::Forbidden(format!(
            "only the owner's phone can {verb} another device"
        )))
    }
}

fn identities<'a>(call: &Call<'a>) -> RpcResult<&'a Identities> {
    call.state
        .identities()
        .ok_or_else(|| RpcError::Unavailable("the box's IPFS node is starting".into()))
}

async fn identity_create(call: &Call<'_>, p: CreateParams) -> RpcResult<IdentityView> {
    Ok(identities(call)?.create(&call.device.device_id, p).await?)
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityList {
    pub identities: Vec<IdentitySummary>,
}

async fn identity_list(call: &Call<'_>, _: NoParams) -> RpcResult<IdentityList> {
    Ok(IdentityList {
        identities: identities(call)?.list(&call.device.device_id).await?,
    })
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidParams {
    pub did: String,
}

async fn identity_get(call: &Call<'_>, p: DidParams) -> RpcResult<IdentityView> {
    Ok(identities(call)?
        .get(&call.device.device_id, &p.did)
        .await?)
}

async fn identity_update(call: &Call<'_>, p: UpdateParams) -> RpcResult<IdentityView> {
    let view = identities(call)?.update(&call.device.device_id, p).await?;
    backups_follow(call, &view.did).await;
    Ok(view)
}

/// Backups that list a changed identity get a new version before the reply (SPEC §5: the box
/// makes it by itself). The change itself stands even if that fails; the failure is logged.
async fn backups_follow(call: &Call<'_>, did: &str) {
    if let Ok(backups) = backups(call)
        && let Err(e) = backups.identity_changed(did).await
    {
        log::error!("no new backup version after a change of {did}: {e}");
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Deleted {
    pub did: String,
    pub deleted: bool,
}

async fn identity_delete(call: &Call<'_>, p: DidParams) -> RpcResult<Deleted> {
    let did = identities(call)?
        .delete(&call.device.device_id, &p.did)
        .await?;
    backups_follow(call, &did.to_string()).await;
    Ok(Deleted {
        did: did.to_string(),
        deleted: true,
    })
}

async fn did_resolve(call: &Call<'_>, p: DidParams) -> RpcResult<Resolution> {
    Ok(identities(call)?.resolve(&p.did).await?)
}

fn backups<'a>(call: &Call<'a>) -> RpcResult<&'a Backups> {
    call.state
        .backups()
        .ok_or_else(|| RpcError::Unavailable("the box is starting".into()))
}

async fn backup_enable(call: &Call<'_>, p: EnableParams) -> RpcResult<Enabled> {
    Ok(backups(call)?.enable(&call.device.device_id, p).await?)
}

async fn backup_put(call: &Call<'_>, p: PutParams) -> RpcResult<Stored> {
    Ok(backups(call)?.put(&call.device.device_id, p).await?)
}

async fn backup_status(call: &Call<'_>, _: NoParams) -> RpcResult<StatusList> {
    Ok(backups(call)?.status(&call.device.device_id).await?)
}

async fn backup_exists(call: &Call<'_>, _: NoParams) -> RpcResult<Exists> {
    Ok(backups(call)?.exists().await?)
}

async fn backup_fetch(call: &Call<'_>, p: FetchParams) -> RpcResult<Fetched> {
    Ok(backups(call)?.fetch(p).await?)
}

/// `backup.archive_ticket` params: the caller's backup, a version (the newest by default).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveTicketParams {
    pub backup_id: String,
    pub version: Option<u64>,
}

/// A download URL for an archive (SPEC §6).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArchiveTicket {
    /// Path on the box: `/v1/archive/<ticket>`.
    pub url: String,
    pub filename: String,
    pub size: u64,
    pub version: u64,
    pub expires: i64,
}

/// An archive download for a version of the caller's own backup.
pub async fn archive_ticket(
    state: &AppState,
    device_id: &str,
    p: ArchiveTicketParams,
) -> RpcResult<ArchiveTicket> {
    let backups = state.backups().ok_or(RpcError::Internal)?;
    let source = backups
        .archive(device_id, &p.backup_id, p.version, state.name())
        .await?;
    let (filename, size, version) = (
        source.plan.filename().to_owned(),
        source.plan.len(),
        source.version,
    );
    let issued = state.tickets().issue(source).map_err(|e| {
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

async fn backup_archive_ticket(
    call: &Call<'_>,
    p: ArchiveTicketParams,
) -> RpcResult<ArchiveTicket> {
    archive_ticket(call.state, &call.device.device_id, p).await
}

/// `extract.approve` params: the session and code from the desktop's QR, and which backup to
/// hand over (the caller's own); `refuse` says no instead.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveParams {
    pub session: String,
    pub code: String,
    pub backup_id: Option<String>,
    pub version: Option<u64>,
    #[serde(default)]
    pub refuse: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Approved {
    pub approved: bool,
    pub filename: Option<String>,
    pub size: Option<u64>,
}

async fn extract_approve(call: &Call<'_>, p: ApproveParams) -> RpcResult<Approved> {
    let sessions = call.state.sessions();
    let refused = |e: crate::extract::ApproveError| match e {
        crate::extract::ApproveError::Gone => RpcError::NotFound(e.to_string()),
        _ => RpcError::InvalidParams(e.to_string()),
    };
    sessions.check(&p.session, &p.code).map_err(refused)?;
    if p.refuse {
        sessions
            .answer(
                &p.session,
                &p.code,
                crate::extract::Status::Refused {
                    message: "The phone did not allow this computer to save the backup.".into(),
                },
            )
            .map_err(refused)?;
        log::info!("extraction refused by device {}", call.device.device_id);
        return Ok(Approved {
            approved: false,
            filename: None,
            size: None,
        });
    }
    let backup_id = p.backup_id.ok_or_else(|| {
        RpcError::InvalidParams("backup_id is needed to approve: which backup to save".into())
    })?;
    let ticket = archive_ticket(
        call.state,
        &call.device.device_id,
        ArchiveTicketParams {
            backup_id,
            version: p.version,
        },
    )
    .await?;
    sessions
        .answer(
            &p.session,
            &p.code,
            crate::extract::Status::Approved {
                url: ticket.url,
                filename: ticket.filename.clone(),
                size: ticket.size,
                expires: ticket.expires,
            },
        )
        .map_err(refused)?;
    log::info!("extraction approved by device {}", call.device.device_id);
    Ok(Approved {
        approved: true,
        filename: Some(ticket.filename),
        size: Some(ticket.size),
    })
}

async fn backup_restore_keys(call: &Call<'_>, p: RestoreKeysParams) -> RpcResult<RestoredKeys> {
    Ok(backups(call)?
        .restore_keys(&call.device.device_id, p)
        .await?)
}

async fn backup_disable(call: &Call<'_>, p: DisableParams) -> RpcResult<Disabled> {
    Ok(backups(call)?.disable(&call.device.device_id, p).await?)
}

/// The words `box.factory_reset` must carry, so that no stray call erases a household's box.
pub const RESET_CONFIRMATION: &str = "erase everything";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetParams {
    pub confirm: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Erased {
    pub erased: bool,
}

/// The owner erases the box: the answer goes out, then the daemon stops, erases its data
/// directory and starts again with a new seed and an open pairing window.
async fn box_factory_reset(call: &Call<'_>, p: ResetParams) -> RpcResult<Erased> {
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
    call.state.request_factory_reset();
    Ok(Erased { erased: true })
}
