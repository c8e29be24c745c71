//! The JSON that crosses the network in pairing and the channel (protocol §2, §3), shared by the box
//! and the reference client. Binary fields are b64u strings.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::protocol::Role;

/// `POST /v1/pair` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    pub v: u32,
    /// The device's X25519 public key.
    pub device_key: String,
    pub nonce: String,
    #[serde(rename = "box")]
    pub boxed: String,
}

/// What the device seals inside a [`PairRequest`].
#[derive(Serialize, Deserialize)]
pub struct PairPayload {
    pub token: String,
    pub device_name: String,
    /// The device's estimate of the box's clock.
    pub ts: i64,
}

impl std::fmt::Debug for PairPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairPayload")
            .field("token", &"[redacted]")
            .field("device_name", &self.device_name)
            .field("ts", &self.ts)
            .finish()
    }
}

/// A sealed answer: `/v1/pair`'s (with `v`) and `/v1/rpc`'s.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sealed {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub v: Option<u32>,
    pub nonce: String,
    #[serde(rename = "box")]
    pub boxed: String,
}

/// What the box seals inside its answer to a pairing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PairAnswer {
    pub device_id: String,
    pub box_name: String,
    pub box_signing_key: String,
    pub role: Role,
    /// The request's nonce, echoed: the answer belongs to this request.
    pub request_nonce: String,
}

/// `POST /v1/rpc` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub device: String,
    pub nonce: String,
    #[serde(rename = "box")]
    pub boxed: String,
}

/// A JSON-RPC 2.0 request with the channel's timestamp, as the box reads it: borrowed from the
/// opened bytes, params unparsed until the method is known (each method reads them into its
/// own type, within its own size limit).
#[derive(Debug, Clone, Deserialize)]
pub struct RpcRequest<'a> {
    #[serde(borrow)]
    pub jsonrpc: Cow<'a, str>,
    #[serde(default)]
    pub id: Value,
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    pub ts: i64,
}

/// A JSON-RPC 2.0 response, with the request's nonce. The result is the method's result type
/// written as JSON; the client reads it into that type.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RpcResponse {
    pub jsonrpc: String,
    pub id: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcErrorBody>,
    pub request_nonce: String,
}

/// A JSON-RPC error object; `data.kind` is one of protocol §3's kinds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcErrorBody {
    pub code: i64,
    pub message: String,
    pub data: RpcErrorData,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcErrorData {
    pub kind: String,
}
