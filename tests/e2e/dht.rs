//! What a peer on the IPFS network can do to the box's DHT record store (protocol §9, "The DHT
//! record store"): a real daemon, an attacking node and an outside resolver in the test, all on
//! 127.0.0.1.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use identity_box::identity::Did;
use identity_box::ipfs::record::{self, RecordInfo};
use identity_box::ipfs::{IpnsName, Node};
use serde_json::{Value, json};

use crate::common::{Daemon, admin_command, ipfs_addrs, owner, test_node};

/// What the records `node` finds for `name` say, each checked as a resolver would.
async fn found(node: &Node, name: &IpnsName) -> Vec<Result<RecordInfo, String>> {
    let now = chrono::Utc::now().timestamp();
    node.find_records(name, Duration::from_secs(2))
        .await
        .iter()
        .map(|bytes| record::verify(name, bytes, now).map_err(|e| e.to_string()))
        .collect()
}

/// Finds `name`'s record of sequence `seq` through `node`, or fails after a deadline; returns
/// the record's bytes.
async fn record_of(node: &Node, name: &IpnsName, seq: u64) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let now = chrono::Utc::now().timestamp();
    loop {
        let records = node.find_records(name, Duration::from_secs(2)).await;
        if let Some(r) = records
            .into_iter()
            .find(|r| record::verify(name, r, now).is_ok_and(|i| i.seq == seq))
        {
            return r;
        }
        assert!(Instant::now() < deadline, "{name}: no record of seq {seq}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The box's count of peers' records kept and refused (`identity-box status --json`).
fn dht_counts(data_dir: &Path) -> (u64, u64) {
    let out = admin_command(&["status", "--json"], data_dir);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        status["ipfs"]["dht_peer_records"].as_u64().unwrap(),
        status["ipfs"]["dht_refused"].as_u64().unwrap(),
    )
}

/// Polls the box's DHT counts until `done` holds for them (at most `secs`), and returns them.
fn wait_for_counts(
    data_dir: &Path,
    secs: u64,
    what: &str,
    done: impl Fn(u64, u64) -> bool,
) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (kept, refused) = dht_counts(data_dir);
        if done(kept, refused) {
            return (kept, refused);
        }
        assert!(
            Instant::now() < deadline,
            "{what} (the box saw {kept} kept + {refused} refused)"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn name_of(did: &str) -> IpnsName {
    *did.parse::<Did>().unwrap().ipns_name()
}

#[test]
fn a_peer_putting_old_junk_and_thousands_of_records_changes_nothing_outsiders_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let box_addr = ipfs_addrs(dir.path()).remove(0);
    let mut phone = owner(&daemon);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let attacker_dir = tempfile::tempdir().unwrap();
    let attacker = rt.block_on(test_node(attacker_dir.path(), &box_addr, 66));

    // Alice's DID at sequence 0, whose record the attacker keeps; then its update.
    let alice = phone.create_identity("Alice").unwrap();
    let name = name_of(&alice.did);
    let old = rt.block_on(record_of(&attacker, &name, 0));
    let updated = phone
        .call_json(
            "identity.update",
            json!({ "did": alice.did, "services": [{ "id": "#inbox",
                "type": "DIDCommMessaging", "serviceEndpoint": "https://alice.example/inbox" }] }),
        )
        .unwrap();
    let current = phone
        .call_json("did.resolve", json!({ "did": alice.did }))
        .unwrap();
    assert_eq!(current["metadata"]["seq"], json!(1), "{updated}");
    let current_value = format!("/ipfs/{}", current["metadata"]["cid"].as_str().unwrap());

    // The attack: the old record replayed, junk under Alice's key, 2,000 junk records under
    // made-up names, and 100 well-signed records of fresh names (more than one peer's share).
    let junk_names: Vec<IpnsName> = (0..2_100u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            seed[31] = 0xa5;
            record::name_of_seed(&seed)
        })
        .collect();
    let mut puts: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (name.record_key(), old),
        (name.record_key(), b"not a record".to_vec()),
    ];
    for (i, n) in junk_names.iter().enumerate().take(2_000) {
        puts.push((n.record_key(), format!("junk {i}").into_bytes()));
    }
    let eol = chrono::Utc::now().timestamp() + 3_600;
    for i in 2_000..2_100u32 {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_be_bytes());
        seed[31] = 0xa5;
        let value = record::sign(&seed, "/ipfs/bafyjunk", 0, eol).unwrap();
        puts.push((junk_names[i as usize].record_key(), value));
    }
    let total = puts.len() as u64;
    rt.block_on(
        futures_util::stream::iter(puts).for_each_concurrent(32, |(key, value)| {
            let attacker = attacker.clone();
            async move {
                let _ = attacker.put_raw(key, value).await;
            }
        }),
    );
    // Every put reached the box: it kept one peer's share of the valid records (64) and
    // refused the rest.
    let counts = wait_for_counts(dir.path(), 60, "not every put reached the box", |k, r| {
        k + r >= total
    });
    assert_eq!(counts, (64, total - 64));
    rt.block_on(attacker.stop());

    // An outside node, which knows only the box, resolves Alice's current record: every record
    // it is given is the box's own, of sequence 1.
    let outside_dir = tempfile::tempdir().unwrap();
    let outside = rt.block_on(test_node(outside_dir.path(), &box_addr, 77));
    rt.block_on(record_of(&outside, &name, 1));
    let seen = rt.block_on(found(&outside, &name));
    assert!(!seen.is_empty());
    for r in &seen {
        let info = r.as_ref().unwrap();
        assert_eq!((info.seq, info.value.as_str()), (1, current_value.as_str()));
    }
    // A junk name the attacker put resolves to nothing from the box.
    assert!(rt.block_on(found(&outside, &junk_names[0])).is_empty());

    // The box's store still has room for its own: a new identity is published.
    let bob = phone.create_identity("Bob").unwrap();
    rt.block_on(record_of(&outside, &name_of(&bob.did), 0));
    // And the box itself still answers with Alice's current document.
    let again = phone
        .call_json("did.resolve", json!({ "did": alice.did }))
        .unwrap();
    assert_eq!(again["metadata"]["seq"], json!(1));
    assert_eq!(again["document"], current["document"]);
    rt.block_on(outside.stop());
}

