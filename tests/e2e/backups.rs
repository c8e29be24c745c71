//! Backups end to end (protocol §5): the whole story of a phone that is reset, through the command
//! line against a running daemon; automatic versions; take-over rules; bad input; and that a
//! deleted backup leaves no bytes behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{BIN, Daemon, admin_command, clock, kind};
use identity_box::client::Client;
use identity_box::crypto::{self, BackupSecrets, Secret32, b64u};
use identity_box::identity::Did;
use serde_json::{Value, json};

/// The phrase of the first BIP39 vector: a valid mnemonic of "another user".
const OTHER_USER: &str = "poverty gap ordinary script favorite burst nature wrong piece garage \
                          siren begin village doll junior frown near maze popular sudden horse \
                          remove anger grass";

/// `identity-box client --json --state STATE args…`: (exit code, stdout JSON, stderr).
fn cli(state: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(BIN)
        .args(["client", "--json", "--state"])
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        value,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(state: &Path, args: &[&str]) -> Value {
    let (code, value, stderr) = cli(state, args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    value
}

/// A pairing code from the box itself (`identity-box pair --uri`), as a reset phone gets one.
fn box_pairing_uri(daemon: &Daemon) -> String {
    common::admin_pair_uri(daemon)
}

fn some_did(seed: u8) -> String {
    Did::new(identity_box::ipfs::record::name_of_seed(&[seed; 32])).to_string()
}

fn latest_version(state: &Path) -> (String, u64) {
    let status = ok(state, &["backup", "status"]);
    let b = &status["backups"][0];
    (
        b["backup_id"].as_str().unwrap().to_owned(),
        b["latest_version"].as_u64().unwrap(),
    )
}

/// The address book a state file holds: own identities (with their keys) and peers.
fn address_book(state: &Path) -> Value {
    let s: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    json!({ "identities": s["identities"], "peers": s["peers"] })
}

#[test]
fn a_reset_phone_restores_its_address_book_and_continues_its_backup() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let phone = work.path().join("phone.json");
    ok(&phone, &["pair", &daemon.startup_uri()]);

    // Nothing is backed up yet: a restore says so.
    let other_words = work.path().join("other.txt");
    std::fs::write(&other_words, OTHER_USER).unwrap();
    let other_file = other_words.to_str().unwrap();
    let (code, _, stderr) = cli(
        &phone,
        &["backup", "restore", "--mnemonic-file", other_file],
    );
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("holds no backup at all"), "{stderr}");

    let alice = ok(&phone, &["identity", "create", "Alice"])["did"]
        .as_str()
        .unwrap()
        .to_owned();
    let work_did = ok(&phone, &["identity", "create", "Work"])["did"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&phone, &["peer", "add", &some_did(1), "Bob"]);

    let enabled = ok(&phone, &["backup", "enable"]);
    let words = enabled["mnemonic"].as_str().unwrap().to_owned();
    assert_eq!(words.split(' ').count(), 24);
    assert_eq!(enabled["stored"]["version"], json!(1));
    let (backup_id, v1) = latest_version(&phone);
    assert_eq!(v1, 1);

    // Changes of the address book make new versions by themselves.
    let added = ok(&phone, &["peer", "add", &some_did(2), "Carol"]);
    assert_eq!(added["backup"]["version"], json!(2));
    ok(&phone, &["identity", "create", "Club"]);
    // The box makes one more version by itself when an identity is deleted (fresh sealed
    // keys), then the phone uploads its new address book.
    let deleted = ok(&phone, &["identity", "delete", &work_did]);
    let (same_id, v) = latest_version(&phone);
    assert_eq!(same_id, backup_id);
    assert_eq!(deleted["backup"]["version"], json!(v));
    assert_eq!(v, 5, "enable, peer, create, box-made after delete, delete");
    let before = address_book(&phone);
    assert_eq!(before["identities"].as_array().unwrap().len(), 2);

    // The phone is reset: its state is gone. It pairs again with a code from the box.
    std::fs::remove_file(&phone).unwrap();
    ok(&phone, &["pair", &box_pairing_uri(&daemon)]);
    let mut reset = Client::load(&phone, clock()).unwrap();
    assert!(reset.call_json("backup.exists", json!({})).unwrap()["count"].as_u64() >= Some(1));
    // Its identities still belong to the old device: this one cannot touch them.
    assert_eq!(
        kind(
            reset
                .call_json("identity.get", json!({"did": alice}))
                .unwrap_err()
        ),
        "forbidden"
    );

    let phrase = work.path().join("phrase.txt");
    // A typo: an unknown word, with the nearest word suggested.
    let mut typo: Vec<String> = words.split(' ').map(str::to_owned).collect();
    let original = typo[4].clone();
    typo[4] = format!("{original}x");
    std::fs::write(&phrase, typo.join(" ")).unwrap();
    let phrase_file = phrase.to_str().unwrap();
    let (code, _, stderr) = cli(
        &phone,
        &["backup", "restore", "--mnemonic-file", phrase_file],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("word 5"), "{stderr}");
    assert!(
        stderr.contains(&format!("did you mean \"{original}\"")),
        "{stderr}"
    );

    // Two words swapped: every word is valid, the checksum is not.
    let mut swapped: Vec<&str> = words.split(' ').collect();
    let (i, j) = (0..23)
        .map(|i| (i, i + 1))
        .find(|&(i, j)| swapped[i] != swapped[j])
        .unwrap();
    swapped.swap(i, j);
    std::fs::write(&phrase, swapped.join(" ")).unwrap();
    let (code, _, stderr) = cli(
        &phone,
        &["backup", "restore", "--mnemonic-file", phrase_file],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("checksum"), "{stderr}");

    // Another user's valid phrase: no backup matches.
    let (code, _, stderr) = cli(
        &phone,
        &["backup", "restore", "--mnemonic-file", other_file],
    );
    assert_eq!(code, 6, "{stderr}");
    assert!(stderr.contains("no backup on this box matches"), "{stderr}");

    // The right phrase, typed sloppily: everything is back, identical.
    std::fs::write(&phrase, format!("  {}\n", words.to_uppercase())).unwrap();
    let restored = ok(
        &phone,
        &["backup", "restore", "--mnemonic-file", phrase_file],
    );
    assert_eq!(restored["version"], json!(v));
    assert_eq!(address_book(&phone), before);

    // The restored phone took the backup over: it owns the identities again, and its next
    // change adds a version to the same backup.
    let mut restored_phone = Client::load(&phone, clock()).unwrap();
    assert_eq!(
        restored_phone
            .call_json("identity.get", json!({"did": alice}))
            .unwrap()["did"],
        json!(alice)
    );
    let added = ok(&phone, &["peer", "add", &some_did(3), "Dan"]);
    assert_eq!(added["backup"]["version"], json!(v + 1));
    assert_eq!(latest_version(&phone), (backup_id.clone(), v + 1));
}

