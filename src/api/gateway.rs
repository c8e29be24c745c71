//! The IPFS trustless gateway routes and delegated routing for names (protocol §7, "Gateway
//! routes"): what any IPFS client that checks answers itself (`@helia/verified-fetch`, a
//! gateway, kubo) can ask the box over plain HTTP.
//!
//! - `GET /ipfs/<cid>` with `Accept: application/vnd.ipld.raw` (or `?format=raw`): the block of
//!   one of the box's own documents, as stored. Nothing else: not what it fetched to resolve
//!   others' DIDs, and it never fetches a block from the network for a stranger.
//! - `GET /ipns/<name>` with `Accept: application/vnd.ipfs.ipns-record` (or
//!   `?format=ipns-record`): the newest valid signed record of the name, the box's own or one
//!   found in the DHT.
//! - `GET /routing/v1/ipns/<name>` (IPIP-379): the same record.
//!
//! Nothing here is trusted by the caller: a block is checked against its CID, a record
//! against the key its name holds. So the routes need no pairing, and in `public` mode they
//! are open to any origin (CORS `*`); they answer only the verifiable forms and `406` to
//! anything else.

use std::collections::HashMap;
use std::sync::Arc;

use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::{ApiError, AppState};
use crate::identity::IdentityError;
use crate::ipfs::IpnsName;

/// The media type of a block as stored.
pub const RAW: &str = "application/vnd.ipld.raw";
/// The media type of a signed IPNS record.
pub const IPNS_RECORD: &str = "application/vnd.ipfs.ipns-record";

/// Whether the request asks for `media` (as `?format=`, which wins, or in `Accept`), as the
/// trustless gateway specification has clients say it. A media range with `q=0` refuses it.
pub fn asks_for(accept: Option<&str>, query: &HashMap<String, String>, media: &str) -> bool {
    // The specification's `?format=` names of the two media types.
    let format = if media == IPNS_RECORD {
        "ipns-record"
    } else {
        "raw"
    };
    if let Some(asked) = query.get("format") {
        return asked == format;
    }
    accept.is_some_and(|value| {
        value.split(',').any(|range| {
            let mut parts = range.split(';');
            let named = parts
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(media));
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            named && !refused
        })
    })
}

/// `GET /ipfs/<cid>`.
pub(super) async fn block(
    cid: String,
    state: Arc<AppState>,
    accept: Option<String>,
    query: HashMap<String, String>,
) -> Response {
    if !asks_for(accept.as_deref(), &query, RAW) {
        return ApiError::NotAcceptable(format!(
            "The box serves only blocks that the caller can check: ask with the header Accept: \
             {RAW} (or add ?format=raw)."
        ))
        .reply();
    }
    let Some(identities) = state.identities() else {
        return ApiError::NotReady.reply();
    };
    let Ok(parsed) = ipld_core::cid::Cid::try_from(cid.as_str()) else {
        return ApiError::BadRequest(format!(
            "{cid:?} is not a CID; a document's CID looks like bagu… (see its DID's metadata)"
        ))
        .reply();
    };
    let canonical = parsed.to_string();
    let bytes = match identities.own_block(&canonical).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return ApiError::Missing(format!(
                "This box does not serve the block {canonical}. It serves only its own DIDs' \
                 documents; ask an IPFS node that provides it."
            ))
            .reply();
        }
        Err(e) => {
            log::error!("reading the block {canonical}: {e}");
            return ApiError::Internal.reply();
        }
    };
    let public = identities.node().net_status().network == crate::ipfs::Network::Public;
    let mut response = verifiable(bytes, RAW, public);
    let headers = response.headers_mut();
    if let Ok(path) = HeaderValue::from_str(&format!("/ipfs/{canonical}")) {
        headers.insert("x-ipfs-path", path);
    }
    if let Ok(roots) = HeaderValue::from_str(&canonical) {
        headers.insert("x-ipfs-roots", roots);
    }
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{canonical}.raw\"")) {
        headers.insert(header::ETAG, tag);
    }
    response
}

