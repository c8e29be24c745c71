//! The archive (protocol §6) against its test vector `tests/data/archive-v1.idbox`, whose secrets are
//! in `tests/data/archive-v1.json` and whose backup words are `tests/data/archive-v1.words`;
//! and `identity-box verify` on it, good and altered.
//!
//! `IDBOX_WRITE_VECTORS=1 cargo test --test e2e archive::` writes the vector again (the sealed keys
//! use a random ephemeral key, so a new vector differs; the checks below hold for any).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use identity_box::backup::archive::{self, Inputs, Plan};
use identity_box::backup::wire::{SealedIdentity, SealedKeys};
use identity_box::client::mnemonic;
use identity_box::crypto::{self, BackupSecrets, BoxKeys, BoxSeed, Secret32, b64u};
use identity_box::identity::Did;
use identity_box::identity::document::{self, PublicKeys};
use serde_json::{Value, json};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

const BOX_SEED: [u8; 32] = [0x42; 32];
const ENTROPY: [u8; 32] = [0x17; 32];
const IDENTITY_SEED: [u8; 32] = [0x21; 32];
const AGREEMENT_SECRET: [u8; 32] = [0x22; 32];

fn keys() -> BoxKeys {
    BoxKeys::from_seed(&BoxSeed::from_bytes(BOX_SEED))
}

/// The vector's inputs; the sealed keys and the bundle are the stored ones when given.
fn inputs(bundle: &[u8], sealed: Vec<u8>) -> (Inputs, Value) {
    let did = Did::new(identity_box::ipfs::record::name_of_seed(&IDENTITY_SEED));
    let signing = ed25519_dalek::SigningKey::from_bytes(&IDENTITY_SEED);
    let doc = document::document(
        &did,
        &PublicKeys {
            signing: signing.verifying_key().to_bytes(),
            agreement: crypto::x25519_public(&Secret32::new(AGREEMENT_SECRET)),
        },
        &[],
    );
    let name = did.to_string()["did:ipid:".len()..].to_owned();
    let secrets = BackupSecrets::from_entropy(&Secret32::new(ENTROPY));
    (
        Inputs {
            box_name: "Test vector box".into(),
            backup_id: secrets.backup_id,
            version: 7,
            created: 1_764_000_000,
            bundle_len: bundle.len() as u64,
            bundle_sha256: crypto::sha256(bundle),
            sealed_keys: sealed,
            documents: vec![(name, doc.clone())],
        },
        json!({ "did": did.to_string(), "document": doc }),
    )
}

/// Writes the vector: run once with `IDBOX_WRITE_VECTORS=1`.
fn write_vector() {
    let entropy = Secret32::new(ENTROPY);
    let secrets = BackupSecrets::from_entropy(&entropy);
    let did = Did::new(identity_box::ipfs::record::name_of_seed(&IDENTITY_SEED)).to_string();
    let plain = json!({
        "v": 1,
        "own": [{
            "did": did,
            "name": "Alice",
            "signing_secret": b64u(&IDENTITY_SEED),
            "agreement_secret": b64u(&AGREEMENT_SECRET),
        }],
        "peers": [{ "did": "did:ipid:k51qzi5uqu5dkkciu33khkzbcmxtyhn376i1e83tya8kuy7z9euedzyr5nhoew", "name": "Bob" }],
    });
    let bundle = secrets.seal_bundle(&serde_json::to_vec(&plain).unwrap());
    let sealed = SealedKeys::new(vec![SealedIdentity::new(did.clone(), &IDENTITY_SEED, 3)])
        .seal(&secrets.recipient_public());
    let (inputs, _) = inputs(&bundle, sealed);
    let plan = Plan::new(&inputs, &keys()).unwrap();
    let mut out = Vec::new();
    plan.write_to(&bundle, &mut out).unwrap();
    std::fs::write(data("archive-v1.idbox"), &out).unwrap();
    std::fs::write(
        data("archive-v1.words"),
        format!("{}\n", mnemonic::words(&entropy).as_str()),
    )
    .unwrap();
    let secrets_doc = json!({
        "what": "The secrets that open tests/data/archive-v1.idbox (see docs/archive-format.md).",
        "box_seed_hex": hex::encode(BOX_SEED),
        "box_signing_key": keys().public().signing_b64u,
        "mnemonic": mnemonic::words(&entropy).as_str(),
        "entropy_hex": hex::encode(ENTROPY),
        "backup_id": secrets.backup_id,
        "bundle_key_hex": hex::encode(secrets.bundle_key.expose()),
        "recipient_secret_hex": hex::encode(secrets.recipient.expose()),
        "bundle_plaintext": plain,
        "identity": { "did": did, "ed25519_seed_hex": hex::encode(IDENTITY_SEED), "seq": 3 },
        "version": 7,
        "created": 1_764_000_000,
    });
    std::fs::write(
        data("archive-v1.json"),
        serde_json::to_string_pretty(&secrets_doc).unwrap() + "\n",
    )
    .unwrap();
}

