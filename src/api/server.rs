//! Serves a warp filter through hyper with the limits warp alone lacks (protocol §9): a header-read
//! timeout, a pace for request bodies ([`BodyPace`]), an idle timeout, caps on concurrent
//! connections (in all and per address), and a graceful drain on shutdown.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt as _;
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;
use warp::{Filter, Reply};

use super::download::StreamedBody;
pub use super::pace::BodyPace;
use super::pace::PacedBody;

/// The peer's address, put into every request's extensions for rate limits and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The limits of one server.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's whole header must arrive within this time (also bounds a keep-alive wait).
    pub header_read_timeout: Duration,
    /// How fast a request body must arrive once the box reads it (`408` when it falls behind).
    pub body_pace: BodyPace,
    /// A connection on which no byte moves either way for this long is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; the next ones get `503` and are closed.
    pub max_connections: usize,
    /// Connections served at once from one IP address; beyond it, `503` too.
    pub max_connections_per_address: usize,
    /// On shutdown, requests in flight get this long to finish before their connections close.
    pub shutdown_grace: Duration,
}

/// How a server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOutcome {
    /// Every connection finished within the grace period.
    pub drained: bool,
}

/// Accepts connections on `listener` (already bound, so callers and tests know the port before
/// anything starts) and serves `filter` on each until `shutdown` is cancelled; then stops
/// accepting, lets requests in flight finish for up to `shutdown_grace`, and returns.
pub async fn serve<F, R>(
    listener: TcpListener,
    filter: F,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> ServeOutcome
where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: Reply,
{
    let service = warp::service(filter);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new(limits.max_connections_per_address);
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();

    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment rather than spin.
                        log::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Some(slot) = per_address.take(peer.ip()) else {
                    log::debug!("{peer}: its address holds as many connections as it may");
                    connections.spawn(refuse_busy(stream, BUSY_ADDRESS));
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    connections.spawn(refuse_busy(stream, BUSY));
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let pace = limits.body_pace;
                let hyper_service = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| {
                        let too_slow = Arc::new(AtomicBool::new(false));
                        let mut req = req.map(|b| PacedBody::new(b, pace, too_slow.clone()));
                        req.extensions_mut().insert(PeerAddr(peer));
                        let call = service.clone().call(req);
                        async move {
                            let response = match call.await {
                                Ok(response) => response,
                                Err(never) => match never {},
                            };
                            // Whatever the route made of the failed read, the client is told.
                            if too_slow.load(Ordering::Acquire) {
                                log::debug!("{peer}: a request body arrived too slowly");
                                return Ok::<_, Infallible>(request_timeout());
                            }
                            Ok(with_streamed_body(response))
                        }
                    },
                );
                let io = TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout));
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .serve_connection(io, hyper_service);
                let conn = graceful.watch(conn);
                connections.spawn(async move {
                    if let Err(e) = conn.await {
                        log::debug!("connection from {peer} ended: {e}");
                    }
                    drop(permit);
                    drop(slot);
                });
            }
        }
    }

    drop(listener);
    let drained = tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_ok();
    if !drained {
        log::warn!(
            "{} connection(s) did not finish within {:?}; closing them",
            connections.len(),
            limits.shutdown_grace
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
    ServeOutcome { drained }
}

/// A response body: warp's, or a stream a route left in the extensions ([`StreamedBody`]).
type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn with_streamed_body(mut response: warp::reply::Response) -> http::Response<Body> {
    let streamed = response
        .extensions_mut()
        .remove::<StreamedBody>()
        .and_then(|s| s.take());
    match streamed {
        Some(stream) => response.map(|_| {
            StreamBody::new(stream.map_ok(Frame::data).map_err(BoxError::from)).boxed_unsync()
        }),
        None => response.map(|body| body.map_err(BoxError::from).boxed_unsync()),
    }
}

const TOO_SLOW: &str = r#"{"error":"request_timeout","message":"The request reached the box too slowly, so the box stopped waiting for it. Check the network connection (a weak Wi-Fi signal, for one), then try again."}"#;

/// `408`, for a request whose body fell behind its [`BodyPace`]; the connection closes (the
/// rest of the body is never read).
fn request_timeout() -> http::Response<Body> {
    let mut response = http::Response::new(
        http_body_util::Full::new(Bytes::from_static(TOO_SLOW.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = http::StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

const BUSY: &str = r#"{"error":"busy","message":"The box is handling too many connections. Try again in a moment."}"#;
const BUSY_ADDRESS: &str = r#"{"error":"busy","message":"This computer has too many connections open to the box. Close some (other tabs or programs), then try again."}"#;

/// How many connections each address holds, against a cap.
#[derive(Debug, Clone)]
struct PerAddress {
    max: usize,
    held: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One address's connection; given back when dropped.
#[derive(Debug)]
struct AddressSlot {
    ip: std::net::IpAddr,
    held: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

impl PerAddress {
    fn new(max: usize) -> Self {
        Self {
            max,
            held: Arc::default(),
        }
    }

    /// A slot for `ip`, unless it holds `max` already.
    fn take(&self, ip: std::net::IpAddr) -> Option<AddressSlot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            ip,
            held: self.held.clone(),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// Answers a connection over a cap with `503` and closes it, so the client learns why at once.
async fn refuse_busy(mut stream: TcpStream, body: &'static str) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// An I/O stream that fails with `TimedOut` once no byte has moved either way for `timeout`.
///
/// Unlike separate read and write timeouts, a long download (writes progressing, no reads)
/// stays open, while a client that stops sending a body, or never reads its answer, is dropped.
#[derive(Debug)]
pub struct IdleTimeout<S> {
    inner: S,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn progressed(&mut self) {
        let next = Instant::now() + self.timeout;
        self.deadline.as_mut().reset(next);
    }

    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.check_idle(cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.check_idle(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.check_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