#[test]
fn the_box_versions_a_backup_when_a_listed_identity_changes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = Client::pair(&daemon.startup_uri(), "Phone", clock()).unwrap();
    let did = phone.create_identity("Alice").unwrap().did;
    let (_, stored) = phone.enable_backup().unwrap();
    assert_eq!(stored.version, 1);
    let id = phone.state().backup.as_ref().unwrap().backup_id.clone();
    let secrets_recipient = phone.state().backup.as_ref().unwrap().recipient.clone();

    let first = phone
        .call_json("backup.fetch", json!({"backup_id": id}))
        .unwrap();
    assert_eq!(first["identities"][0]["seq"], json!(0));

    // A new document: the box writes version 2 by itself, same bundle, fresh sealed keys
    // listing the new sequence number.
    let keys = phone.state().identities[0].keys_param();
    phone
        .call_json(
            "identity.update",
            json!({"did": did, "keys": keys, "services": [
                {"id": "#inbox", "type": "Inbox", "serviceEndpoint": "https://example.org/in"}
            ]}),
        )
        .unwrap();
    let second = phone
        .call_json("backup.fetch", json!({"backup_id": id}))
        .unwrap();
    assert_eq!(second["version"], json!(2));
    assert_eq!(second["bundle"], first["bundle"]);
    assert_ne!(second["sealed_keys"], first["sealed_keys"]);
    assert_eq!(second["identities"][0]["seq"], json!(1));
    assert_eq!(
        second["documents"][&did]["service"][0]["type"],
        json!("Inbox")
    );
    // The sealed keys open with the owner's recipient secret only, padded to 4 KiB.
    let sealed = crypto::b64u_decode(second["sealed_keys"].as_str().unwrap()).unwrap();
    assert_eq!((sealed.len() - 48) % 4096, 0);
    let plain = crypto::seal_open(&secrets_recipient, &sealed).unwrap();
    let payload: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(payload["identities"][0]["did"], json!(did));
    assert_eq!(payload["identities"][0]["seq"], json!(1));
    assert!(crypto::seal_open(&Secret32::new([1; 32]), &sealed).is_none());

    // Deleting the identity: version 3 holds no key for it any more.
    phone.delete_identity(&did).unwrap();
    let third = phone
        .call_json("backup.fetch", json!({"backup_id": id}))
        .unwrap();
    assert_eq!(third["version"], json!(3));
    assert_eq!(third["identities"], json!([]));
    // Older versions stay fetchable.
    let old = phone
        .call_json("backup.fetch", json!({"backup_id": id, "version": 1}))
        .unwrap();
    assert_eq!(old["sealed_keys"], first["sealed_keys"]);
}

