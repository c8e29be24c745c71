//! Identities (issue 4): `identity.create` latency including the durable commit, 1,000
//! identities created and listed, local resolution latency (channel and public route), and the
//! daemon's resident memory with its IPFS node, idle and after the 1,000 identities. Prints a
//! Markdown table for BENCHMARKS.md; asserts nothing.
//!
//! `cargo bench --bench identity` (client and daemon share the machine's cores).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use identity_box::client::Client;
use identity_box::clock::SystemClock;
use serde_json::json;

const IDENTITIES: usize = 1000;
const RESOLVES: usize = 2000;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_file(
        dir.path(),
        "[http]\ndevice_per_minute = 10000000\nresolve_per_minute = 10000000\n",
    );
    let daemon = common::Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let pid = daemon.child.id();
    let mut phone = Client::pair(&daemon.startup_uri(), "bench", Arc::new(SystemClock)).unwrap();
    // Let start-up work (republish, first connections) settle before the idle reading.
    phone.call_json("box.info", json!({})).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = rss_mib(pid);

    let mut create = Vec::with_capacity(IDENTITIES);
    let mut dids = Vec::with_capacity(IDENTITIES);
    let (_, create_all) = timed(|| {
        for i in 0..IDENTITIES {
            let (result, took) = timed(|| phone.create_identity(&format!("identity {i}")).unwrap());
            create.push(took);
            dids.push(result.did);
        }
    });
    create.sort();

    let mut list = Vec::new();
    for _ in 0..20 {
        let (result, took) = timed(|| phone.call_json("identity.list", json!({})).unwrap());
        assert_eq!(result["identities"].as_array().unwrap().len(), IDENTITIES);
        list.push(took);
    }
    list.sort();

    let mut resolve = Vec::with_capacity(RESOLVES);
    let mut public = Vec::with_capacity(RESOLVES);
    for i in 0..RESOLVES {
        let did = &dids[(i * 7919) % IDENTITIES];
        let (_, took) = timed(|| {
            phone
                .call_json("did.resolve", json!({ "did": did }))
                .unwrap()
        });
        resolve.push(took);
        let (response, took) = timed(|| daemon.get(&format!("/1.0/identifiers/{did}")));
        assert_eq!(response.status, 200);
        public.push(took);
    }
    resolve.sort();
    public.sort();
    std::thread::sleep(Duration::from_secs(2));
    let loaded_rss = rss_mib(pid);

    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| `identity.create` latency p50 / p99 (ms), {IDENTITIES} in a row, durable | {:.2} / {:.2} | p50 <= 20 |",
        percentile(&create, 0.5),
        percentile(&create, 0.99)
    );
    println!(
        "| {IDENTITIES} identities created (s) | {:.1} | - |",
        create_all.as_secs_f64()
    );
    println!(
        "| `identity.list` of {IDENTITIES} identities p50 (ms) | {:.2} | - |",
        percentile(&list, 0.5)
    );
    println!(
        "| local `did.resolve` through the channel p50 / p99 (ms) | {:.2} / {:.2} | p50 <= 2 |",
        percentile(&resolve, 0.5),
        percentile(&resolve, 0.99)
    );
    println!(
        "| local `GET /1.0/identifiers/…` p50 / p99 (ms), new connection each | {:.2} / {:.2} | - |",
        percentile(&public, 0.5),
        percentile(&public, 0.99)
    );
    println!("| daemon RSS idle, IPFS node running (MiB) | {idle_rss:.1} | <= 40 |");
    println!("| daemon RSS after {IDENTITIES} identities (MiB) | {loaded_rss:.1} | - |");
}
