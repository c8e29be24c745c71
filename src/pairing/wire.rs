//! The JSON that crosses the network in pairing and the channel (SPEC §2, §3), shared by the box
//! and the reference client. Binary fields are b64u strings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::Role;

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

/// A JSON-RPC 2.0 request with the channel's timestamp.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcRequest {
    pub jsonrpc: String,
    #[serde(default)]
    pub id: Value,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    pub ts: i64,
}

/// A JSON-RPC 2.0 response, with the request's nonce.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcResponse {
    pub jsonrpc: String,
    pub id: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcErrorBody>,
    pub request_nonce: String,
}

/// A JSON-RPC error object; `data.kind` is one of SPEC §3's kinds.
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