#[test]
fn taking_a_backup_over_needs_the_mnemonics_proof() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut owner = Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap();
    owner.create_identity("Alice").unwrap();
    owner.enable_backup().unwrap();
    let state = owner.state().backup.clone().unwrap();
    let id = state.backup_id.clone();
    let recipient_public = crypto::x25519_public(&state.recipient);

    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    let mut other = Client::pair(opened["uri"].as_str().unwrap(), "Phone B", clock()).unwrap();
    let box_key = other.box_key().unwrap();
    let enable = |proof: Option<(Vec<u8>, [u8; 24])>| {
        let mut p = json!({"backup_id": id, "recipient": b64u(&recipient_public)});
        if let Some((proof, nonce)) = proof {
            p["proof"] = json!(b64u(&proof));
            p["proof_nonce"] = json!(b64u(&nonce));
        }
        p
    };
    let text = identity_box::backup::rebind_text(&id, &other.state().device.device_id);
    let nonce = crypto::random_nonce();

    // Knowing the id gives ciphertext, nothing more.
    assert!(
        other
            .call_json("backup.fetch", json!({"backup_id": id}))
            .is_ok()
    );
    let bundle = b64u(&[0u8; 64]);
    assert_eq!(
        kind(
            other
                .call_json("backup.put", json!({"backup_id": id, "bundle": bundle}))
                .unwrap_err()
        ),
        "forbidden"
    );
    // No proof.
    assert_eq!(
        kind(other.call_json("backup.enable", enable(None)).unwrap_err()),
        "forbidden"
    );
    // A proof made with another mnemonic's recipient secret.
    let stranger = BackupSecrets::from_entropy(&Secret32::new([7; 32]));
    let bad = crypto::nacl_box(&stranger.recipient, &box_key, &nonce, text.as_bytes());
    assert_eq!(
        kind(
            other
                .call_json("backup.enable", enable(Some((bad, nonce))))
                .unwrap_err()
        ),
        "forbidden"
    );
    // The right secret over another device's text (a replayed proof).
    let owner_text = identity_box::backup::rebind_text(&id, &owner.state().device.device_id);
    let replayed = crypto::nacl_box(&state.recipient, &box_key, &nonce, owner_text.as_bytes());
    assert_eq!(
        kind(
            other
                .call_json("backup.enable", enable(Some((replayed, nonce))))
                .unwrap_err()
        ),
        "forbidden"
    );
    // Another recipient for the same id: conflict.
    let p = json!({"backup_id": id, "recipient": b64u(&stranger.recipient_public())});
    assert_eq!(
        kind(other.call_json("backup.enable", p).unwrap_err()),
        "conflict"
    );
    // The real proof: the backup and its identities move to Phone B.
    let good = crypto::nacl_box(&state.recipient, &box_key, &nonce, text.as_bytes());
    let answer = other
        .call_json("backup.enable", enable(Some((good, nonce))))
        .unwrap();
    assert_eq!(answer["rebound"], json!(true));
    assert_eq!(
        other.call_json("identity.list", json!({})).unwrap()["identities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The device that held the backup is superseded (protocol §2): gone, and its role (owner)
    // passed to Phone B.
    let owner_id = owner.state().device.device_id.clone();
    assert_eq!(answer["superseded"], json!(owner_id));
    assert_eq!(
        kind(
            owner
                .call_json("backup.put", json!({"backup_id": id, "bundle": bundle}))
                .unwrap_err()
        ),
        "unknown_device"
    );
    let listed = other.call_json("devices.list", json!({})).unwrap();
    assert_eq!(listed["devices"].as_array().unwrap().len(), 1);
    assert_eq!(listed["devices"][0]["role"], "owner");
    assert_eq!(listed["removed"][0]["device_id"], json!(owner_id));
    assert_eq!(listed["removed"][0]["reason"], "superseded");
}

#[test]
fn bad_backup_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with_env(
        dir.path(),
        &[],
        &[("IDENTITY_BOX_BACKUP__MAX_BUNDLE_BYTES", "4096")],
    )
    .expect_ready();
    let mut owner = Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap();
    let secrets = BackupSecrets::from_entropy(&Secret32::new([3; 32]));
    let recipient = b64u(&secrets.recipient_public());
    let call_kind = |c: &mut Client, m: &str, p: Value| kind(c.call_json(m, p).unwrap_err());

    // Malformed ids, and recipient keys of low order.
    for bad_id in [
        "",
        "ABCDEF0123456789ABCDEF0123456789",
        "abc",
        &"g".repeat(32),
    ] {
        assert_eq!(
            call_kind(
                &mut owner,
                "backup.enable",
                json!({"backup_id": bad_id, "recipient": recipient})
            ),
            "invalid_params",
            "{bad_id:?}"
        );
    }
    let mut one = [0u8; 32];
    one[0] = 1;
    for low in [[0u8; 32], one] {
        assert_eq!(
            call_kind(
                &mut owner,
                "backup.enable",
                json!({"backup_id": secrets.backup_id, "recipient": b64u(&low)})
            ),
            "invalid_params"
        );
    }
    // Before enable: no such backup.
    assert_eq!(
        call_kind(
            &mut owner,
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&[1; 64])})
        ),
        "backup_not_found"
    );
    owner
        .call_json(
            "backup.enable",
            json!({"backup_id": secrets.backup_id, "recipient": recipient}),
        )
        .unwrap();
    // Over the limit.
    assert_eq!(
        call_kind(
            &mut owner,
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&vec![1; 4097])})
        ),
        "too_large"
    );
    // Exactly the limit is fine.
    let stored = owner
        .call_json(
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&vec![1; 4096])}),
        )
        .unwrap();
    assert_eq!(stored["version"], json!(1));
    // Identities of another device, or not DIDs at all.
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    let mut member = Client::pair(opened["uri"].as_str().unwrap(), "Phone B", clock()).unwrap();
    let theirs = member.create_identity("Theirs").unwrap().did;
    assert_eq!(
        call_kind(
            &mut owner,
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&[1; 64]), "identities": [theirs]})
        ),
        "forbidden"
    );
    assert_eq!(
        call_kind(
            &mut owner,
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&[1; 64]), "identities": ["did:web:x"]})
        ),
        "invalid_params"
    );
    assert_eq!(
        call_kind(
            &mut owner,
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": "not base64!"})
        ),
        "invalid_params"
    );
    // Nothing of that was stored.
    let status = owner.call_json("backup.status", json!({})).unwrap();
    assert_eq!(status["backups"][0]["versions"], json!(1));
    // Restoring keys that are not sealed to this box.
    assert_eq!(
        call_kind(
            &mut owner,
            "backup.restore_keys",
            json!({"backup_id": secrets.backup_id, "sealed": b64u(&[0; 100])})
        ),
        "invalid_params"
    );
}

