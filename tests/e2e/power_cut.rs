//! Nothing acknowledged is lost (protocol §5, ARCHITECTURE's durability rule): the daemon is killed
//! with SIGKILL at random moments while a phone streams `backup.put`; after every kill the
//! database passes `PRAGMA integrity_check`, and every version the box acknowledged is there
//! with the bytes that were sent (of those retention keeps: the newest 1,000). `IDBOX_KILL_ROUNDS` sets the number of kills (default 200).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::Daemon;
use identity_box::client::Client;
use identity_box::clock::SystemClock;
use identity_box::crypto::{self, BackupSecrets, Secret32, b64u};
use serde_json::json;

/// A random number below `n` (the OS's generator; no seed to manage).
fn random_below(n: u64) -> u64 {
    let bytes = crypto::random_nonce();
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) % n
}

#[test]
fn acknowledged_versions_survive_sigkill() {
    let rounds: usize = std::env::var("IDBOX_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    // Keep as many versions as the box allows; the newest KEEP must all be there.
    const KEEP: u64 = 1000;
    let env = [("IDENTITY_BOX_BACKUP__KEEP_VERSIONS", "1000")];
    let start = || Daemon::start_with_env(dir.path(), &[], &env).expect_ready();

    let daemon = start();
    let mut phone = Client::pair(&daemon.startup_uri(), "Phone", Arc::new(SystemClock)).unwrap();
    let secrets = BackupSecrets::from_entropy(&Secret32::new([5; 32]));
    phone
        .call_json(
            "backup.enable",
            json!({"backup_id": secrets.backup_id, "recipient": b64u(&secrets.recipient_public())}),
        )
        .unwrap();
    let mut daemon = Some(daemon);
    let mut acknowledged: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    let db = identity_box::store::database_path(dir.path());
    let mut killed_mid_stream = 0;

    for round in 0..rounds {
        let mut d = daemon.take().unwrap_or_else(start);
        phone.prefer_addrs(vec![d.addr.to_string()]);
        let id = secrets.backup_id.clone();
        // A stream of puts of varied sizes until the box stops answering.
        let streamer = std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut n = 0u64;
            loop {
                n += 1;
                let size = 64 + random_below(64 * 1024) as usize;
                let bundle: Vec<u8> = (0..size).map(|i| (i as u64 ^ n) as u8).collect();
                match phone.call_json(
                    "backup.put",
                    json!({"backup_id": id, "bundle": b64u(&bundle)}),
                ) {
                    Ok(stored) => {
                        acked.push((stored["version"].as_u64().unwrap(), crypto::sha256(&bundle)))
                    }
                    Err(_) => return (phone, acked),
                }
            }
        });
        std::thread::sleep(Duration::from_millis(1 + random_below(40)));
        d.child.kill().unwrap();
        d.child.wait().unwrap();
        let (returned, acked) = streamer.join().unwrap();
        phone = returned;
        if !acked.is_empty() {
            killed_mid_stream += 1;
        }
        for (version, hash) in acked {
            assert!(
                acknowledged.insert(version, hash).is_none(),
                "version {version} acknowledged twice"
            );
        }

        // The box is off: look at its database directly.
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        let mut stmt = conn
            .prepare("SELECT version, bundle, bundle_sha256 FROM backup_versions")
            .unwrap();
        let stored: BTreeMap<u64, ([u8; 32], [u8; 32])> = stmt
            .query_map([], |r| {
                let bundle: Vec<u8> = r.get(1)?;
                let hash: Vec<u8> = r.get(2)?;
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    (crypto::sha256(&bundle), hash.try_into().unwrap()),
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let newest = stored.keys().max().copied().unwrap_or(0);
        assert!(
            stored.len() as u64 <= KEEP,
            "retention kept {}",
            stored.len()
        );
        for (version, hash) in acknowledged.range(newest.saturating_sub(KEEP - 1)..) {
            let Some((actual, recorded)) = stored.get(version) else {
                panic!("round {round}: acknowledged version {version} is lost");
            };
            assert_eq!(actual, hash, "round {round}: version {version} is altered");
            assert_eq!(recorded, hash, "round {round}: version {version}'s hash");
        }
    }
    assert!(
        acknowledged.len() >= rounds / 2,
        "too few puts were acknowledged ({}) for the test to mean much",
        acknowledged.len()
    );
    assert!(killed_mid_stream > 0);
    eprintln!(
        "{rounds} kills, {} acknowledged versions, all present and intact",
        acknowledged.len()
    );
}
