//! `GET /1.0/identifiers/<did>`: public DID resolution in the shape of a DIF Universal Resolver
//! driver (protocol §7): `didDocument`, `didResolutionMetadata`, `didDocumentMetadata`.
//!
//! Errors keep that shape (`didResolutionMetadata.error` is `invalidDid`, `notFound`…) and also
//! carry the box's usual `{error, message}` fields.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use warp::Reply;
use warp::http::{StatusCode, header};
use warp::reply::Response;

use super::{ApiError, AppState};
use crate::identity::{IdentityError, Resolution};
use crate::ipfs::IpfsError;

const CONTENT_TYPE: &str = "application/ld+json;profile=\"https://w3id.org/did-resolution\"";

/// What the caller asked for: the resolution result (the default, and what the DIF Universal
/// Resolver asks its drivers for), or only the DID document (`application/did+ld+json` or
/// `application/did+json` without the resolution profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Result,
    Document(&'static str),
}

impl Representation {
    pub fn from_accept(accept: Option<&str>) -> Representation {
        let Some(accept) = accept else {
            return Representation::Result;
        };
        let ranges: Vec<String> = accept
            .split(',')
            .map(|r| r.trim().to_ascii_lowercase())
            .collect();
        if ranges.iter().any(|r| r.contains("w3id.org/did-resolution")) {
            return Representation::Result;
        }
        for media in ["application/did+ld+json", "application/did+json"] {
            if ranges
                .iter()
                .any(|r| r.split(';').next().is_some_and(|m| m.trim() == media))
            {
                return Representation::Document(media);
            }
        }
        Representation::Result
    }
}

pub(super) async fn resolve(
    did: String,
    state: Arc<AppState>,
    ip: std::net::IpAddr,
    accept: Option<String>,
) -> Response {
    let representation = Representation::from_accept(accept.as_deref());
    if !state.resolve_limit.hit(&ip) {
        return ApiError::RateLimited.reply();
    }
    let Some(identities) = state.identities() else {
        return ApiError::NotReady.reply();
    };
    let did = percent_encoding::percent_decode_str(&did)
        .decode_utf8_lossy()
        .into_owned();
    match identities.resolve(&did).await {
        Ok(resolution) => match representation {
            Representation::Result => found(&resolution),
            Representation::Document(media) => {
                let status = if resolution.metadata.deactivated {
                    StatusCode::GONE
                } else {
                    StatusCode::OK
                };
                let reply =
                    warp::reply::with_status(warp::reply::json(&resolution.document), status);
                warp::reply::with_header(reply, header::CONTENT_TYPE, media).into_response()
            }
        },
        Err(e) => failed(&e),
    }
}

fn rfc3339(t: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn found(r: &Resolution) -> Response {
    let m = &r.metadata;
    let mut doc_meta = json!({
        "versionId": m.seq.to_string(),
        "cid": m.cid,
        "ipnsRecord": m.ipns_record,
    });
    if let Some(t) = m.created.and_then(rfc3339) {
        doc_meta["created"] = json!(t);
    }
    if let Some(t) = m.updated.and_then(rfc3339) {
        doc_meta["updated"] = json!(t);
    }
    if m.deactivated {
        doc_meta["deactivated"] = json!(true);
    }
    let body = json!({
        "@context": "https://w3id.org/did-resolution/v1",
        "didDocument": r.document,
        "didResolutionMetadata": { "contentType": "application/did+ld+json" },
        "didDocumentMetadata": doc_meta,
    });
    // A deactivated DID still resolves, with 410 as Universal Resolver drivers answer.
    let status = if m.deactivated {
        StatusCode::GONE
    } else {
        StatusCode::OK
    };
    reply(&body, status)
}

fn failed(e: &IdentityError) -> Response {
    let (status, error, message) = match e {
        IdentityError::InvalidDid(_) | IdentityError::InvalidParams(_) => (
            StatusCode::BAD_REQUEST,
            "invalidDid",
            format!("{e}. A DID of an Identity Box looks like did:ipid:k51…"),
        ),
        IdentityError::NotFound(_) | IdentityError::Ipfs(IpfsError::NotFound(_)) => (
            StatusCode::NOT_FOUND,
            "notFound",
            format!(
                "{e}. If it lives on another box, check that the box is on and on this network."
            ),
        ),
        other => {
            log::error!("resolving a DID: {other}");
            return ApiError::Internal.reply();
        }
    };
    let body = json!({
        "error": error,
        "message": message,
        "didDocument": Value::Null,
        "didResolutionMetadata": { "error": error, "errorMessage": message },
        "didDocumentMetadata": {},
    });
    reply(&body, status)
}

fn reply(body: &Value, status: StatusCode) -> Response {
    let reply = warp::reply::with_status(warp::reply::json(body), status);
    warp::reply::with_header(reply, header::CONTENT_TYPE, CONTENT_TYPE).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_driver_gets_the_resolution_result_unless_it_asks_for_the_document() {
        use Representation::*;
        for (accept, want) in [
            (None, Result),
            (Some("*/*"), Result),
            (Some("application/json"), Result),
            (
                Some("application/ld+json;profile=\"https://w3id.org/did-resolution\""),
                Result,
            ),
            (
                Some(
                    "application/did+ld+json, application/ld+json;profile=\"https://w3id.org/did-resolution\"",
                ),
                Result,
            ),
            (
                Some("application/did+ld+json"),
                Document("application/did+ld+json"),
            ),
            (
                Some("Application/DID+JSON;q=0.9"),
                Document("application/did+json"),
            ),
        ] {
            assert_eq!(Representation::from_accept(accept), want, "{accept:?}");
        }
    }
}