/// Finds `needle` in a file's bytes.
fn contains(path: &Path, needle: &[u8]) -> bool {
    match std::fs::read(path) {
        Ok(bytes) => bytes.windows(needle.len()).any(|w| w == needle),
        Err(_) => false,
    }
}

#[test]
fn a_deleted_backup_leaves_no_bytes_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    let mut owner = Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap();
    let secrets = BackupSecrets::from_entropy(&Secret32::new([4; 32]));
    owner
        .call_json(
            "backup.enable",
            json!({"backup_id": secrets.backup_id, "recipient": b64u(&secrets.recipient_public())}),
        )
        .unwrap();
    let marker = b"MARKER-0f3c9a7e-the-bundle-bytes-MARKER";
    let bundle: Vec<u8> = marker.iter().copied().cycle().take(20_000).collect();
    for _ in 0..3 {
        owner
            .call_json(
                "backup.put",
                json!({"backup_id": secrets.backup_id, "bundle": b64u(&bundle)}),
            )
            .unwrap();
    }
    let db = identity_box::store::database_path(dir.path());
    let wal = db.with_extension("sqlite3-wal");
    // The test can fail: the marker is there while the backup is.
    assert!(contains(&db, marker) || contains(&wal, marker));

    let answer = owner
        .call_json(
            "backup.disable",
            json!({"backup_id": secrets.backup_id, "delete": true}),
        )
        .unwrap();
    assert_eq!(answer["deleted"], json!(true));
    assert!(!contains(&db, marker), "marker bytes left in the database");
    assert!(!contains(&wal, marker), "marker bytes left in the WAL");
    assert_eq!(
        kind(
            owner
                .call_json("backup.fetch", json!({"backup_id": secrets.backup_id}))
                .unwrap_err()
        ),
        "backup_not_found"
    );
    // And after a clean stop (the last checkpoint), still nothing.
    daemon.terminate();
    assert!(!contains(&db, marker));
    assert!(!contains(&wal, marker));
}

