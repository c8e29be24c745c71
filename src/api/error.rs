//! HTTP errors: every failure outside the channel is JSON `{error, message}` with a fitting status.

use std::convert::Infallible;

use serde::Serialize;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::backup::BackupError;
use crate::extract::ApproveError;
use crate::identity::IdentityError;
use crate::ipfs::IpfsError;
use crate::pairing::wire::{RpcErrorBody, RpcErrorData};
use crate::pairing::{ChannelError, DeviceError, PairError};
use crate::store::StoreError;

/// An error the HTTP layer answers with; `kind` is the machine-readable `error` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The `Host` header names someone else (protocol §9, DNS-rebinding defence).
    #[error(
        "This address is not the box's own. Open the box by its name (identity-box.local) or its IP address."
    )]
    MisdirectedHost,
    /// The body is larger than the route accepts.
    #[error(
        "The request is too large{}.",
        limit.map(|l| format!(": at most {l} bytes are accepted here")).unwrap_or_default()
    )]
    BodyTooLarge { limit: Option<u64> },
    /// The box has no room for this now (the message says which); later it will.
    #[error("{0}")]
    Busy(String),
    /// A large body from a sender that did not name a paired device.
    #[error(
        "The request is too large for a sender the box does not know: above {limit} bytes, send \
         it from a paired device that names itself in the Idbox-Device header."
    )]
    AnonymousBodyTooLarge { limit: u64 },
    /// The box is still starting (its database is not open yet).
    #[error("The box is starting. Try again in a few seconds.")]
    NotReady,
    /// Nothing is served at this path.
    #[error("There is nothing at this address.")]
    NotFound,
    /// The thing asked for is not here (the message says what, and what to do).
    #[error("{0}")]
    Missing(String),
    /// The route cannot answer in any form the request accepts (the message says which it
    /// can).
    #[error("{0}")]
    NotAcceptable(String),
    /// A download link that expired, was used, or never existed.
    #[error(
        "This download link has expired or was already used. Ask for a new one: start saving the backup again."
    )]
    TicketGone,
    /// An extraction session that expired, never existed, or whose secret is wrong.
    #[error("This request to save a backup has expired (they last 5 minutes). Start again.")]
    SessionGone,
    /// A `Range` outside the file.
    #[error("The requested range is outside the file ({size} bytes). Start the download again.")]
    RangeNotSatisfiable { size: u64 },
    /// The path exists but not with this method.
    #[error("This address does not accept that kind of request.")]
    MethodNotAllowed,
    /// The request is malformed.
    #[error("The request is malformed: {0}")]
    BadRequest(String),
    /// A JSON route got a body that does not say it is JSON (protocol §9: what a web page of
    /// another site could send without the browser asking the box first).
    #[error("Send the request's body as JSON, with the header Content-Type: application/json.")]
    NotJson,
    /// Something failed inside the box.
    /// No pairing window is open (protocol §2).
    #[error(
        "Pairing is closed. Ask an owner of the box to let this phone in from their phone; if nobody can, unplug the box, plug it in again and scan the code on its web page within 10 minutes."
    )]
    PairingClosed,
    /// The device was revoked or superseded: its key never pairs again.
    #[error(
        "This phone was removed from the box. To use it again, reset the app on it (it then has a new key) and pair it anew."
    )]
    Revoked,
    /// The box has as many devices as its quota allows.
    #[error("{0}")]
    Quota(String),
    /// The pairing code is wrong or was used already.
    #[error(
        "This pairing code is not valid any more. Show the QR code again and scan the new one."
    )]
    BadToken,
    /// Too many attempts from this address, or too many wrong codes.
    #[error("Too many attempts. Wait a minute, then open pairing again and scan the new code.")]
    TooManyAttempts,
    /// The device is not paired (never, or revoked).
    #[error("This device is not paired with the box (or was removed). Pair it again.")]
    UnknownDevice,
    /// The request does not open with the device's key.
    #[error("The request could not be opened. Pair this device again.")]
    BadBox,
    /// The request's time is too far from the box's clock.
    #[error("The request's time does not match the box's clock. Retry with the box's time.")]
    Stale { box_time: i64 },
    /// The request was sent before.
    #[error("This request was already received once.")]
    Replay,
    /// Too many requests from this address.
    #[error("Too many requests. Wait a minute and try again.")]
    RateLimited,
    /// Something failed inside the box.
    #[error(
        "Something went wrong inside the box. Try again; if it keeps happening, restart the box."
    )]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
            ApiError::BodyTooLarge { .. } | ApiError::AnonymousBodyTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::NotReady | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound
            | ApiError::Missing(_)
            | ApiError::TicketGone
            | ApiError::SessionGone => StatusCode::NOT_FOUND,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PairingClosed | ApiError::Revoked | ApiError::Quota(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::BadToken
            | ApiError::UnknownDevice
            | ApiError::BadBox
            | ApiError::Stale { .. }
            | ApiError::Replay => StatusCode::UNAUTHORIZED,
            ApiError::TooManyAttempts | ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::MisdirectedHost => "misdirected_request",
            ApiError::BodyTooLarge { .. } | ApiError::AnonymousBodyTooLarge { .. } => "too_large",
            ApiError::NotReady => "starting",
            ApiError::Busy(_) => "busy",
            ApiError::NotFound | ApiError::Missing(_) => "not_found",
            ApiError::NotAcceptable(_) => "not_acceptable",
            ApiError::TicketGone => "ticket_gone",
            ApiError::SessionGone => "session_gone",
            ApiError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotJson => "unsupported_media_type",
            ApiError::PairingClosed => "pairing_closed",
            ApiError::Revoked => "revoked",
            ApiError::Quota(_) => "quota",
            ApiError::BadToken => "bad_token",
            ApiError::TooManyAttempts => "too_many_attempts",
            ApiError::UnknownDevice => "unknown_device",
            ApiError::BadBox => "bad_box",
            ApiError::Stale { .. } => "stale",
            ApiError::Replay => "replay",
            ApiError::RateLimited => "too_many_requests",
            ApiError::Internal => "internal",
        }
    }

    /// The JSON reply `{error, message}` with this error's status.
    pub fn reply(&self) -> warp::reply::Response {
        warp::reply::with_status(warp::reply::json(&self.error_body()), self.status())
            .into_response()
    }

    /// The body of the error's answer as JSON (the channel over libp2p carries it as is).
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(self.error_body()).unwrap_or_default()
    }

    fn error_body(&self) -> ErrorBody {
        ErrorBody {
            error: self.kind(),
            message: self.to_string(),
            box_time: match self {
                ApiError::Stale { box_time } => Some(*box_time),
                _ => None,
            },
        }
    }
}

