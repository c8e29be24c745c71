//! JSON-RPC 2.0 dispatch inside the channel (protocol §3): the method table, one line per
//! method, and the handlers in one file per area. Each method's params are read straight from
//! the request's bytes into the method's type (`crate::protocol`), after a check of their size
//! against the method's own limit; its result is written straight to the answer's bytes.

mod backup;
mod devices;
mod extract;
mod identity;
mod info;

use serde_json::Value;
use serde_json::value::RawValue;

use super::AppState;
pub use super::error::RpcError;
use crate::pairing::wire::{RpcRequest, RpcResponse};
use crate::protocol::{
    Method, Role, backup as b, devices as d, extract as x, identity as i, info as n,
};
use crate::store::{Device, Store};

type RpcResult<T> = Result<T, RpcError>;

/// What a method sees: the box, its store, and the calling device.
#[derive(Debug)]
pub struct Call<'a> {
    pub state: &'a AppState,
    pub store: &'a Store,
    pub device: &'a Device,
}

/// Runs one request and builds its response (errors included).
pub async fn dispatch(call: &Call<'_>, req: &RpcRequest<'_>, request_nonce: String) -> RpcResponse {
    let result = if req.jsonrpc == "2.0" {
        route(call, &req.method, Params(req.params)).await
    } else {
        Err(RpcError::InvalidRequest("jsonrpc must be \"2.0\"".into()))
    };
    response(req.id.clone(), result, request_nonce)
}

/// `M => handler`: reads `M`'s params, runs the handler, writes `M::Result`; the types make a
/// handler that takes or gives anything else a compile error.
macro_rules! run {
    ($call:expr, $params:expr, $method:ty => $handler:path) => {
        answer::<$method>($handler($call, $params.read::<$method>()?).await)
    };
}

/// What a pending device may call (protocol §2): look for a backup and take it over.
const PENDING_MAY_CALL: &[&str] = &[
    <n::BoxInfo as Method>::NAME,
    <b::BackupExists as Method>::NAME,
    <b::BackupFetch as Method>::NAME,
    <b::BackupEnable as Method>::NAME,
    <d::DevicesLinkStart as Method>::NAME,
    <d::DevicesLinkFetch as Method>::NAME,
];

/// The refusal of what a pending device may not do yet.
fn pending_approval() -> RpcError {
    RpcError::PendingApproval(
        "this phone is waiting for approval: ask an owner of the box to approve it (in the \
         app's list of devices), or restore your backup with its 24 words"
            .into(),
    )
}

