//! `GET /v1/archive/<ticket>` (protocol §6): an archive streamed from the store in constant
//! memory, with `Content-Length`, and `Range` so that a broken download resumes.
//!
//! warp has no public way to build a streaming body, so the route answers the head of the
//! response and leaves its body as a [`StreamedBody`] extension; [`super::server`] puts it in
//! place before hyper sends the response.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;
use warp::Reply as _;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::AppState;
use super::error::ApiError;

/// Bytes read from the store per piece sent.
const CHUNK: usize = 256 * 1024;

pub type BodyStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A response body to be streamed, carried in the response's extensions (which must be
/// `Clone + Sync`: hence the shared slot, taken once).
#[derive(Clone)]
pub struct StreamedBody(Arc<Mutex<Option<BodyStream>>>);

impl std::fmt::Debug for StreamedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamedBody")
    }
}

impl StreamedBody {
    pub fn new(stream: BodyStream) -> Self {
        Self(Arc::new(Mutex::new(Some(stream))))
    }

    pub fn take(&self) -> Option<BodyStream> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// A `Range` that lies outside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// What a `Range` header asks of a file of `len` bytes: `Ok(Some(start..end))` (end
/// exclusive), `Ok(None)` for a form this server does not serve partially (several ranges,
/// another unit: the whole file is sent), `Err` when it lies outside the file.
pub fn parse_range(value: &str, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        // The last n bytes.
        let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
        if n == 0 || len == 0 {
            return Err(Unsatisfiable);
        }
        (len.saturating_sub(n), len)
    } else {
        let start: u64 = a.parse().map_err(|_| Unsatisfiable)?;
        let end = if b.is_empty() {
            len
        } else {
            let last: u64 = b.parse().map_err(|_| Unsatisfiable)?;
            if last < start {
                return Err(Unsatisfiable);
            }
            last.saturating_add(1).min(len)
        };
        (start, end)
    };
    if range.0 >= len {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

/// `POST /v1/extract`: a desktop asks to save a backup (protocol §6).
pub fn start_extract(state: &AppState, ip: std::net::IpAddr) -> Response {
    if !state.pair_limit.hit(&ip) {
        return ApiError::TooManyAttempts.reply();
    }
    match state.sessions().start(ip) {
        Ok(started) => {
            // The web page cannot draw a QR code by itself: it gets the drawing too.
            #[derive(serde::Serialize)]
            struct WithDrawing<'a> {
                #[serde(flatten)]
                started: &'a crate::extract::Started,
                qr_svg: Option<String>,
            }
            let qr_svg = super::web::qr_svg(&started.qr);
            warp::reply::json(&WithDrawing {
                started: &started,
                qr_svg,
            })
            .into_response()
        }
        Err(crate::extract::StartError::Busy) => {
            log::warn!("extraction sessions: the box keeps as many as it can; {ip} refused");
            ApiError::Busy(
                "The box is busy with other requests to save a backup. Try again in a few \
                 minutes."
                    .into(),
            )
            .reply()
        }
        Err(e) => {
            log::error!("extraction session: {e}");
            ApiError::Internal.reply()
        }
    }
}

/// `GET /v1/extract/<session>` with `Idbox-Extract-Secret`.
pub fn extract_status(state: &AppState, session: &str, secret: Option<&str>) -> Response {
    match secret.and_then(|secret| state.sessions().status(session, secret)) {
        Some(status) => warp::reply::json(&status).into_response(),
        None => ApiError::SessionGone.reply(),
    }
}

/// `GET /v1/archive/<ticket>`.
pub async fn archive(state: Arc<AppState>, ticket: String, range: Option<String>) -> Response {
    let Some(source) = state.tickets().get(&ticket) else {
        return ApiError::TicketGone.reply();
    };
    let len = source.plan.len();
    let (status, start, end) = match range.as_deref().map(|r| parse_range(r, len)) {
        None | Some(Ok(None)) => (StatusCode::OK, 0, len),
        Some(Ok(Some((start, end)))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(Err(Unsatisfiable)) => {
            let mut response = ApiError::RangeNotSatisfiable { size: len }.reply();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return response;
        }
    };
    let tickets = state.tickets().clone();
    let used = ticket.clone();
    let stream = source.stream(start, end, CHUNK, move || tickets.complete(&used));

    let mut response = Response::new(Default::default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, "application/x-tar".into());
    set(header::CONTENT_LENGTH, (end - start).to_string());
    set(header::ACCEPT_RANGES, "bytes".into());
    set(
        header::CONTENT_DISPOSITION,
        format!("attachment; filename=\"{}\"", source.plan.filename()),
    );
    set(
        header::ETAG,
        format!("\"{}\"", hex::encode(source.plan.manifest_sha256())),
    );
    set(header::CACHE_CONTROL, "no-store".into());
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end.saturating_sub(1)),
        );
    }
    response
        .extensions_mut()
        .insert(StreamedBody::new(Box::pin(stream)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=500-", 1000), Ok(Some((500, 1000))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 1000))));
        assert_eq!(parse_range("bytes=-5000", 1000), Ok(Some((0, 1000))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 1000))));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=5-4", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=x-4", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
    }
}