fn vector() -> Vec<u8> {
    if std::env::var_os("IDBOX_WRITE_VECTORS").is_some() {
        write_vector();
    }
    std::fs::read(data("archive-v1.idbox")).unwrap()
}

#[test]
fn the_vector_reads_opens_and_is_what_the_writer_makes() {
    let bytes = vector();
    let secrets_doc: Value =
        serde_json::from_slice(&std::fs::read(data("archive-v1.json")).unwrap()).unwrap();
    let opened = archive::read(&bytes[..], true).unwrap();
    assert_eq!(opened.manifest.backup_id, secrets_doc["backup_id"]);
    assert_eq!(opened.manifest.seq, 7);
    assert_eq!(
        opened.manifest.box_info.signing_key,
        secrets_doc["box_signing_key"]
    );

    // The words in the vector's files open the bundle and the keys.
    let words = std::fs::read_to_string(data("archive-v1.words")).unwrap();
    assert_eq!(words.trim(), secrets_doc["mnemonic"]);
    let secrets = BackupSecrets::from_entropy(&mnemonic::parse(&words).unwrap());
    let bundle = opened.bundle.clone().unwrap();
    let plain: Value = serde_json::from_slice(&secrets.open_bundle(&bundle).unwrap()).unwrap();
    assert_eq!(plain, secrets_doc["bundle_plaintext"]);
    let sealed = opened.sealed_keys.clone().unwrap();
    let opened_keys = SealedKeys::open(&secrets.recipient, &sealed).unwrap();
    assert_eq!(opened_keys.identities.len(), 1);
    assert_eq!(
        opened_keys.identities[0].did,
        secrets_doc["identity"]["did"]
    );
    assert_eq!(
        hex::encode(opened_keys.identities[0].secret().unwrap().expose()),
        secrets_doc["identity"]["ed25519_seed_hex"]
    );

    // The writer, given the same parts and box key, makes exactly these bytes.
    let (inputs, expected) = inputs(&bundle, sealed);
    assert_eq!(
        opened.documents.get(expected["did"].as_str().unwrap()),
        Some(&expected["document"])
    );
    let mut again = Vec::new();
    Plan::new(&inputs, &keys())
        .unwrap()
        .write_to(&bundle, &mut again)
        .unwrap();
    assert!(
        again == bytes,
        "the writer no longer makes the vector's bytes"
    );
}