#[test]
fn a_deleted_identity_leaves_its_key_in_no_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut owner = Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap();
    let did = owner.create_identity("Alice").unwrap().did;
    // The test learns the identity's key as an owner's phone would: from the keys the box
    // seals into a backup version, opened with the backup's secret.
    let secrets = BackupSecrets::from_entropy(&Secret32::new([5; 32]));
    owner
        .call_json(
            "backup.enable",
            json!({"backup_id": secrets.backup_id, "recipient": b64u(&secrets.recipient_public())}),
        )
        .unwrap();
    owner
        .call_json(
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&[1u8; 64]), "identities": [did]}),
        )
        .unwrap();
    let fetched = owner
        .call_json("backup.fetch", json!({"backup_id": secrets.backup_id}))
        .unwrap();
    let sealed = crypto::b64u_decode(fetched["sealed_keys"].as_str().unwrap()).unwrap();
    let keys = identity_box::backup::wire::SealedKeys::open(&secrets.recipient, &sealed).unwrap();
    let key = *keys.identities[0].secret().unwrap().expose();
    // The versions hold the key sealed, never in the clear: erase them, then the identity.
    owner
        .call_json(
            "backup.disable",
            json!({"backup_id": secrets.backup_id, "delete": true}),
        )
        .unwrap();
    // The database holds the key sealed under the box's seed (protocol §9), never in the
    // clear; the test reads the sealed value as anyone with the card could.
    let sealed = sealed_key_on_disk(dir.path(), &did);
    let in_files = |needle: &[u8]| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().path())
            .filter(|p| p.is_file() && contains(p, needle))
            .collect()
    };
    assert_eq!(in_files(&key), Vec::<std::path::PathBuf>::new());
    // The test can fail: the sealed key is there while the identity is.
    assert!(!in_files(&sealed).is_empty());
    owner
        .call_json("identity.delete", json!({"did": did}))
        .unwrap();
    assert_eq!(in_files(&sealed), Vec::<std::path::PathBuf>::new());
    assert_eq!(in_files(&key), Vec::<std::path::PathBuf>::new());
}

/// The identity key of `did` as the database holds it (read-only, beside the running box).
pub fn sealed_key_on_disk(data_dir: &Path, did: &str) -> Vec<u8> {
    let db = identity_box::store::database_path(data_dir);
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let sealed: Vec<u8> = conn
        .query_row(
            "SELECT secret_key FROM identities WHERE did = ?1",
            [did],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sealed.len(), identity_box::crypto::SEALED_KEY_LEN);
    sealed
}