/// The method table: one line per method.
async fn route(call: &Call<'_>, method: &str, p: Params<'_>) -> RpcResult<Box<RawValue>> {
    if call.device.role == Role::Pending
        && !PENDING_MAY_CALL.contains(&method)
        && crate::protocol::METHODS.contains(&method)
    {
        return Err(pending_approval());
    }
    match method {
        <n::BoxInfo as Method>::NAME => run!(call, p, n::BoxInfo => info::box_info),
        <n::FactoryReset as Method>::NAME => run!(call, p, n::FactoryReset => info::factory_reset),
        <d::PairingOpen as Method>::NAME => run!(call, p, d::PairingOpen => devices::pairing_open),
        <d::DevicesList as Method>::NAME => run!(call, p, d::DevicesList => devices::list),
        <d::DevicesRevoke as Method>::NAME => run!(call, p, d::DevicesRevoke => devices::revoke),
        <d::DevicesRename as Method>::NAME => run!(call, p, d::DevicesRename => devices::rename),
        <d::DevicesSetRole as Method>::NAME => {
            run!(call, p, d::DevicesSetRole => devices::set_role)
        }
        <d::DevicesApprove as Method>::NAME => run!(call, p, d::DevicesApprove => devices::approve),
        <d::DevicesReassign as Method>::NAME => {
            run!(call, p, d::DevicesReassign => devices::reassign)
        }
        <d::DevicesLinkStart as Method>::NAME => {
            run!(call, p, d::DevicesLinkStart => devices::link_start)
        }
        <d::DevicesLinkClaim as Method>::NAME => {
            run!(call, p, d::DevicesLinkClaim => devices::link_claim)
        }
        <d::DevicesLink as Method>::NAME => run!(call, p, d::DevicesLink => devices::link),
        <d::DevicesLinkFetch as Method>::NAME => {
            run!(call, p, d::DevicesLinkFetch => devices::link_fetch)
        }
        <i::IdentityCreate as Method>::NAME => run!(call, p, i::IdentityCreate => identity::create),
        <i::IdentityList as Method>::NAME => run!(call, p, i::IdentityList => identity::list),
        <i::IdentityGet as Method>::NAME => run!(call, p, i::IdentityGet => identity::get),
        <i::IdentityUpdate as Method>::NAME => run!(call, p, i::IdentityUpdate => identity::update),
        <i::IdentityDelete as Method>::NAME => run!(call, p, i::IdentityDelete => identity::delete),
        <i::DidResolve as Method>::NAME => run!(call, p, i::DidResolve => identity::resolve),
        <b::BackupEnable as Method>::NAME => run!(call, p, b::BackupEnable => backup::enable),
        <b::BackupPut as Method>::NAME => run!(call, p, b::BackupPut => backup::put),
        <b::BackupStatus as Method>::NAME => run!(call, p, b::BackupStatus => backup::status),
        <b::BackupExists as Method>::NAME => run!(call, p, b::BackupExists => backup::exists),
        <b::BackupFetch as Method>::NAME => run!(call, p, b::BackupFetch => backup::fetch),
        <b::BackupArchiveTicket as Method>::NAME => {
            run!(call, p, b::BackupArchiveTicket => backup::archive_ticket)
        }
        <b::BackupRestoreKeys as Method>::NAME => {
            run!(call, p, b::BackupRestoreKeys => backup::restore_keys)
        }
        <b::BackupDisable as Method>::NAME => run!(call, p, b::BackupDisable => backup::disable),
        <b::BackupLatest as Method>::NAME => run!(call, p, b::BackupLatest => backup::latest),
        <x::ExtractApprove as Method>::NAME => run!(call, p, x::ExtractApprove => extract::approve),
        other => Err(RpcError::MethodNotFound(other.to_owned())),
    }
}

/// A request's params as they came: unparsed bytes of JSON, or nothing.
#[derive(Debug, Clone, Copy)]
struct Params<'a>(Option<&'a RawValue>);

impl Params<'_> {
    /// The params as `M`'s type; absent or `null` params read as `{}`. Params above `M`'s limit
    /// are refused before they are parsed.
    fn read<M: Method>(self) -> RpcResult<M> {
        let text = match self.0 {
            None => "{}",
            Some(raw) => raw.get(),
        };
        if text.len() > M::MAX_PARAMS_BYTES {
            return Err(RpcError::TooLarge(format!(
                "the params of {} are {} bytes; it accepts at most {}",
                M::NAME,
                text.len(),
                M::MAX_PARAMS_BYTES
            )));
        }
        let text = if text == "null" { "{}" } else { text };
        serde_json::from_str(text)
            .map_err(|e| RpcError::InvalidParams(format!("invalid params: {e}")))
    }
}

fn answer<M: Method>(result: RpcResult<M::Result>) -> RpcResult<Box<RawValue>> {
    result.and_then(|r| serde_json::value::to_raw_value(&r).map_err(|_| RpcError::Internal))
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

fn response(id: Value, result: RpcResult<Box<RawValue>>, request_nonce: String) -> RpcResponse {
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

/// About what a new identity costs on the card (its row, its document block, their WAL pages).
const IDENTITY_BYTES: u64 = 64 * 1024;

impl Call<'_> {
    /// Refuses a write of about `bytes` that would leave the card nearly full.
    fn room_for(&self, bytes: u64) -> RpcResult<()> {
        Ok(self.state.room_for(bytes)?)
    }

    /// Refuses a new identity when the card is nearly full.
    fn room_for_identity(&self) -> RpcResult<()> {
        self.room_for(IDENTITY_BYTES)
    }

    fn identities(&self) -> RpcResult<&crate::identity::Identities> {
        self.state
            .identities()
            .ok_or_else(|| RpcError::Unavailable("the box's IPFS node is starting".into()))
    }

    fn backups(&self) -> RpcResult<&crate::backup::Backups> {
        self.state
            .backups()
            .ok_or_else(|| RpcError::Unavailable("the box is starting".into()))
    }

    fn devices(&self) -> crate::pairing::Devices<'_> {
        self.state.pairing().devices(self.store)
    }
}
