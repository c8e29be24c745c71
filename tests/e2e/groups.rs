//! One person, several devices (protocol §2 "Groups", §5 "Bundle format v2"), end to end: a
//! tablet linked to a phone shares its identities and backups, a lost phone is replaced from
//! the tablet without the words, the lost phone is revoked and the group key turns over, and
//! every bad link is refused with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Daemon, kind, member, owner};
use identity_box::backup::bundle::{self, Recipients};
use identity_box::backup::wire::SealedKeys;
use identity_box::client::{Client, LinkProgress};
use identity_box::crypto::{self, BackupSecrets, b64u, b64u_decode};
use identity_box::pairing::link::{LinkUri, comparison_code};
use identity_box::protocol::backup::{BackupFetch, BackupLatest, BackupPut, Fetched};
use identity_box::protocol::devices::{DevicesLinkFetch, DevicesList, DevicesRevoke};
use identity_box::protocol::identity::{IdentityList, IdentityUpdate, Service};
use identity_box::protocol::info::BoxInfo;

/// Links `new` into `existing`'s group through the whole exchange: the link QR, the claim,
/// the comparison code both show, the approval, the fetch.
fn link(existing: &mut Client, new: &mut Client) {
    let started = new.link_start().unwrap();
    assert_eq!(new.link_progress().unwrap(), LinkProgress::Waiting);
    let approval = existing.link_claim(&started.uri).unwrap();
    let LinkProgress::Claimed { comparison, .. } = new.link_progress().unwrap() else {
        panic!("the new device does not see the claim");
    };
    assert_eq!(comparison, approval.comparison, "both show the same code");
    existing.link_approve(&started.uri, &comparison).unwrap();
    assert!(matches!(
        new.link_progress().unwrap(),
        LinkProgress::Linked { .. }
    ));
}

fn newest(client: &mut Client) -> Fetched {
    let backup_id = client.state().backup.as_ref().unwrap().backup_id.clone();
    client
        .call(&BackupFetch {
            backup_id,
            version: None,
        })
        .unwrap()
}

fn latest_version(client: &mut Client) -> u64 {
    let backup_id = client.state().backup.as_ref().unwrap().backup_id.clone();
    client.call(&BackupLatest { backup_id }).unwrap().version
}