impl warp::reject::Reject for ApiError {}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
    /// With `stale`: the box's clock, so the client can correct its offset (protocol §3).
    #[serde(skip_serializing_if = "Option::is_none")]
    box_time: Option<i64>,
}

impl From<PairError> for ApiError {
    fn from(e: PairError) -> Self {
        match e {
            PairError::Malformed(m) => ApiError::BadRequest(m.to_owned()),
            PairError::Closed => ApiError::PairingClosed,
            PairError::BadToken => ApiError::BadToken,
            PairError::LockedOut => ApiError::TooManyAttempts,
            PairError::Revoked => ApiError::Revoked,
            PairError::Quota(m) => ApiError::Quota(m),
            PairError::WeakKey => ApiError::BadRequest(
                "the device key is not a usable X25519 public key; make a new key pair".into(),
            ),
            PairError::Stale { box_time } => ApiError::Stale { box_time },
            PairError::Store(e) => {
                log::error!("pairing: {e}");
                ApiError::Internal
            }
        }
    }
}

impl From<ChannelError> for ApiError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Malformed(m) => ApiError::BadRequest(m.to_owned()),
            ChannelError::UnknownDevice => ApiError::UnknownDevice,
            ChannelError::BadBox => ApiError::BadBox,
            ChannelError::Stale { box_time } => ApiError::Stale { box_time },
            ChannelError::Replay => ApiError::Replay,
            ChannelError::Store(e) => {
                log::error!("channel: {e}");
                ApiError::Internal
            }
        }
    }
}

/// Turns every rejection into `{error, message}`.
pub async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    Ok(classify(&rejection).reply())
}

fn classify(rejection: &Rejection) -> ApiError {
    if let Some(e) = rejection.find::<ApiError>() {
        return e.clone();
    }
    if rejection.is_not_found() {
        return ApiError::NotFound;
    }
    if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        return ApiError::MethodNotAllowed;
    }
    if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        return ApiError::BadRequest(e.to_string());
    }
    if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        return ApiError::BadRequest(e.to_string());
    }
    if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        return ApiError::BadRequest(e.to_string());
    }
    if rejection.find::<warp::reject::LengthRequired>().is_some() {
        return ApiError::BadRequest("send the body with a Content-Length header".into());
    }
    if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
    {
        return ApiError::NotJson;
    }
    if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        return ApiError::BodyTooLarge { limit: None };
    }
    if let Some(e) = rejection.find::<warp::filters::body::BodyDeserializeError>() {
        return ApiError::BadRequest(e.to_string());
    }
    log::warn!("unhandled rejection: {rejection:?}");
    ApiError::Internal
}

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
    /// This device is pending: an owner must approve it first (protocol §2).
    #[error("{0}")]
    PendingApproval(String),
    /// Someone else changed the thing first.
    #[error("{0}")]
    Conflict(String),
    /// No backup with that id (protocol §5: "no backup matches this mnemonic").
    #[error("{0}")]
    BackupNotFound(String),
    /// The thing sent is larger than the box accepts.
    #[error("{0}")]
    TooLarge(String),
    /// A quota of the box would be exceeded (protocol §9).
    #[error("{0}")]
    Quota(String),
    /// The write would leave the card nearly full (protocol §9, the disk guard).
    #[error(transparent)]
    StorageFull(#[from] crate::storage::StorageFull),
    /// The box cannot do it right now.
    #[error("{0}")]
    Unavailable(String),
    /// A link code that is not the one handed out (protocol §2, "Linking").
    #[error("{0}")]
    LinkCodeWrong(String),
    /// A link code past its 5 minutes, or one entered wrong too often.
    #[error("{0}")]
    LinkExpired(String),
    /// A link code used already.
    #[error("{0}")]
    LinkUsed(String),
    /// A person's group has as many devices as it may.
    #[error("{0}")]
    GroupFull(String),
    /// A version under a group key the group no longer uses.
    #[error("{0}")]
    GroupKeyRetired(String),
    /// Something failed inside the box.
    #[error("something went wrong inside the box")]
    Internal,
}