/// A deleted DID's last record (deactivated) is the box's to keep, also after a restart: the
/// box puts it out again, and a peer replaying the DID's older, live record changes nothing.
#[test]
fn a_deleted_did_stays_deleted_after_a_restart_whatever_a_peer_replays() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let attacker_dir = tempfile::tempdir().unwrap();
    let attacker = rt.block_on(test_node(
        attacker_dir.path(),
        &ipfs_addrs(dir.path()).remove(0),
        66,
    ));
    let carol = phone.create_identity("Carol").unwrap();
    let name = name_of(&carol.did);
    let live = rt.block_on(record_of(&attacker, &name, 0));
    phone.delete_identity(&carol.did).unwrap();
    rt.block_on(record_of(&attacker, &name, 1));
    rt.block_on(attacker.stop());

    // The box starts again (its DHT store, in memory, starts empty).
    daemon.terminate();
    drop(daemon);
    let daemon = Daemon::ready(dir.path(), &[]);
    let box_addr = ipfs_addrs(dir.path()).remove(0);
    let attacker_dir = tempfile::tempdir().unwrap();
    let attacker = rt.block_on(test_node(attacker_dir.path(), &box_addr, 66));
    // The box has put the deleted DID's last record out again ...
    rt.block_on(record_of(&attacker, &name, 1));
    // ... and refuses the older one replayed.
    let (_, refused_before) = dht_counts(dir.path());
    rt.block_on(attacker.put_raw(name.record_key(), live))
        .unwrap();
    wait_for_counts(
        dir.path(),
        30,
        "the replayed record never reached the box",
        |_, refused| refused != refused_before,
    );
    rt.block_on(attacker.stop());

    let outside_dir = tempfile::tempdir().unwrap();
    let outside = rt.block_on(test_node(outside_dir.path(), &box_addr, 77));
    rt.block_on(record_of(&outside, &name, 1));
    let seen = rt.block_on(found(&outside, &name));
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|r| r.as_ref().is_ok_and(|i| i.seq == 1)),
        "{seen:?}"
    );
    rt.block_on(outside.stop());
    drop(daemon);
}