/// The group's identities on the box, sorted.
fn dids(client: &mut Client) -> Vec<String> {
    let mut dids: Vec<String> = client
        .call(&IdentityList {})
        .unwrap()
        .identities
        .into_iter()
        .map(|i| i.did)
        .collect();
    dids.sort();
    dids
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn a_tablet_shares_everything_replaces_a_lost_phone_and_the_group_key_turns_over() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut a = owner(&daemon);
    a.add_peer(
        "did:ipid:k51qzi5uqu5dk1kyu6njecex3t2bj2ll5hyt5xwd5wwywodzb1vh4ju6hqh1jd",
        "Bob",
    )
    .unwrap();
    let alice = a.create_identity("Alice").unwrap().did;
    let (words, first) = a.enable_backup().unwrap();
    let backup_id = a.state().backup.as_ref().unwrap().backup_id.clone();
    assert!(bundle::is_v2(&b64u_decode(&newest(&mut a).bundle).unwrap()));

    // A bundle v1, as the phone wrote before groups: it stays readable with the words.
    let secrets =
        BackupSecrets::from_entropy(&identity_box::client::mnemonic::parse(&words).unwrap());
    let v1_plain = serde_json::to_vec(&a.bundle()).unwrap();
    let v1 = a
        .put_bundle(
            &backup_id,
            b64u(&secrets.seal_bundle(&v1_plain)),
            vec![alice.clone()],
        )
        .unwrap();
    assert_eq!(v1.version, first.version + 1);

    // Tablet B links to phone A: the same person now.
    let mut b = member(&mut a, "Tablet B");
    link(&mut a, &mut b);
    let list = a.call(&DevicesList {}).unwrap();
    let group = list
        .groups
        .iter()
        .find(|g| g.group_id == list.group_id)
        .unwrap();
    let mut together = group.devices.clone();
    together.sort();
    let mut expected = [
        a.state().device.device_id.clone(),
        b.state().device.device_id.clone(),
    ];
    expected.sort();
    assert_eq!(together, expected);
    assert_eq!(b.state().peers.len(), 1, "B has the address book");
    // The web page shows one person with two devices: names and last seen, never ids or keys.
    let people = daemon.get("/v1/people").json();
    let persons = people["people"].as_array().unwrap();
    assert_eq!(persons.len(), 1, "{people}");
    let mut names: Vec<&str> = persons[0]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["Phone A", "Tablet B"]);
    let text = people.to_string();
    for secretish in [
        b.state().device.device_id.clone(),
        b64u(&crypto::x25519_public(&b.state().device.secret)),
        list.group_id.clone(),
    ] {
        assert!(!text.contains(&secretish), "{text}");
    }
    assert_eq!(dids(&mut b), vec![alice.clone()], "B sees A's identity");

    // B creates an identity and puts a version; A sees it and updates it; each change by
    // either makes a new version.
    let before = latest_version(&mut a);
    let bea = b.create_identity("Bea").unwrap().did;
    let by_b = b.put_backup().unwrap();
    assert!(by_b.version > before);
    assert_eq!(dids(&mut a), sorted(vec![alice.clone(), bea.clone()]));
    a.sync_backup().unwrap();
    assert!(
        a.state().identities.iter().any(|i| i.did == bea),
        "A has Bea's document keys from B's version"
    );
    a.call(&IdentityUpdate {
        did: bea.clone(),
        keys: None,
        services: Some(vec![Service {
            id: "#home".into(),
            kind: "LinkedDomains".into(),
            endpoint: "https://bea.example/".into(),
        }]),
    })
    .unwrap();
    let after_update = latest_version(&mut a);
    assert!(after_update > by_b.version, "A's update made a version");
    let by_a = a.put_backup().unwrap();
    assert!(by_a.version > after_update);

    // Phone A is lost. Phone C pairs, and B links it: no words typed.
    let mut c = member(&mut b, "Phone C");
    link(&mut b, &mut c);
    assert_eq!(c.state().peers.len(), 1);
    assert_eq!(dids(&mut c), sorted(vec![alice.clone(), bea.clone()]));
    // C opens the newest version with the group key, and has everything.
    let fetched = newest(&mut c);
    let bytes = b64u_decode(&fetched.bundle).unwrap();
    let parsed = bundle::parse(&bytes).unwrap();
    let old_key = c.state().group_key.clone().unwrap();
    let plain: serde_json::Value =
        serde_json::from_slice(&parsed.open_with_group_key(&old_key).unwrap()).unwrap();
    let own: Vec<String> = plain["own"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["did"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sorted(own), sorted(vec![alice.clone(), bea.clone()]));
    assert_eq!(plain["peers"][0]["name"], "Bob");
    // The box sealed the identity keys to C's device key too.
    let c_secret = c.state().device.secret.clone();
    let by_c = c.put_backup().unwrap();
    let mine = newest(&mut c).device_keys.expect("keys sealed to C");
    let keys = SealedKeys::open(&c_secret, &b64u_decode(&mine).unwrap()).unwrap();
    assert_eq!(keys.identities.len(), 2);
    assert_eq!(
        newest(&mut c).version,
        by_c.version,
        "the next version is C's"
    );

    // A is revoked: the group key must turn over.
    let a_id = a.state().device.device_id.clone();
    c.call(&DevicesRevoke {
        device_id: a_id.clone(),
    })
    .unwrap();
    assert_eq!(kind(a.call(&BoxInfo {}).unwrap_err()), "unknown_device");
    let list = c.call(&DevicesList {}).unwrap();
    assert!(
        list.groups
            .iter()
            .any(|g| g.group_id == list.group_id && g.rotate)
    );
    // A version under the old key is refused.
    let devices: Vec<([u8; 16], [u8; 32])> = vec![];
    let stale = bundle::seal(
        b"{}",
        &Recipients {
            backup_id: hex::decode(&backup_id).unwrap().try_into().unwrap(),
            bundle_key: &secrets.bundle_key,
            group_key: &old_key,
            devices: &devices,
        },
    )
    .unwrap();
    let refused = c
        .call(&BackupPut {
            backup_id: backup_id.clone(),
            bundle: b64u(&stale),
            identities: vec![],
        })
        .unwrap_err();
    assert_eq!(kind(refused), "group_key_retired");
    // C's next version is under a new key, sealed to B and C only.
    c.put_backup().unwrap();
    let new_key = c.state().group_key.clone().unwrap();
    assert_ne!(new_key, old_key);
    let bytes = b64u_decode(&newest(&mut c).bundle).unwrap();
    let parsed = bundle::parse(&bytes).unwrap();
    assert!(
        parsed.open_with_group_key(&old_key).is_none(),
        "the old group key opens nothing new"
    );
    assert!(parsed.open_with_group_key(&new_key).is_some());
    let mut sealed_to: Vec<String> = parsed.device_ids().map(hex::encode).collect();
    sealed_to.sort();
    let mut remaining = vec![
        b.state().device.device_id.clone(),
        c.state().device.device_id.clone(),
    ];
    remaining.sort();
    assert_eq!(sealed_to, remaining);
    // The words still open it, and B takes the new key from the slot sealed to it.
    assert!(secrets.open_bundle(&bytes).is_some());
    b.sync_backup().unwrap();
    assert_eq!(b.state().group_key.clone().unwrap(), new_key);
    b.put_backup().unwrap();

    // The v1 bundle made before the upgrade still restores with the words.
    let old = c
        .call(&BackupFetch {
            backup_id: backup_id.clone(),
            version: Some(v1.version),
        })
        .unwrap();
    let opened = secrets
        .open_bundle(&b64u_decode(&old.bundle).unwrap())
        .unwrap();
    assert_eq!(opened.as_slice(), v1_plain.as_slice());
}