/// A small file system of the test's own (tmpfs, as root), unmounted when dropped.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(ok.success(), "mount -t tmpfs (this test needs root)");
        SmallDisk(dir)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_nearly_full_card_refuses_a_put_and_loses_no_acknowledged_version() {
    let disk = SmallDisk::mount(48);
    let data = disk.0.path().join("box");
    let env = [("IDENTITY_BOX_BACKUP__KEEP_VERSIONS", "1000")];
    let mut daemon = Daemon::start_with_env(&data, &[], &env).expect_ready();
    let mut owner = Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap();
    let secrets = BackupSecrets::from_entropy(&Secret32::new([6; 32]));
    owner
        .call_json(
            "backup.enable",
            json!({"backup_id": secrets.backup_id, "recipient": b64u(&secrets.recipient_public())}),
        )
        .unwrap();
    let health = daemon.get("/health").json();
    assert_eq!(health["storage"]["nearly_full"], false, "{health}");

    // 4 MiB bundles until the box refuses one.
    let mut acknowledged = Vec::new();
    let refusal = loop {
        let n = acknowledged.len() as u8;
        let bundle: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i as u8) ^ n).collect();
        match owner.call_json(
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&bundle)}),
        ) {
            Ok(stored) => acknowledged.push((stored["version"].as_u64().unwrap(), bundle)),
            Err(e) => break e,
        }
        assert!(acknowledged.len() < 20, "a 48 MiB disk never filled up");
    };
    let message = refusal.to_string();
    assert_eq!(kind(refusal), "storage_full", "{message}");
    assert!(message.contains("nearly full"), "{message}");
    assert!(!acknowledged.is_empty());
    assert_eq!(daemon.get("/health").json()["storage"]["nearly_full"], true);

    // Every acknowledged version is whole, also after a restart.
    let check = |owner: &mut Client| {
        for (version, bundle) in &acknowledged {
            let fetched = owner
                .call_json(
                    "backup.fetch",
                    json!({"backup_id": secrets.backup_id, "version": version}),
                )
                .unwrap();
            assert_eq!(
                crypto::b64u_decode(fetched["bundle"].as_str().unwrap()).unwrap(),
                *bundle,
                "version {version}"
            );
        }
    };
    check(&mut owner);
    daemon.terminate();
    let daemon = Daemon::start_with_env(&data, &[], &env).expect_ready();
    owner.prefer_addrs(vec![daemon.addr.to_string()]);
    check(&mut owner);
}

