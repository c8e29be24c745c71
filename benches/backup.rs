//! Backups (issue 5): `backup.put` latency of 16 KiB bundles (durable before the reply),
//! throughput of 1 MiB bundles (median of five rounds), and the time from an identity change to the box's new durable
//! version (the version is written before `identity.update` answers, so its round trip bounds
//! it from above). Prints a Markdown table for BENCHMARKS.md; asserts nothing.
//!
//! `cargo bench --bench backup` (client and daemon share the machine's cores).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/e2e/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use identity_box::client::Client;
use identity_box::clock::SystemClock;
use identity_box::crypto::b64u;
use serde_json::json;

const SMALL: usize = 16 * 1024;
const SMALL_PUTS: usize = 500;
const LARGE: usize = 1024 * 1024;
const LARGE_PUTS: usize = 60;
/// The 1 MiB puts run in rounds; the median round is reported (with the slowest and fastest), so
/// that one burst of load from elsewhere on a shared machine does not decide the figure.
const LARGE_ROUNDS: usize = 5;
const CHANGES: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// CPU seconds (user + system) the process `pid` has used.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which ends with ')': utime is the 14th field, stime 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_file(dir.path(), "[http]\ndevice_per_minute = 10000000\n");
    let daemon = common::Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let mut phone = Client::pair(&daemon.startup_uri(), "bench", Arc::new(SystemClock)).unwrap();
    let did = phone.create_identity("Alice").unwrap().did;
    phone.enable_backup().unwrap();
    let id = phone.state().backup.as_ref().unwrap().backup_id.clone();
    let put = |phone: &mut Client, size: usize, n: usize| {
        let bundle: Vec<u8> = (0..size).map(|i| (i * 31 + n) as u8).collect();
        let (r, took) = timed(|| {
            phone
                .call_json(
                    "backup.put",
                    json!({"backup_id": id, "bundle": b64u(&bundle), "identities": [did]}),
                )
                .unwrap()
        });
        assert!(r["version"].as_u64().is_some());
        took
    };

    let mut small: Vec<Duration> = (0..SMALL_PUTS).map(|n| put(&mut phone, SMALL, n)).collect();
    small.sort();
    let pid = daemon.child.id();
    // (MB/s end to end, box CPU seconds) per round.
    let mut rounds: Vec<(f64, f64)> = (0..LARGE_ROUNDS)
        .map(|_| {
            let cpu_before = cpu_secs(pid);
            let (_, took) = timed(|| {
                for n in 0..LARGE_PUTS {
                    put(&mut phone, LARGE, n);
                }
            });
            let box_cpu = cpu_secs(pid) - cpu_before;
            (
                (LARGE * LARGE_PUTS) as f64 / took.as_secs_f64() / 1e6,
                box_cpu,
            )
        })
        .collect();
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (throughput, box_cpu) = rounds[LARGE_ROUNDS / 2];
    let (slowest, fastest) = (rounds[0].0, rounds[LARGE_ROUNDS - 1].0);
    let box_rate = (LARGE * LARGE_PUTS) as f64 / box_cpu / 1e6;

    let keys = phone.state().identities[0].keys_param();
    let mut change: Vec<Duration> = (0..CHANGES)
        .map(|n| {
            let before = phone.call_json("backup.status", json!({})).unwrap()["backups"][0]
                ["latest_version"]
                .as_u64()
                .unwrap();
            let services = json!([{"id": "#s", "type": "Test", "serviceEndpoint": format!("https://example.org/{n}")}]);
            let (_, took) = timed(|| {
                phone
                    .call_json(
                        "identity.update",
                        json!({"did": did, "keys": keys, "services": services}),
                    )
                    .unwrap()
            });
            let after = phone.call_json("backup.status", json!({})).unwrap()["backups"][0]
                ["latest_version"]
                .as_u64()
                .unwrap();
            assert_eq!(after, before + 1, "the change made no version");
            took
        })
        .collect();
    change.sort();

    println!("| measurement | result | target |");
    println!("|---|---|---|");
    println!(
        "| `backup.put` 16 KiB, durable ({SMALL_PUTS} puts) | p50 {:.2} ms, p99 {:.2} ms | p99 ≤ 30 ms |",
        percentile(&small, 0.5),
        percentile(&small, 0.99)
    );
    println!(
        "| `backup.put` 1 MiB, end to end, median of {LARGE_ROUNDS} rounds of {LARGE_PUTS} puts | {throughput:.1} MB/s (rounds {slowest:.1}–{fastest:.1}) | ≥ 30 MB/s |"
    );
    println!(
        "| the box's own CPU time in the median round | {:.1} ms per MiB ({box_rate:.1} MB/s of box CPU) | - |",
        box_cpu * 1000.0 / LARGE_PUTS as f64
    );
    println!(
        "| identity change → new durable version (`identity.update` round trip, {CHANGES}) | p50 {:.2} ms, p99 {:.2} ms | p50 ≤ 50 ms |",
        percentile(&change, 0.5),
        percentile(&change, 0.99)
    );
}