#[test]
fn bad_links_are_refused_each_with_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut a = owner(&daemon);
    let mut n = member(&mut a, "New phone");
    let mut other = member(&mut a, "Someone else's phone");

    // A wrong code, counted: after five, even the right one no longer works.
    let started = n.link_start().unwrap();
    let wrong_code = if started.code == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let wrong = started.uri.replace(&started.code, wrong_code);
    for _ in 0..4 {
        assert_eq!(kind(a.link_claim(&wrong).unwrap_err()), "link_code_wrong");
    }
    assert_eq!(kind(a.link_claim(&wrong).unwrap_err()), "link_expired");
    assert_eq!(
        kind(a.link_claim(&started.uri).unwrap_err()),
        "link_expired"
    );

    // A device of another group trying to fetch what is sealed for the new device.
    let n_id = n.state().device.device_id.clone();
    let err = other
        .call(&DevicesLinkFetch {
            device_id: n_id.clone(),
        })
        .unwrap_err();
    assert_eq!(kind(err), "forbidden");

    // A link without the claim, then a code replayed after it was used.
    let started = n.link_start().unwrap();
    assert_eq!(
        kind(
            a.link_approve(&started.uri, &comparison_for(&a, &started.uri))
                .unwrap_err()
        ),
        "conflict",
        "a link needs the claim first"
    );
    let approval = a.link_claim(&started.uri).unwrap();
    assert_eq!(
        kind(other.link_claim(&started.uri).unwrap_err()),
        "conflict",
        "the first device to claim a code keeps it"
    );
    assert_eq!(
        kind(
            other
                .link_approve(&started.uri, &comparison_for(&other, &started.uri))
                .unwrap_err()
        ),
        "conflict",
        "only the device that claimed the code links with it"
    );
    a.link_approve(&started.uri, &approval.comparison).unwrap();
    assert_eq!(
        kind(
            a.link_approve(&started.uri, &approval.comparison)
                .unwrap_err()
        ),
        "link_used"
    );
    assert!(matches!(
        n.link_progress().unwrap(),
        LinkProgress::Linked { .. }
    ));

    // An eleventh device: A and N are two; eight more fit, the next does not.
    for i in 0..8 {
        let mut d = member(&mut a, &format!("Device {i}"));
        link(&mut a, &mut d);
    }
    let list = a.call(&DevicesList {}).unwrap();
    let mine = list
        .groups
        .iter()
        .find(|g| g.group_id == list.group_id)
        .unwrap();
    assert_eq!(mine.devices.len(), 10);
    let started = other.link_start().unwrap();
    let approval = a.link_claim(&started.uri).unwrap();
    assert_eq!(
        kind(
            a.link_approve(&started.uri, &approval.comparison)
                .unwrap_err()
        ),
        "group_full"
    );
    // The refused device still uses the box, on its own.
    other.call(&BoxInfo {}).unwrap();
}