#[test]
fn verify_checks_the_vector_and_rehearses_a_restore() {
    let bytes = vector();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.idbox");
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();

    let (code, out, err) = common::verify(&[path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("good"), "{out}");
    assert!(out.contains("Test vector box"), "{out}");
    assert!(out.contains("version 7"), "{out}");

    let words = data("archive-v1.words");
    let (code, out, err) = common::verify(&[path, "--mnemonic-file", words.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Restore drill"), "{out}");
    assert!(out.contains("Alice"), "{out}");

    let (code, out, _) = common::verify(&[path, "--json"]);
    assert_eq!(code, 0);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["version"], 7);
    assert_eq!(summary["identities"].as_array().unwrap().len(), 1);

    // Another user's valid words: the archive is not theirs (exit 6).
    let other = dir.path().join("other.words");
    std::fs::write(&other, mnemonic::words(&Secret32::new([0x99; 32])).as_str()).unwrap();
    let (code, _, err) = common::verify(&[path, "--mnemonic-file", other.to_str().unwrap()]);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains("another backup"), "{err}");

    // A typo: unknown word (exit 3).
    let typo = dir.path().join("typo.words");
    let text = std::fs::read_to_string(&words).unwrap();
    let mut list: Vec<&str> = text.split_whitespace().collect();
    list[0] = "abandonn";
    std::fs::write(&typo, list.join(" ")).unwrap();
    let (code, _, err) = common::verify(&[path, "--mnemonic-file", typo.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");

    // An altered bundle: the check fails and names the file and the member.
    let (at, _) = {
        let mut a = tar::Archive::new(&bytes[..]);
        let e = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path_bytes().as_ref() == b"bundle.enc")
            .unwrap();
        (e.raw_file_position() as usize, e.size())
    };
    let mut bad = bytes.clone();
    bad[at + 30] ^= 0x80;
    let altered = dir.path().join("altered.idbox");
    std::fs::write(&altered, &bad).unwrap();
    let (code, _, err) = common::verify(&[altered.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("altered.idbox"), "{err}");
    assert!(err.contains("bundle.enc"), "{err}");
    assert!(err.contains("SHA-256"), "{err}");

    // A missing file.
    let (code, _, err) = common::verify(&[dir.path().join("nope.idbox").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.idbox"), "{err}");
}

/// `bytes` re-signed by `keys`: the manifest names their signing key (and keeps the box's
/// name and agreement key, so that the fingerprint it claims is the real box's), and the
/// signature is theirs. Every other member is copied as it is.
fn re_signed(bytes: &[u8], keys: &BoxKeys) -> Vec<u8> {
    use ed25519_dalek::Signer;
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().to_vec()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        members.push((path, data));
    }
    let mut manifest: Value = serde_json::from_slice(&members[0].1).unwrap();
    manifest["box"]["signing_key"] = json!(keys.public().signing_b64u);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let signature = keys.signing_key().sign(&manifest).to_bytes().to_vec();
    members[0].1 = manifest;
    members[1].1 = signature;
    let mut out = tar::Builder::new(Vec::new());
    for (path, data) in &members {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        out.append_data(&mut header, path, &data[..]).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn verify_names_the_signer_and_fails_on_another_one() {
    let bytes = vector();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.idbox");
    std::fs::write(&file, &bytes).unwrap();
    let path = file.to_str().unwrap();
    let ours = keys().public();

    // Checked against the box's key: the box, by its fingerprint.
    let (code, out, err) = common::verify(&[path, "--box-key", &ours.signing_b64u]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "signed by the box with fingerprint {}",
            ours.fingerprint
        )),
        "{out}"
    );
    // Unchecked: the key, and what the file alone cannot prove.
    let (code, out, err) = common::verify(&[path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&ours.signing_b64u), "{out}");
    assert!(out.contains("cannot prove"), "{out}");

    // Someone re-signs the archive with a key of their own, claiming the same box.
    let forger = BoxKeys::from_seed(&BoxSeed::from_bytes([0x66; 32]));
    let forged = dir.path().join("forged.idbox");
    std::fs::write(&forged, re_signed(&bytes, &forger)).unwrap();
    let forged = forged.to_str().unwrap();
    // The signature itself is valid (it is the forger's): without a key, verify cannot tell.
    let (code, out, err) = common::verify(&[forged]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&forger.public().signing_b64u), "{out}");
    // With the box's key it fails, and says what to do.
    let (code, out, err) = common::verify(&[forged, "--box-key", &ours.signing_b64u]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("NOT signed by the box you named"), "{err}");
    assert!(err.contains("save a new copy"), "{err}");
    let (code, _, err) = common::verify(&[forged, "--box-key", &ours.signing_b64u, "--json"]);
    assert_eq!(code, 1, "{err}");
}

fn get(daemon: &common::Daemon, path: &str, range: Option<&str>) -> common::Response {
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    common::http(
        daemon.addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{range}Connection: close\r\n\r\n"),
    )
}

#[test]
fn a_box_serves_its_archive_once_per_ticket_and_resumes_with_range() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = common::Daemon::ready(&dir.path().join("box"), &[]);
    let mut phone =
        identity_box::client::Client::pair(&daemon.startup_uri(), "phone", common::clock())
            .unwrap();
    let alice = phone.create_identity("Alice").unwrap().did;
    phone.create_identity("Bob").unwrap();
    phone.add_peer(&alice, "me again").unwrap();
    let (words, _) = phone.enable_backup().unwrap();
    let backup_id = phone.state().backup.as_ref().unwrap().backup_id.clone();
    let ticket = |phone: &mut identity_box::client::Client| {
        phone
            .call_json("backup.archive_ticket", json!({ "backup_id": backup_id }))
            .unwrap()
    };

    // One whole download.
    let t = ticket(&mut phone);
    let url = t["url"].as_str().unwrap().to_owned();
    let full = get(&daemon, &url, None);
    assert_eq!(full.status, 200, "{}", full.head);
    assert_eq!(full.body.len() as u64, t["size"].as_u64().unwrap());
    assert_eq!(
        full.header("content-length"),
        Some(full.body.len().to_string().as_str())
    );
    let filename = t["filename"].as_str().unwrap();
    assert!(
        filename.ends_with(&format!("-{}-v1.idbox", &backup_id[..8])),
        "{filename}"
    );
    assert!(
        full.header("content-disposition")
            .unwrap()
            .contains(filename)
    );
    assert_eq!(full.header("accept-ranges"), Some("bytes"));

    // It verifies, opens with the words, and holds both identities' documents and keys.
    let opened = archive::read(&full.body[..], true).unwrap();
    assert_eq!(opened.manifest.backup_id, backup_id);
    assert_eq!(opened.documents.len(), 2);
    let drill = identity_box::client::drill(&opened, &words).unwrap();
    assert_eq!(drill.identities.len(), 2);
    assert_eq!(drill.keys.len(), 2);
    assert_eq!(drill.peers, 1);

    // Used: the same ticket is gone.
    let again = get(&daemon, &url, None);
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["error"], "ticket_gone");

    // A broken download resumed with Range is byte-identical, and uses the ticket up.
    let url = ticket(&mut phone)["url"].as_str().unwrap().to_owned();
    let first = get(&daemon, &url, Some("bytes=0-1499"));
    assert_eq!(first.status, 206);
    assert_eq!(first.body.len(), 1500);
    assert_eq!(
        first.header("content-range"),
        Some(format!("bytes 0-1499/{}", full.body.len()).as_str())
    );
    let outside = get(&daemon, &url, Some(&format!("bytes={}-", full.body.len())));
    assert_eq!(outside.status, 416);
    let rest = get(&daemon, &url, Some("bytes=1500-"));
    assert_eq!(rest.status, 206);
    let mut joined = first.body.clone();
    joined.extend_from_slice(&rest.body);
    assert!(joined == full.body, "the resumed download differs");
    assert_eq!(get(&daemon, &url, Some("bytes=0-10")).status, 404);

    // What the phone may not have: another version, someone else's backup, a made-up ticket.
    let err = phone
        .call_json(
            "backup.archive_ticket",
            json!({ "backup_id": backup_id, "version": 99 }),
        )
        .unwrap_err();
    assert_eq!(common::kind(err), "backup_not_found");
    let mut stranger = identity_box::client::Client::pair(
        &common::admin_pair_uri(&daemon),
        "stranger",
        common::clock(),
    )
    .unwrap();
    let err = stranger
        .call_json("backup.archive_ticket", json!({ "backup_id": backup_id }))
        .unwrap_err();
    assert_eq!(common::kind(err), "forbidden");
    assert_eq!(get(&daemon, "/v1/archive/AAAA", None).status, 404);

    // `identity-box verify` agrees with the downloaded file.
    let file = dir.path().join(filename);
    std::fs::write(&file, &full.body).unwrap();
    let (code, out, err) = common::verify(&[file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&backup_id), "{out}");
}

fn get_status(daemon: &common::Daemon, session: &str, secret: &str) -> common::Response {
    common::http(
        daemon.addr,
        &format!(
            "GET /v1/extract/{session} HTTP/1.1\r\nHost: localhost\r\n\
             Idbox-Extract-Secret: {secret}\r\nConnection: close\r\n\r\n"
        ),
    )
}

#[test]
fn a_desktop_gets_the_archive_only_after_the_phone_approves() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = common::Daemon::ready(&dir.path().join("box"), &[]);
    let mut phone =
        identity_box::client::Client::pair(&daemon.startup_uri(), "phone", common::clock())
            .unwrap();
    phone.create_identity("Alice").unwrap();

    let start = || {
        let r = common::post_json(daemon.addr, "/v1/extract", &json!({}));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    let s = start();
    let (session, secret) = (
        s["session"].as_str().unwrap(),
        s["secret"].as_str().unwrap(),
    );
    let qr = s["qr"].as_str().unwrap();
    assert!(qr.starts_with("idbox://approve?session="), "{qr}");
    let pending = get_status(&daemon, session, secret);
    assert_eq!(pending.json()["status"], "pending");
    // Without the secret, or with another, the session does not exist.
    assert_eq!(get_status(&daemon, session, "wrong").status, 404);
    assert_eq!(daemon.get(&format!("/v1/extract/{session}")).status, 404);

    // A phone without backups cannot approve; a wrong code is refused; neither answers.
    assert!(matches!(
        phone.approve_extraction(qr, false),
        Err(identity_box::client::ClientError::BackupsOff)
    ));
    let (words, _) = phone.enable_backup().unwrap();
    let wrong = qr.replace("code=", "code=9");
    assert_eq!(
        common::kind(phone.approve_extraction(&wrong, false).unwrap_err()),
        "invalid_params"
    );
    assert_eq!(
        get_status(&daemon, session, secret).json()["status"],
        "pending"
    );

    // A device that is no longer paired cannot approve (nor can any stranger: the channel
    // opens only for paired devices), and the session stays unanswered.
    let mut laptop = identity_box::client::Client::pair(
        &common::admin_pair_uri(&daemon),
        "laptop",
        common::clock(),
    )
    .unwrap();
    laptop.enable_backup().unwrap();
    let laptop_id = laptop.state().device.device_id.clone();
    phone
        .call_json("devices.revoke", json!({ "device_id": laptop_id }))
        .unwrap();
    assert_eq!(
        common::kind(laptop.approve_extraction(qr, false).unwrap_err()),
        "unknown_device"
    );
    assert_eq!(
        get_status(&daemon, session, secret).json()["status"],
        "pending"
    );

    // The phone approves: the desktop gets a single-use URL, and the archive opens.
    let answer = phone.approve_extraction(qr, false).unwrap();
    assert!(answer.approved);
    let approved = get_status(&daemon, session, secret).json();
    assert_eq!(approved["status"], "approved");
    let url = approved["url"].as_str().unwrap();
    let file = get(&daemon, url, None);
    assert_eq!(file.status, 200);
    assert_eq!(file.body.len() as u64, approved["size"].as_u64().unwrap());
    let opened = archive::read(&file.body[..], true).unwrap();
    assert_eq!(
        identity_box::client::drill(&opened, &words)
            .unwrap()
            .identities
            .len(),
        1
    );
    assert_eq!(get(&daemon, url, None).status, 404, "single use");
    // An answered session cannot be answered again.
    assert_eq!(
        common::kind(phone.approve_extraction(qr, true).unwrap_err()),
        "invalid_params"
    );

    // Refused: the desktop is told, and gets no URL.
    let s = start();
    let qr = s["qr"].as_str().unwrap();
    assert!(!phone.approve_extraction(qr, true).unwrap().approved);
    let refused = get_status(
        &daemon,
        s["session"].as_str().unwrap(),
        s["secret"].as_str().unwrap(),
    )
    .json();
    assert_eq!(refused["status"], "refused");
    assert!(refused.get("url").is_none());
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("did not allow")
    );

    // An unknown session: the phone hears it is gone.
    let gone = identity_box::extract::approve_uri("AAAAAAAAAAAAAAAAAAAAAA", "12345678");
    assert_eq!(
        common::kind(phone.approve_extraction(&gone, false).unwrap_err()),
        "not_found"
    );
}

