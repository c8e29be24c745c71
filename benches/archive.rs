//! Archives (issue 6): download throughput of a large archive from the daemon beside the same
//! bytes served as a static file by the same server code (`api::server::serve` with
//! `warp::fs::file`, in this process); the daemon's RSS growth during downloads of a 1 MiB and a
//! 64 MiB archive; and `archive::read` (what `identity-box verify` runs) on a 64 MiB archive.
//! Prints a Markdown table for BENCHMARKS.md; asserts nothing.
//!
//! `cargo bench --bench archive`
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use identity_box::api::server::{ServerLimits, serve};
use identity_box::backup::archive::{self, Inputs, Plan};
use identity_box::client::Client;
use identity_box::clock::SystemClock;
use identity_box::crypto::{self, BoxKeys, BoxSeed, b64u};
use serde_json::json;

const SMALL: usize = 1024 * 1024;
const LARGE: usize = 64 * 1024 * 1024;

/// Reads a whole HTTP/1.1 response (Connection: close) and returns the body's length.
fn download(addr: SocketAddr, path: &str) -> u64 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    let mut head = Vec::new();
    let mut in_body = false;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if in_body {
            total += n as u64;
        } else {
            head.extend_from_slice(&buf[..n]);
            if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                assert!(
                    head.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(&head)
                );
                total += (head.len() - i - 4) as u64;
                in_body = true;
            }
        }
    }
    total
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Downloads `path` while sampling the daemon's RSS; (seconds, bytes, RSS before, max RSS during).
fn watched(daemon: &common::Daemon, path: &str) -> (f64, u64, u64, u64) {
    let pid = daemon.child.id();
    let before = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                peak.fetch_max(rss_kib(pid), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let t = Instant::now();
    let n = download(daemon.addr, path);
    let secs = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    (secs, n, before, peak.load(Ordering::SeqCst))
}

fn ticket(phone: &mut Client, backup_id: &str) -> String {
    phone
        .call_json("backup.archive_ticket", json!({ "backup_id": backup_id }))
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    // Room for a 64 MiB bundle: base64url in JSON, sealed, base64url again in the envelope.
    let config = common::config_file(
        dir.path(),
        "[http]\nmax_body_bytes = 134217728\n[backup]\nmax_bundle_bytes = 67108864\n",
    );
    let daemon = common::Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let mut phone = Client::pair(&daemon.startup_uri(), "bench", Arc::new(SystemClock)).unwrap();
    let did = phone.create_identity("Alice").unwrap().did;
    phone.enable_backup().unwrap();
    let id = phone.state().backup.as_ref().unwrap().backup_id.clone();
    let put = |phone: &mut Client, size: usize| {
        let bundle: Vec<u8> = (0..size).map(|i| (i * 31 + 7) as u8).collect();
        phone
            .call_json(
                "backup.put",
                json!({"backup_id": id, "bundle": b64u(&bundle), "identities": [did]}),
            )
            .unwrap();
    };

    // RSS while downloading a 1 MiB and a 64 MiB archive (each after its own upload).
    put(&mut phone, SMALL);
    let url = ticket(&mut phone, &id);
    let (_, small_n, small_before, small_peak) = watched(&daemon, &url);
    put(&mut phone, LARGE);
    let url = ticket(&mut phone, &id);
    let (archive_secs, large_n, large_before, large_peak) = watched(&daemon, &url);

    // The same bytes as a static file, served by the same server code in this process.
    let url = ticket(&mut phone, &id);
    let file = dir.path().join("same.idbox");
    {
        let mut f = std::fs::File::create(&file).unwrap();
        let mut s = TcpStream::connect(daemon.addr).unwrap();
        write!(
            s,
            "GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let i = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        f.write_all(&raw[i + 4..]).unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let static_addr = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    {
        use warp::Filter;
        let filter = warp::path!("same.idbox")
            .and(warp::fs::file(file.clone()))
            .recover(|_| async { Ok::<_, std::convert::Infallible>(warp::reply()) })
            .map(|r| Box::new(r) as Box<dyn warp::Reply>);
        let limits = ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            body_pace: identity_box::config::HttpConfig::default().body_pace(),
            idle_timeout: Duration::from_secs(60),
            max_connections: 64,
            max_connections_per_address: 64,
            shutdown_grace: Duration::from_secs(1),
        };
        rt.spawn(serve(listener, filter, limits, shutdown.clone()));
    }
    // Warm both once, then time each three times, alternating; keep the median.
    download(static_addr, "/same.idbox");
    let mut archive_runs = vec![archive_secs];
    let mut static_runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(download(static_addr, "/same.idbox"), large_n);
        static_runs.push(t.elapsed().as_secs_f64());
        let url = ticket(&mut phone, &id);
        let t = Instant::now();
        assert_eq!(download(daemon.addr, &url), large_n);
        archive_runs.push(t.elapsed().as_secs_f64());
    }
    shutdown.cancel();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let archive_rate = large_n as f64 / median(&mut archive_runs) / 1e6;
    let static_rate = large_n as f64 / median(&mut static_runs) / 1e6;

    // `verify` of a 64 MiB archive, from memory (the file system's speed aside).
    let bundle: Vec<u8> = (0..LARGE).map(|i| (i * 13) as u8).collect();
    let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([1; 32]));
    let plan = Plan::new(
        &Inputs {
            box_name: "Bench".into(),
            backup_id: "0123456789abcdef0123456789abcdef".into(),
            version: 1,
            created: 0,
            bundle_len: bundle.len() as u64,
            bundle_sha256: crypto::sha256(&bundle),
            sealed_keys: vec![0; 4096 + 48],
            documents: Vec::new(),
        },
        &keys,
    )
    .unwrap();
    let mut bytes = Vec::new();
    plan.write_to(&bundle, &mut bytes).unwrap();
    let mut verify_runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            archive::read(&bytes[..], false).unwrap();
            t.elapsed().as_secs_f64()
        })
        .collect();
    let verify_rate = bytes.len() as f64 / median(&mut verify_runs) / 1e6;

    println!("| measurement | result | target |");
    println!("|---|---|---|");
    println!(
        "| download of a {:.1} MB archive (median of 4) vs the same bytes as a static file (median of 3) | {archive_rate:.0} MB/s vs {static_rate:.0} MB/s ({:.0}%) | ≥ 80% |",
        large_n as f64 / 1e6,
        archive_rate / static_rate * 100.0
    );
    println!(
        "| daemon RSS growth during the download: 1 MiB archive ({small_n} B) / 64 MiB archive | {} KiB / {} KiB (difference {} KiB) | difference ≤ 2 MiB |",
        small_peak.saturating_sub(small_before),
        large_peak.saturating_sub(large_before),
        (large_peak.saturating_sub(large_before)) as i64
            - (small_peak.saturating_sub(small_before)) as i64
    );
    println!(
        "| `archive::read` (verify) of a 64 MiB archive, median of 5 | {verify_rate:.0} MB/s | ≥ 200 MB/s |"
    );
}
