//! The HTTP server's limits over real sockets: slow clients, idle connections, the connection
//! cap, and the drain on shutdown. Each server binds 127.0.0.1:0 before it starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use identity_box::api::server::{BodyPace, ServeOutcome, ServerLimits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::Filter;
use warp::reply::Reply;

fn limits() -> ServerLimits {
    ServerLimits {
        header_read_timeout: Duration::from_secs(10),
        body_pace: BodyPace {
            initial: Duration::from_secs(10),
            min_rate: 1024,
            max: Duration::from_secs(60),
        },
        idle_timeout: Duration::from_secs(10),
        max_connections: 16,
        max_connections_per_address: 16,
        shutdown_grace: Duration::from_secs(10),
    }
}

struct TestServer {
    addr: std::net::SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<ServeOutcome>,
    /// Tells the test a `/slow` request has reached its handler.
    entered: mpsc::UnboundedReceiver<()>,
    /// Lets every waiting `/slow` handler finish.
    release: Arc<Notify>,
}

async fn start(limits: ServerLimits) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (entered_tx, entered) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let release_in = release.clone();
    let fast = warp::path!("fast").map(|| "fast".into_response());
    let slow = warp::path!("slow").then(move || {
        let entered_tx = entered_tx.clone();
        let release = release_in.clone();
        async move {
            let _ = entered_tx.send(());
            release.notified().await;
            "slow done".into_response()
        }
    });
    let upload = warp::path!("upload")
        .and(warp::body::bytes())
        .map(|b: warp::hyper::body::Bytes| format!("{} bytes", b.len()).into_response());
    let routes = fast
        .or(slow)
        .unify()
        .or(upload)
        .unify()
        .recover(identity_box::api::error::recover)
        .unify();
    let stop = CancellationToken::new();
    let task = tokio::spawn(serve(listener, routes, limits, stop.clone()));
    TestServer {
        addr,
        stop,
        task,
        entered,
        release,
    }
}

/// Reads until the peer closes (or resets) the connection, within `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server should have closed the connection");
    out
}

const GET_FAST: &[u8] = b"GET /fast HTTP/1.1\r\nHost: localhost\r\n\r\n";

async fn read_one_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if out.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_client_sending_headers_too_slowly_is_disconnected() {
    let server = start(ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /fast HTTP/1.1\r\nHost: loc")
        .await
        .unwrap();
    let got = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"));

    // A keep-alive connection that sends nothing after its request is closed the same way.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(GET_FAST).await.unwrap();
    assert!(
        read_one_response(&mut stream)
            .await
            .starts_with("HTTP/1.1 200")
    );
    read_until_closed(&mut stream, Duration::from_secs(10)).await;
    server.stop.cancel();
    server.task.await.unwrap();
}

#[tokio::test]
async fn a_stalled_body_hits_the_idle_timeout() {
    let server = start(ServerLimits {
        idle_timeout: Duration::from_millis(300),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    let got = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(!String::from_utf8_lossy(&got).contains("bytes"), "{got:?}");

    // A complete upload on a fresh connection is served.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .unwrap();
    assert!(read_one_response(&mut stream).await.ends_with("3 bytes"));
    server.stop.cancel();
    server.task.await.unwrap();
}

/// One byte just before each idle period ends kept a connection for ever; now the body must
/// keep up its pace, and the client learns why it was cut off.
#[tokio::test]
async fn a_trickling_body_is_cut_off_with_408() {
    let server = start(ServerLimits {
        body_pace: BodyPace {
            initial: Duration::from_millis(400),
            min_rate: 1024,
            max: Duration::from_secs(60),
        },
        idle_timeout: Duration::from_secs(5),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n")
        .await
        .unwrap();
    // A byte every 150 ms, far inside the idle timeout (which alone would let this go on for
    // ever), far below 1 KiB a second. (It stops before the pace runs out, so that no unread
    // byte makes the closing box reset the connection before the test reads the answer.)
    for _ in 0..3 {
        stream.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let got =
        String::from_utf8(read_until_closed(&mut stream, Duration::from_secs(10)).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains(r#""error":"request_timeout""#), "{got}");
    assert!(!got.contains("bytes"), "{got}");

    // A body that keeps its pace is served, although it takes longer than the initial time.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 8000\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..8 {
        stream.write_all(&[b'y'; 1000]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(read_one_response(&mut stream).await.ends_with("8000 bytes"));
    server.stop.cancel();
    server.task.await.unwrap();
}

#[tokio::test]
async fn connections_over_the_cap_get_503() {
    let server = start(ServerLimits {
        max_connections: 1,
        max_connections_per_address: 1,
        ..limits()
    })
    .await;
    // The first connection stays open (keep-alive) and holds the only slot.
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first.write_all(GET_FAST).await.unwrap();
    assert!(
        read_one_response(&mut first)
            .await
            .starts_with("HTTP/1.1 200")
    );

    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second.write_all(GET_FAST).await.unwrap();
    let got =
        String::from_utf8(read_until_closed(&mut second, Duration::from_secs(10)).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains(r#""error":"busy""#), "{got}");
    server.stop.cancel();
    server.task.await.unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut server = start(limits()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    server.entered.recv().await.unwrap();
    server.stop.cancel();
    // The server is draining: it must not end while the request is in flight.
    tokio::task::yield_now().await;
    assert!(!server.task.is_finished());
    server.release.notify_waiters();
    let got =
        String::from_utf8(read_until_closed(&mut stream, Duration::from_secs(10)).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.ends_with("slow done"), "{got}");
    let outcome = server.task.await.unwrap();
    assert!(outcome.drained);
    // After the drain nothing listens any more.
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let mut server = start(ServerLimits {
        shutdown_grace: Duration::from_millis(200),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    server.entered.recv().await.unwrap();
    server.stop.cancel();
    // The handler is never released: the server must still stop, and say it did not drain.
    let outcome = tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("serve must return after the grace period")
        .unwrap();
    assert!(!outcome.drained);
}