/// `identity-box extract --json` against `daemon`, saving into `usb`; its stdout lines.
fn spawn_extract(
    daemon: &common::Daemon,
    usb: &Path,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead;
    let mut child = Command::new(common::BIN)
        .args(["extract", "--json", "--box"])
        .arg(format!("http://{}", daemon.addr))
        .arg("--out")
        .arg(usb)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

#[test]
fn the_extract_command_saves_a_checked_archive_once_the_phone_approves() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = common::Daemon::ready(&dir.path().join("box"), &[]);
    let mut phone =
        identity_box::client::Client::pair(&daemon.startup_uri(), "phone", common::clock())
            .unwrap();
    phone.create_identity("Alice").unwrap();
    phone.create_identity("Bob").unwrap();
    let (words, _) = phone.enable_backup().unwrap();
    let usb = dir.path().join("usb");
    std::fs::create_dir(&usb).unwrap();

    let (mut child, mut lines) = spawn_extract(&daemon, &usb);
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let qr = first["approve"].as_str().unwrap();
    // Nothing is saved before the phone says yes.
    assert_eq!(std::fs::read_dir(&usb).unwrap().count(), 0);
    phone.approve_extraction(qr, false).unwrap();
    let last: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{last}");
    let saved = &last["saved"];
    let path = PathBuf::from(saved["path"].as_str().unwrap());
    assert_eq!(path.parent().unwrap(), usb);
    assert_eq!(saved["identities"].as_array().unwrap().len(), 2);
    // Only the finished file is left, and it opens with the words.
    let names: Vec<_> = std::fs::read_dir(&usb)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, saved["size"].as_u64().unwrap());
    let opened = archive::read(&bytes[..], true).unwrap();
    assert_eq!(
        identity_box::client::drill(&opened, &words)
            .unwrap()
            .keys
            .len(),
        2
    );

    // Refused by the phone: a clear error, and no file.
    let (child, mut lines) = spawn_extract(&daemon, &usb);
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    phone
        .approve_extraction(first["approve"].as_str().unwrap(), true)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not allow"), "{err}");
    assert_eq!(std::fs::read_dir(&usb).unwrap().count(), 1);

    // Ctrl-C while waiting for the phone: a clean stop, nothing saved.
    let (child, mut lines) = spawn_extract(&daemon, &usb);
    let _waiting: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cancelled"));
    assert_eq!(std::fs::read_dir(&usb).unwrap().count(), 1);

    // No box there: a clear error.
    let out = Command::new(common::BIN)
        .args(["extract", "--box", "http://127.0.0.1:9", "--out"])
        .arg(&usb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the box"));
}

