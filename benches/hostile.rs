//! Hostile load (issue 16): what a phone gets from the box while strangers on the LAN do their
//! worst with plain TCP, against the same without them, in one run:
//! - 64 connections from 8 addresses, each declaring a 16 MiB channel request from no device,
//!   again and again (the box answers `413` before reading it);
//! - 16 connections from 2 addresses naming the phone's device id (seen on the network) in
//!   `Idbox-Device`, declaring 16 MiB and sending one byte a second (they hold the body budget
//!   until the body pace ends them with `408`);
//! - 32 connections from one address that send nothing (the header timeout ends them).
//!
//! Measured: authenticated `box.info` calls a second (one phone, one call at a time), the
//! latency of `GET /health` probed every 50 ms, and the daemon's peak RSS. Prints a Markdown
//! table for BENCHMARKS.md; asserts nothing.
//!
//! `cargo bench --bench hostile`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use identity_box::client::Client;
use identity_box::clock::SystemClock;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PHASE: Duration = Duration::from_secs(25);

/// What one phase measured.
struct Phase {
    calls_per_sec: f64,
    health: Vec<Duration>,
    health_failed: usize,
    peak_rss: u64,
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn measure(daemon: &common::Daemon, phone: &mut Client) -> Phase {
    // The peak from now on (VmHWM restarts at the current RSS).
    std::fs::write(format!("/proc/{}/clear_refs", daemon.child.id()), "5").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let addr = daemon.addr;
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut times = Vec::new();
            let mut failed = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = health(addr);
                if ok {
                    times.push(t.elapsed());
                } else {
                    failed += 1;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (times, failed)
        })
    };
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < PHASE {
        phone.call_json("box.info", json!({})).unwrap();
        calls += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (mut health, health_failed) = prober.join().unwrap();
    health.sort();
    Phase {
        calls_per_sec: calls as f64 / secs,
        health,
        health_failed,
        peak_rss: status_kib(daemon.child.id(), "VmHWM:") * 1024,
    }
}

/// `GET /health` on a fresh connection: whether it answered 200.
fn health(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// Counts of what the strangers got.
#[derive(Default)]
struct Tally {
    refused: AtomicU64,
    cut_off: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

async fn connect_from(source: [u8; 4], to: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(to).await
}

/// Reads the status code of an answer, or `None` if the connection closed without one.
async fn status(stream: &mut tokio::net::TcpStream) -> Option<u16> {
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn count(tally: &Tally, status: Option<u16>) {
    let counter = match status {
        Some(413) => &tally.refused,
        Some(408) => &tally.cut_off,
        Some(503) => &tally.busy,
        _ => &tally.other,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Starts the strangers on `rt`; they go on until `stop`.
fn strangers(
    rt: &tokio::runtime::Runtime,
    to: SocketAddr,
    device_id: &str,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let head = |device: &str| {
        format!(
            "POST /v1/rpc HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             {device}Content-Length: {}\r\n\r\n{{\"v\":1,",
            16 << 20
        )
    };
    for i in 0..64u8 {
        let (stop, tally, head) = (stop.clone(), tally.clone(), head(""));
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = connect_from([127, 0, 0, 10 + i % 8], to).await else {
                    continue;
                };
                if s.write_all(head.as_bytes()).await.is_ok() {
                    count(&tally, status(&mut s).await);
                }
            }
        });
    }
    for i in 0..16u8 {
        let (stop, tally) = (stop.clone(), tally.clone());
        let head = head(&format!("Idbox-Device: {device_id}\r\n"));
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(s) = connect_from([127, 0, 0, 20 + i % 2], to).await else {
                    continue;
                };
                let (mut read, mut write) = s.into_split();
                if write.write_all(head.as_bytes()).await.is_err() {
                    continue;
                }
                let trickle = async {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if write.write_all(b" ").await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                let mut head = [0u8; 12];
                let answer = tokio::select! {
                    r = read.read_exact(&mut head) => r.ok().and_then(|_| {
                        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
                    }),
                    () = trickle => None,
                };
                count(&tally, answer);
            }
        });
    }
    for _ in 0..32 {
        let stop = stop.clone();
        rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = connect_from([127, 0, 0, 30], to).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink).await;
            }
        });
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    // The phone's own rate limit out of the way: the figure is the box's, not the limiter's.
    let config = common::config_file(dir.path(), "[http]\ndevice_per_minute = 100000000\n");
    let daemon = common::Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let mut phone = Client::pair(&daemon.startup_uri(), "bench", Arc::new(SystemClock)).unwrap();
    let device_id = phone.state().device.device_id.clone();
    for _ in 0..200 {
        phone.call_json("box.info", json!({})).unwrap();
    }

    let quiet = measure(&daemon, &mut phone);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    strangers(&rt, daemon.addr, &device_id, stop.clone(), tally.clone());
    // Let the slow bodies take the budget and the idle connections their slots.
    std::thread::sleep(Duration::from_secs(3));
    let hostile = measure(&daemon, &mut phone);
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(1));

    println!(
        "| phase | `box.info` calls/s | `/health` p50 / p99 / max (ms) | `/health` failed | peak RSS |"
    );
    println!("|---|---|---|---|---|");
    for (name, p) in [("quiet", &quiet), ("hostile", &hostile)] {
        println!(
            "| {name} | {:.0} | {} / {} / {} ({} probes) | {} | {} MiB |",
            p.calls_per_sec,
            ms(percentile(&p.health, 0.5)),
            ms(percentile(&p.health, 0.99)),
            ms(p.health.last().copied().unwrap_or_default()),
            p.health.len(),
            p.health_failed,
            p.peak_rss >> 20
        );
    }
    println!(
        "\nratio hostile/quiet: box.info {:.2}, /health p99 {:.2}",
        hostile.calls_per_sec / quiet.calls_per_sec,
        percentile(&hostile.health, 0.99).as_secs_f64()
            / percentile(&quiet.health, 0.99).as_secs_f64().max(1e-9)
    );
    println!(
        "strangers' answers during the run: {} refused (413), {} cut off (408), {} busy (503), {} other",
        tally.refused.load(Ordering::Relaxed),
        tally.cut_off.load(Ordering::Relaxed),
        tally.busy.load(Ordering::Relaxed),
        tally.other.load(Ordering::Relaxed)
    );
}