/// `GET /ipns/<name>` (gateway) and `GET /routing/v1/ipns/<name>` (delegated routing, where
/// the record is the only answer and `Accept` may be left out).
pub(super) async fn record(
    name: String,
    state: Arc<AppState>,
    ip: std::net::IpAddr,
    accept: Option<String>,
    query: HashMap<String, String>,
    routing: bool,
) -> Response {
    let anything = accept.as_deref().is_none_or(|a| a.contains("*/*"));
    let asked = asks_for(accept.as_deref(), &query, IPNS_RECORD) || (routing && anything);
    if !asked {
        return ApiError::NotAcceptable(format!(
            "The box serves a name only as its signed record, which the caller checks: ask with \
             the header Accept: {IPNS_RECORD} (or add ?format=ipns-record)."
        ))
        .reply();
    }
    // A name that is not the box's own costs a DHT search.
    if !state.resolve_limit.hit(&ip) {
        return ApiError::RateLimited.reply();
    }
    let Some(identities) = state.identities() else {
        return ApiError::NotReady.reply();
    };
    let name = match IpnsName::from_any_form(&name) {
        Ok(n) => n,
        Err(e) => {
            return ApiError::BadRequest(format!(
                "{name:?} is not an IPNS name ({e}); a DID's name is what follows did:ipid:, \
                 k51…"
            ))
            .reply();
        }
    };
    let public = identities.node().net_status().network == crate::ipfs::Network::Public;
    match identities.record_of(&name).await {
        Ok(bytes) => verifiable(bytes, IPNS_RECORD, public),
        Err(IdentityError::NotFound(_)) => ApiError::Missing(format!(
            "No valid record of {name} was found, here or on the IPFS network. If it belongs to \
             another box, check that the box is on."
        ))
        .reply(),
        Err(e) => {
            log::error!("reading the record of {name}: {e}");
            ApiError::Internal.reply()
        }
    }
}

/// A body the caller verifies. On the public network it is readable by a page of any origin
/// (`public`): the DIDs are public there. On a LAN it is not, so that no web site a household
/// member visits can read from the box which DIDs it holds.
fn verifiable(bytes: Vec<u8>, media: &'static str, public: bool) -> Response {
    let mut response = warp::reply::with_status(bytes, StatusCode::OK).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if public {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_verifiable_forms_are_asked_for_by_accept_or_format() {
        let none = q(&[]);
        assert!(asks_for(Some(RAW), &none, RAW));
        assert!(asks_for(
            Some("application/vnd.ipld.car;q=0.5, Application/Vnd.Ipld.Raw;q=0.9"),
            &none,
            RAW
        ));
        assert!(asks_for(None, &q(&[("format", "raw")]), RAW));
        assert!(asks_for(Some(IPNS_RECORD), &none, IPNS_RECORD));
        assert!(asks_for(
            None,
            &q(&[("format", "ipns-record")]),
            IPNS_RECORD
        ));
        for (accept, query) in [
            (None, q(&[])),
            (Some("*/*"), q(&[])),
            (Some("application/vnd.ipld.car"), q(&[])),
            (Some("application/vnd.ipld.raw-ish"), q(&[])),
            (None, q(&[("format", "car")])),
        ] {
            assert!(!asks_for(accept, &query, RAW), "{accept:?} {query:?}");
        }
        assert!(!asks_for(Some(RAW), &q(&[("format", "raw")]), IPNS_RECORD));
        // `?format=` wins over `Accept`; `q=0` refuses.
        assert!(!asks_for(
            Some(IPNS_RECORD),
            &q(&[("format", "raw")]),
            IPNS_RECORD
        ));
        assert!(!asks_for(Some("application/vnd.ipld.raw;q=0"), &none, RAW));
        assert!(!asks_for(
            Some("application/vnd.ipld.raw; q=0.0"),
            &none,
            RAW
        ));
        assert!(asks_for(Some("application/vnd.ipld.raw;q=0.1"), &none, RAW));
    }
}