/// The comparison code `client` would show for a link QR it scanned.
fn comparison_for(client: &Client, uri: &str) -> String {
    let uri = LinkUri::parse(uri).unwrap();
    let me = crypto::x25519_public(&client.state().device.secret);
    comparison_code(&uri.key, &me, &uri.code)
}

#[test]
fn an_expired_link_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config_file(dir.path(), "[pairing]\nlink_code_secs = 1\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let mut a = owner(&daemon);
    let mut n = member(&mut a, "New phone");
    let started = n.link_start().unwrap();
    // The code lasts one second here: let it pass (time passing is what is tested).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(
        kind(a.link_claim(&started.uri).unwrap_err()),
        "link_expired"
    );
}

/// `identity-box client --json --state FILE ARGS…`: exit code and JSON output.
fn cli(state: &std::path::Path, args: &[&str]) -> (i32, serde_json::Value) {
    let out = std::process::Command::new(common::BIN)
        .args(["client", "--json", "--state"])
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    let value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap_or_default();
    (out.status.code().unwrap_or(-1), value)
}

#[test]
fn the_command_line_links_a_tablet_after_both_show_the_same_code() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(&dir.path().join("box"), &[]);
    let (phone, tablet) = (
        dir.path().join("phone.json"),
        dir.path().join("tablet.json"),
    );
    assert_eq!(cli(&phone, &["pair", &daemon.startup_uri()]).0, 0);
    let (_, created) = cli(&phone, &["identity", "create", "Alice"]);
    let alice = created["did"].as_str().unwrap().to_owned();
    assert_eq!(
        cli(&tablet, &["pair", &common::admin_pair_uri(&daemon)]).0,
        0
    );

    let (code, shown) = cli(&tablet, &["link", "show"]);
    assert_eq!(code, 0);
    let uri = shown["uri"].as_str().unwrap().to_owned();
    let (code, claimed) = cli(&phone, &["link", "approve", &uri]);
    assert_eq!(code, 0);
    let comparison = claimed["comparison"].as_str().unwrap().to_owned();
    let (_, progress) = cli(&tablet, &["link", "fetch"]);
    assert_eq!(progress["state"], "claimed");
    assert_eq!(progress["comparison"], comparison.as_str());
    // A code the person mistyped links nothing.
    let wrong = format!(
        "{:06}",
        (comparison.parse::<u32>().unwrap() + 1) % 1_000_000
    );
    assert_ne!(
        cli(&phone, &["link", "approve", &uri, "--confirm", &wrong]).0,
        0
    );
    assert_eq!(
        cli(&phone, &["link", "approve", &uri, "--confirm", &comparison]).0,
        0
    );
    let (_, progress) = cli(&tablet, &["link", "fetch"]);
    assert_eq!(progress["state"], "linked", "{progress}");
    assert_eq!(progress["identities"], 1);
    let (_, listed) = cli(&tablet, &["identity", "list"]);
    assert_eq!(listed["identities"][0]["did"], alice.as_str());
}