#[test]
fn a_factory_reset_erases_everything_and_the_box_starts_again_as_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_with_env(
        dir.path(),
        &[],
        &[("IDENTITY_BOX_IPFS__RESOLVE_TIMEOUT_SECS", "1")],
    )
    .expect_ready();
    let mut owner = Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap();
    let did = owner.create_identity("Alice").unwrap().did;
    owner.enable_backup().unwrap();
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    let mut member = Client::pair(opened["uri"].as_str().unwrap(), "Phone B", clock()).unwrap();
    let seed_file = dir.path().join("box-seed");
    let old_seed = std::fs::read(&seed_file).unwrap();

    // Refusals erase nothing.
    let out = admin_command(&["factory-reset"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let reset = |c: &mut Client, confirm: &str| {
        c.call_json("box.factory_reset", json!({ "confirm": confirm }))
    };
    assert_eq!(
        kind(reset(&mut member, "erase everything").unwrap_err()),
        "forbidden"
    );
    assert_eq!(
        kind(reset(&mut owner, "yes").unwrap_err()),
        "invalid_params"
    );
    assert_eq!(
        owner.call_json("identity.list", json!({})).unwrap()["identities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let old_key = daemon.get("/v1/info").json()["agreement_key"].clone();
    let backups_in_status = || {
        let out = admin_command(&["status", "--json"], dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["backups"].clone()
    };
    assert_eq!(backups_in_status(), json!(1));

    // The owner's phone erases the box: it answers, then starts again as a new box.
    assert_eq!(
        reset(&mut owner, "erase everything").unwrap()["erased"],
        json!(true)
    );
    daemon.wait_ready_again();
    let info = daemon.get("/v1/info").json();
    assert_ne!(info["agreement_key"], old_key);
    assert_eq!(info["pairing_open"], json!(true));
    assert_ne!(std::fs::read(&seed_file).unwrap(), old_seed);
    // The old phones are strangers now.
    assert!(owner.call_json("box.info", json!({})).is_err());
    assert!(member.call_json("box.info", json!({})).is_err());
    // A new phone finds an empty box: no identities, no backups; the DID is not held here.
    assert_eq!(backups_in_status(), json!(0));
    let mut fresh = Client::pair(&box_pairing_uri(&daemon), "Phone C", clock()).unwrap();
    assert_eq!(
        fresh.state().device.role,
        identity_box::protocol::Role::Owner
    );
    let box_info = fresh.call_json("box.info", json!({})).unwrap();
    assert_eq!(box_info["identities"], json!(0));
    assert_eq!(box_info["devices"], json!(1));
    assert_eq!(
        fresh.call_json("backup.exists", json!({})).unwrap()["count"],
        json!(0)
    );
    assert_eq!(
        kind(
            fresh
                .call_json("did.resolve", json!({"did": did}))
                .unwrap_err()
        ),
        "not_found"
    );

    // The same from the box's console: it waits for the new box and says so.
    let before = daemon.get("/v1/info").json()["agreement_key"].clone();
    let out = admin_command(&["factory-reset", "--yes"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("started again as a new box"));
    daemon.wait_ready_again();
    assert_ne!(daemon.get("/v1/info").json()["agreement_key"], before);
    assert!(fresh.call_json("box.info", json!({})).is_err());
}

#[test]
fn a_new_box_gets_its_identity_keys_back_from_the_phone_and_the_words() {
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_with_env(
        dir.path(),
        &[],
        &[("IDENTITY_BOX_IPFS__RESOLVE_TIMEOUT_SECS", "1")],
    )
    .expect_ready();
    let phone = work.path().join("phone.json");
    ok(&phone, &["pair", &daemon.startup_uri()]);
    let dids: Vec<String> = ["Alice", "Work"]
        .iter()
        .map(|n| {
            ok(&phone, &["identity", "create", n])["did"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    ok(&phone, &["peer", "add", &some_did(1), "Bob"]);
    let words = ok(&phone, &["backup", "enable"])["mnemonic"]
        .as_str()
        .unwrap()
        .to_owned();
    let before: Vec<Value> = dids.iter().map(|d| ok(&phone, &["resolve", d])).collect();
    let book = address_book(&phone);

    // The box is reset (or replaced): keys, documents and backups are gone from it.
    let out = admin_command(&["factory-reset", "--yes"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.wait_ready_again();
    // The phone pairs with the new box and keeps its address book.
    ok(&phone, &["pair", &box_pairing_uri(&daemon)]);
    assert_eq!(address_book(&phone), book);
    let (code, _, stderr) = cli(&phone, &["resolve", &dids[0]]);
    assert_ne!(code, 0, "the new box cannot know the DID yet");
    assert!(stderr.contains("not_found"), "{stderr}");

    // A wrong phrase opens nothing.
    let phrase = work.path().join("phrase.txt");
    std::fs::write(&phrase, OTHER_USER).unwrap();
    let phrase_file = phrase.to_str().unwrap();
    let (code, _, _) = cli(
        &phone,
        &["backup", "restore", "--mnemonic-file", phrase_file],
    );
    assert_eq!(code, 5);

    std::fs::write(&phrase, &words).unwrap();
    let restored = ok(
        &phone,
        &["backup", "restore", "--mnemonic-file", phrase_file],
    );
    assert_eq!(restored["keys_restored"].as_array().unwrap().len(), 2);
    for (did, old) in dids.iter().zip(&before) {
        let now = ok(&phone, &["resolve", did]);
        assert_eq!(now["document"], old["document"], "{did}");
        assert!(
            now["metadata"]["seq"].as_u64() > old["metadata"]["seq"].as_u64(),
            "{did}: {} then {}",
            old["metadata"]["seq"],
            now["metadata"]["seq"]
        );
        assert_eq!(now["metadata"]["local"], json!(true));
    }
    // The phone owns them on the new box, and the backup lives on there.
    let listed = ok(&phone, &["identity", "list"]);
    assert_eq!(listed["identities"].as_array().unwrap().len(), 2);
    let (_, version) = latest_version(&phone);
    assert_eq!(version, 1);
    assert_eq!(address_book(&phone), book);
}