impl RpcError {
    /// JSON-RPC code and protocol §3 kind.
    fn code_and_kind(&self) -> (i64, &'static str) {
        match self {
            RpcError::InvalidRequest(_) => (-32600, "invalid_params"),
            RpcError::MethodNotFound(_) => (-32601, "not_found"),
            RpcError::InvalidParams(_) => (-32602, "invalid_params"),
            RpcError::NotFound(_) => (-32001, "not_found"),
            RpcError::Forbidden(_) => (-32003, "forbidden"),
            RpcError::PendingApproval(_) => (-32003, "pending_approval"),
            RpcError::Conflict(_) => (-32009, "conflict"),
            RpcError::BackupNotFound(_) => (-32004, "backup_not_found"),
            RpcError::TooLarge(_) => (-32013, "too_large"),
            RpcError::Quota(_) => (-32029, "quota"),
            RpcError::StorageFull(_) => (-32028, "storage_full"),
            RpcError::Unavailable(_) => (-32006, "unavailable"),
            RpcError::LinkCodeWrong(_) => (-32003, "link_code_wrong"),
            RpcError::LinkExpired(_) => (-32010, "link_expired"),
            RpcError::LinkUsed(_) => (-32010, "link_used"),
            RpcError::GroupFull(_) => (-32029, "group_full"),
            RpcError::GroupKeyRetired(_) => (-32009, "group_key_retired"),
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
            IdentityError::Quota(m) => RpcError::Quota(m),
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
            BackupError::NeedsProof
            | BackupError::OtherDevice
            | BackupError::TurnedOff
            | BackupError::NotOwnIdentity(_) => RpcError::Forbidden(e.to_string()),
            BackupError::Conflict(m) => RpcError::Conflict(m),
            BackupError::TooLarge(m) => RpcError::TooLarge(m),
            BackupError::Quota(m) => RpcError::Quota(m),
            BackupError::GroupFull => RpcError::GroupFull(e.to_string()),
            BackupError::GroupKeyRetired => RpcError::GroupKeyRetired(e.to_string()),
            BackupError::Identity(e) => e.into(),
            BackupError::Store(e) => e.into(),
            BackupError::Archive(e) => {
                log::error!("archive: {e}");
                RpcError::Internal
            }
        }
    }
}

impl From<ApproveError> for RpcError {
    fn from(e: ApproveError) -> Self {
        match e {
            ApproveError::Gone | ApproveError::TooManyWrongCodes => {
                RpcError::NotFound(e.to_string())
            }
            _ => RpcError::InvalidParams(e.to_string()),
        }
    }
}

impl From<crate::pairing::link::LinkError> for RpcError {
    fn from(e: crate::pairing::link::LinkError) -> Self {
        use crate::pairing::link::{CodeError, LinkError};
        let m = e.to_string();
        match e {
            LinkError::Code(CodeError::NoCode) | LinkError::NotPaired(_) => RpcError::NotFound(m),
            LinkError::Code(CodeError::Wrong { .. }) => RpcError::LinkCodeWrong(m),
            LinkError::Code(CodeError::Expired | CodeError::TooManyWrong) => {
                RpcError::LinkExpired(m)
            }
            LinkError::Code(CodeError::Used) => RpcError::LinkUsed(m),
            LinkError::NotClaimed | LinkError::Code(CodeError::ClaimedByOther) => {
                RpcError::Conflict(m)
            }
            LinkError::Itself | LinkError::BadSealed => RpcError::InvalidParams(m),
            LinkError::Pending => RpcError::PendingApproval(m),
            LinkError::NeedsOwner | LinkError::NotYours => RpcError::Forbidden(m),
            LinkError::GroupFull => RpcError::GroupFull(m),
            LinkError::Store(e) => e.into(),
        }
    }
}

impl From<DeviceError> for RpcError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::InvalidName | DeviceError::NotSettable => {
                RpcError::InvalidParams(e.to_string())
            }
            DeviceError::NotOwner { .. } | DeviceError::LastOwner => {
                RpcError::Forbidden(e.to_string())
            }
            DeviceError::NameTaken(_)
            | DeviceError::NotPending(_)
            | DeviceError::StillPaired(_)
            | DeviceError::NotMember(_)
            | DeviceError::GroupLives(_) => RpcError::Conflict(e.to_string()),
            DeviceError::NotPaired(_) | DeviceError::NeverRemoved(_) => {
                RpcError::NotFound(e.to_string())
            }
            DeviceError::Store(e) => e.into(),
        }
    }
}
