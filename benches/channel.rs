//! The channel's cost (issue 3): authenticated `box.info` round trips per second and their
//! latency at 32 concurrent clients, `/health` at the same load for comparison, and the pairing
//! handshake's latency. Prints a Markdown table for BENCHMARKS.md; asserts nothing.
//!
//! `cargo bench --bench channel` (client and daemon share the machine's cores).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use identity_box::client::Client;
use identity_box::clock::SystemClock;
use serde_json::json;

const CLIENTS: usize = 32;
const SECONDS: u64 = 10;
const PAIRINGS: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `work` in `CLIENTS` threads for `SECONDS`; returns (requests/s, sorted latencies).
fn load<F>(make: impl Fn() -> F) -> (f64, Vec<Duration>)
where
    F: FnMut() + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut work = make();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    work();
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    (all.len() as f64 / SECONDS as f64, all)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_file(
        dir.path(),
        "[http]\npair_per_minute = 100000\ndevice_per_minute = 10000000\n",
    );
    let daemon = common::Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let clock = Arc::new(SystemClock);
    let mut owner = Client::pair(&daemon.startup_uri(), "bench owner", clock.clone()).unwrap();
    let state = dir.path().join("owner.json");
    owner.save(&state).unwrap();

    // Pairing handshake latency (GET /v1/info + POST /v1/pair, as a phone does it).
    let mut pair_times = Vec::new();
    for i in 0..PAIRINGS {
        let uri = owner.call_json("pairing.open", json!({})).unwrap()["uri"]
            .as_str()
            .unwrap()
            .to_owned();
        let t = Instant::now();
        Client::pair(&uri, &format!("phone {i}"), clock.clone()).unwrap();
        pair_times.push(t.elapsed());
    }
    pair_times.sort();

    let (rpc_rps, rpc_lat) = load(|| {
        let mut c = Client::load(&state, Arc::new(SystemClock)).unwrap();
        move || {
            c.call_json("box.info", json!({})).unwrap();
        }
    });
    let url = format!("http://{}/health", daemon.addr);
    let (health_rps, health_lat) = load(|| {
        let agent = ureq::AgentBuilder::new().build();
        let url = url.clone();
        move || {
            agent.get(&url).call().unwrap();
        }
    });

    println!("| measure | result | target |");
    println!("|---|---|---|");
    println!(
        "| authenticated `box.info` round trips/s, {CLIENTS} clients, {SECONDS} s | {rpc_rps:.0} | >= 3000 |"
    );
    println!(
        "| `box.info` latency p50 / p99 (ms) | {:.2} / {:.2} | p99 <= 15 |",
        percentile(&rpc_lat, 0.5),
        percentile(&rpc_lat, 0.99)
    );
    println!("| `/health` requests/s, same clients and load | {health_rps:.0} | - |");
    println!(
        "| `/health` latency p50 / p99 (ms) | {:.2} / {:.2} | - |",
        percentile(&health_lat, 0.5),
        percentile(&health_lat, 0.99)
    );
    println!(
        "| channel cost: `box.info` rate / `/health` rate | {:.2} | - |",
        rpc_rps / health_rps
    );
    println!(
        "| pairing handshake latency p50 / max (ms), {PAIRINGS} pairings | {:.2} / {:.2} | - |",
        percentile(&pair_times, 0.5),
        percentile(&pair_times, 1.0)
    );
}