#[test]
fn an_archive_restores_a_factory_reset_box() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = common::Daemon::ready(&dir.path().join("box"), &[]);
    let mut phone =
        identity_box::client::Client::pair(&daemon.startup_uri(), "phone", common::clock())
            .unwrap();
    let mut dids = Vec::new();
    for name in ["Alice", "Bob"] {
        dids.push(phone.create_identity(name).unwrap().did);
    }
    phone.add_peer(&dids[0], "me").unwrap();
    let (words, _) = phone.enable_backup().unwrap();
    let backup_id = phone.state().backup.as_ref().unwrap().backup_id.clone();
    let url = phone
        .call_json("backup.archive_ticket", json!({ "backup_id": backup_id }))
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = get(&daemon, &url, None).body;
    let file = dir.path().join("backup.idbox");
    std::fs::write(&file, &bytes).unwrap();
    let words_file = dir.path().join("words.txt");
    std::fs::write(&words_file, words.as_str()).unwrap();
    let before = archive::read(&bytes[..], true).unwrap();
    let resolve =
        |daemon: &common::Daemon, did: &str| daemon.get(&format!("/1.0/identifiers/{did}"));
    let docs_before: Vec<Value> = dids
        .iter()
        .map(|d| resolve(&daemon, d).json()["didDocument"].clone())
        .collect();

    // The box is reset: nothing of it is left.
    let out = common::admin_command(&["factory-reset", "--yes"], &daemon.data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.wait_ready_again();
    assert_eq!(resolve(&daemon, &dids[0]).status, 404);

    // Wrong words restore nothing.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, mnemonic::words(&Secret32::new([5; 32])).as_str()).unwrap();
    let restore = |words: &Path, state: &Path| {
        Command::new(common::BIN)
            .arg("restore")
            .arg(&file)
            .arg("--box")
            .arg(common::admin_pair_uri(&daemon))
            .arg("--mnemonic-file")
            .arg(words)
            .arg("--state")
            .arg(state)
            .arg("--json")
            .output()
            .unwrap()
    };
    let out = restore(&other, &dir.path().join("desk0.json"));
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(resolve(&daemon, &dids[0]).status, 404);

    // The right words: the same DIDs resolve to the same documents, the keys and the bundle
    // are back.
    let desk = dir.path().join("desk.json");
    let out = restore(&words_file, &desk);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["keys_restored"].as_array().unwrap().len(), 2);
    for (did, doc) in dids.iter().zip(&docs_before) {
        let now = resolve(&daemon, did);
        assert_eq!(now.status, 200, "{did}");
        assert_eq!(&now.json()["didDocument"], doc, "{did}");
    }
    let mut desk_client = identity_box::client::Client::load(&desk, common::clock()).unwrap();
    let fetched = desk_client
        .call_json("backup.fetch", json!({ "backup_id": backup_id }))
        .unwrap();
    assert_eq!(
        crypto::b64u_decode(fetched["bundle"].as_str().unwrap()).unwrap(),
        before.bundle.clone().unwrap(),
        "the bundle, byte for byte"
    );
    let secrets = BackupSecrets::from_entropy(&mnemonic::parse(&words).unwrap());
    let keys = SealedKeys::open(
        &secrets.recipient,
        &crypto::b64u_decode(fetched["sealed_keys"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let old_keys =
        SealedKeys::open(&secrets.recipient, before.sealed_keys.as_ref().unwrap()).unwrap();
    let seeds = |k: &SealedKeys| {
        let mut v: Vec<(String, String)> = k
            .identities
            .iter()
            .map(|i| (i.did.clone(), hex::encode(i.secret().unwrap().expose())))
            .collect();
        v.sort();
        v
    };
    assert_eq!(seeds(&keys), seeds(&old_keys));

    // A new archive of the restored box verifies, and holds the same documents.
    let url = desk_client
        .call_json("backup.archive_ticket", json!({ "backup_id": backup_id }))
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let again = archive::read(&get(&daemon, &url, None).body[..], true).unwrap();
    assert_eq!(again.documents, before.documents);
    assert_eq!(again.bundle, before.bundle);
}
