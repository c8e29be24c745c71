//! DIDs end to end (protocol §4): identities created through the channel, their documents and
//! signed IPNS records, resolution on the box and between two boxes, restarts, and ownership.
//! Records are checked by `tests/interop/ipns_check.py`, an IPNS verifier that shares no code
//! with the box (PyNaCl only).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, Daemon, ipfs_addrs, kind, member, owner};
use identity_box::client::Client;
use identity_box::identity::Did;
use identity_box::identity::document::{check_shape, multikey_ed25519, multikey_x25519};
use serde_json::{Value, json};

/// The first phone of a fresh box (its owner).
/// Runs the independent IPNS checker and parses its JSON answer.
fn python(args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/ipns_check.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ipns_check.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.trim()).unwrap_or(Value::String(text.trim().to_owned()))
}

/// Verifies a resolution's record with the Python checker: signed by the DID's key, pointing
/// at the document's CID (recomputed from the document itself), with the given sequence.
fn check_record_independently(did: &str, resolution: &Value, seq: u64) {
    let name = did.strip_prefix("did:ipid:").unwrap();
    let record = resolution["metadata"]["ipns_record"].as_str().unwrap();
    let checked = python(&["record", name, record]);
    let cid = python(&["cid", &resolution["document"].to_string()]);
    assert_eq!(
        checked["value"],
        json!(format!("/ipfs/{}", cid.as_str().unwrap()))
    );
    assert_eq!(resolution["metadata"]["cid"], cid);
    assert_eq!(checked["seq"], json!(seq));
}

fn resolve_public(daemon: &Daemon, did: &str) -> common::Response {
    daemon.get(&format!("/1.0/identifiers/{did}"))
}

#[test]
fn identities_are_created_published_resolved_updated_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);

    let created = phone.create_identity("Alice").unwrap();
    let did = created.did.clone();
    let parsed: Did = did.parse().unwrap();
    assert_eq!(created.ipns_name, parsed.ipns_name().to_string());
    assert!(did.starts_with("did:ipid:k51"), "{did}");
    assert_eq!(created.seq, 0);
    assert_eq!(created.name, "Alice");

    // The document lists the keys this phone made, and has DID Core's shape.
    let doc = &created.document;
    check_shape(&parsed, doc).unwrap();
    let own = &phone.state().identities[0];
    assert_eq!(own.did, did);
    let keys = own.keys_param();
    let signing: [u8; 32] = identity_box::crypto::b64u_decode(&keys.signing)
        .unwrap()
        .try_into()
        .unwrap();
    let agreement: [u8; 32] = identity_box::crypto::b64u_decode(&keys.agreement)
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        doc["verificationMethod"][0]["publicKeyMultibase"],
        json!(multikey_ed25519(&signing))
    );
    assert_eq!(
        doc["verificationMethod"][1]["publicKeyMultibase"],
        json!(multikey_x25519(&agreement))
    );
    assert_eq!(
        doc["@context"],
        json!([
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1"
        ])
    );

    // Resolution through the channel gives the same document and a record another
    // implementation accepts.
    let resolved = phone
        .call_json("did.resolve", json!({ "did": did }))
        .unwrap();
    assert_eq!(&resolved["document"], doc);
    assert_eq!(resolved["metadata"]["local"], json!(true));
    assert_eq!(resolved["metadata"]["deactivated"], json!(false));
    check_record_independently(&did, &resolved, 0);

    // The public resolver, in the Universal Resolver driver's shape.
    let public = resolve_public(&daemon, &did);
    assert_eq!(public.status, 200);
    assert!(
        public.head.to_lowercase().contains("did-resolution"),
        "{}",
        public.head
    );
    let body = public.json();
    assert_eq!(&body["didDocument"], doc);
    assert_eq!(
        body["didResolutionMetadata"]["contentType"],
        "application/did+ld+json"
    );
    assert_eq!(body["didDocumentMetadata"]["versionId"], "0");
    assert!(
        body["didDocumentMetadata"]["created"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );

    // Listing and getting.
    let list = phone.call_json("identity.list", json!({})).unwrap();
    assert_eq!(list["identities"].as_array().unwrap().len(), 1);
    assert_eq!(list["identities"][0]["did"], json!(did));
    let got = phone
        .call_json("identity.get", json!({ "did": did }))
        .unwrap();
    assert_eq!(&got["document"], doc);
    assert_eq!(
        phone.call_json("box.info", json!({})).unwrap()["identities"],
        1
    );

    // An update publishes a new value with a higher sequence number.
    let services = json!([{ "id": "#home", "type": "LinkedDomains", "serviceEndpoint": "https://alice.example/" }]);
    let updated = phone
        .call_json(
            "identity.update",
            json!({ "did": did, "services": services }),
        )
        .unwrap();
    assert_eq!(updated["seq"], json!(1));
    assert_ne!(updated["cid"], json!(created.cid));
    assert_eq!(
        updated["document"]["service"][0]["id"],
        json!(format!("{did}#home"))
    );
    let resolved = phone
        .call_json("did.resolve", json!({ "did": did }))
        .unwrap();
    check_record_independently(&did, &resolved, 1);
    // The same value again is not a new value.
    let same = phone
        .call_json(
            "identity.update",
            json!({ "did": did, "services": services }),
        )
        .unwrap();
    assert_eq!(same["seq"], json!(1));
    // New keys: another new value.
    let rekeyed = phone
        .call_json(
            "identity.update",
            json!({ "did": did, "keys": {
                "signing": identity_box::crypto::b64u(
                    ed25519_dalek::SigningKey::from_bytes(&[4; 32]).verifying_key().as_bytes()),
                "agreement": keys.agreement } }),
        )
        .unwrap();
    assert_eq!(rekeyed["seq"], json!(2));

    // Deletion publishes the deactivated document first, then the key is gone.
    let deleted = phone.delete_identity(&did).unwrap();
    assert_eq!(json!(deleted), json!({ "did": did, "deleted": true }));
    assert!(phone.state().identities.is_empty());
    let resolved = phone
        .call_json("did.resolve", json!({ "did": did }))
        .unwrap();
    assert_eq!(
        resolved["document"],
        json!({ "id": did, "deactivated": true })
    );
    assert_eq!(resolved["metadata"]["deactivated"], json!(true));
    check_record_independently(&did, &resolved, 3);
    let gone = resolve_public(&daemon, &did);
    assert_eq!(gone.status, 410);
    assert_eq!(
        gone.json()["didDocumentMetadata"]["deactivated"],
        json!(true)
    );
    assert_eq!(
        kind(
            phone
                .call_json("identity.update", json!({ "did": did, "services": [] }))
                .unwrap_err()
        ),
        "not_found"
    );
    assert_eq!(
        kind(
            phone
                .call_json("identity.delete", json!({ "did": did }))
                .unwrap_err()
        ),
        "not_found"
    );
    assert!(
        phone.call_json("identity.list", json!({})).unwrap()["identities"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn another_device_cannot_read_change_or_delete_an_identity() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut a = owner(&daemon);
    let mut b = member(&mut a, "Phone B");
    let did = a.create_identity("Alice").unwrap().did;

    for (method, params) in [
        ("identity.get", json!({ "did": did })),
        ("identity.update", json!({ "did": did, "services": [] })),
        ("identity.delete", json!({ "did": did })),
    ] {
        assert_eq!(
            kind(b.call_json(method, params).unwrap_err()),
            "forbidden",
            "{method}"
        );
    }
    // B sees none of A's identities as its own, but anyone may resolve the DID.
    assert!(
        b.call_json("identity.list", json!({})).unwrap()["identities"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let resolved = b.call_json("did.resolve", json!({ "did": did })).unwrap();
    assert_eq!(resolved["metadata"]["seq"], json!(0));
    // Nothing changed.
    assert_eq!(
        a.call_json("identity.get", json!({ "did": did })).unwrap()["seq"],
        json!(0)
    );
}

#[test]
fn bad_dids_keys_and_unknown_names_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);

    for bad in [
        "did:web:example.com",
        "did:ipid:k51nope",
        "",
        "k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq",
    ] {
        assert_eq!(
            kind(
                phone
                    .call_json("did.resolve", json!({ "did": bad }))
                    .unwrap_err()
            ),
            "invalid_params",
            "{bad:?}"
        );
    }
    let bad = resolve_public(&daemon, "did:ipid:k51nope");
    assert_eq!(bad.status, 400);
    let body = bad.json();
    assert_eq!(body["error"], "invalidDid");
    assert_eq!(body["didResolutionMetadata"]["error"], "invalidDid");
    assert!(body["didDocument"].is_null());
    assert!(!body["message"].as_str().unwrap().is_empty());

    // A valid name nobody published: not found (this box has no peers to ask).
    let unknown = "did:ipid:k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq";
    assert_eq!(
        kind(
            phone
                .call_json("did.resolve", json!({ "did": unknown }))
                .unwrap_err()
        ),
        "not_found"
    );
    let missing = resolve_public(&daemon, unknown);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["didResolutionMetadata"]["error"], "notFound");
    assert_eq!(
        kind(
            phone
                .call_json("identity.get", json!({ "did": unknown }))
                .unwrap_err()
        ),
        "not_found"
    );

    // Keys that are not usable, names that are not names, services that are not services.
    let good_ed = identity_box::crypto::b64u(
        ed25519_dalek::SigningKey::from_bytes(&[4; 32])
            .verifying_key()
            .as_bytes(),
    );
    let zero = identity_box::crypto::b64u(&[0; 32]);
    for params in [
        json!({ "name": "A", "keys": { "signing": good_ed, "agreement": zero } }),
        json!({ "name": "A", "keys": { "signing": zero, "agreement": good_ed } }),
        json!({ "name": "", "keys": { "signing": good_ed, "agreement": good_ed } }),
        json!({ "name": "A" }),
        json!({ "name": "A", "keys": { "signing": good_ed, "agreement": good_ed },
                "services": [{ "id": "home", "type": "X", "serviceEndpoint": "https://a/" }] }),
        json!({ "name": "A", "keys": { "signing": good_ed, "agreement": good_ed }, "extra": 1 }),
    ] {
        assert_eq!(
            kind(
                phone
                    .call_json("identity.create", params.clone())
                    .unwrap_err()
            ),
            "invalid_params",
            "{params}"
        );
    }
    assert_eq!(
        phone.call_json("box.info", json!({})).unwrap()["identities"],
        0
    );
}

#[test]
fn identities_survive_a_restart_and_are_republished() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let did = phone.create_identity("Alice").unwrap().did;
    phone
        .call_json(
            "identity.update",
            json!({ "did": did, "services": [
            { "id": "#a", "type": "X", "serviceEndpoint": "https://a.example/" }] }),
        )
        .unwrap();
    let before = phone
        .call_json("did.resolve", json!({ "did": did }))
        .unwrap();
    assert!(daemon.terminate().success());
    drop(daemon);
    // Lose the IPFS repository too: the database holds what is needed to put it back.
    std::fs::remove_dir_all(dir.path().join("ipfs")).unwrap();

    let daemon = Daemon::ready(dir.path(), &[]);
    // The box came back on another port (tests listen on port 0).
    phone.prefer_addrs(vec![daemon.addr.to_string()]);
    let stderr_has_republish = || {
        daemon
            .stderr()
            .contains("republished the records of 1 identity")
    };
    let after = phone
        .call_json("did.resolve", json!({ "did": did }))
        .unwrap();
    assert_eq!(after["document"], before["document"]);
    assert_eq!(after["metadata"]["seq"], json!(1));
    check_record_independently(&did, &after, 1);
    assert_eq!(
        phone.call_json("identity.list", json!({})).unwrap()["identities"][0]["did"],
        json!(did)
    );
    // The start republished the record (the log line comes from the task that did it).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stderr_has_republish() {
        assert!(
            Instant::now() < deadline,
            "no republish: {}",
            daemon.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The DHT kept nothing across the restart (it lives in memory): a second box finds the
    // DID only because the start republished the record and put the document back.
    let dir_b = tempfile::tempdir().unwrap();
    let box_b = start_peer(dir_b.path(), dir.path());
    let mut phone_b = owner(&box_b);
    let on_b = resolve_until(&mut phone_b, &did, |r| r["metadata"]["seq"] == json!(1));
    assert_eq!(on_b["document"], before["document"]);
    assert_eq!(on_b["metadata"]["local"], json!(false));

    let next = phone
        .call_json("identity.update", json!({ "did": did, "services": [] }))
        .unwrap();
    assert_eq!(next["seq"], json!(2));
}

/// Starts a box whose IPFS node dials the node of the box running in `peer_dir`.
fn start_peer(data_dir: &Path, peer_dir: &Path) -> Daemon {
    let bootstrap = format!("[\"{}\"]", ipfs_addrs(peer_dir).remove(0));
    match Daemon::start_with_env(
        data_dir,
        &[],
        &[("IDENTITY_BOX_IPFS__BOOTSTRAP", bootstrap.as_str())],
    ) {
        common::Started::Ready(d) => d,
        common::Started::Failed(status, err) => panic!("second box failed ({status}): {err}"),
    }
}

/// Resolves on a box until `done` holds for the answer (the other box's record travels through
/// the DHT in the background), or fails after a deadline.
fn resolve_until(phone: &mut Client, did: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match phone.call_json("did.resolve", json!({ "did": did })) {
            Ok(r) if done(&r) => return r,
            other => assert!(Instant::now() < deadline, "never resolved: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_second_box_resolves_a_did_of_the_first_and_sees_its_updates() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let box_a = Daemon::ready(dir_a.path(), &[]);
    let box_b = start_peer(dir_b.path(), dir_a.path());
    let mut phone_a = owner(&box_a);
    let mut phone_b = owner(&box_b);
    assert!(
        phone_b.call_json("box.info", json!({})).unwrap()["ipfs_peers"]
            .as_u64()
            .unwrap()
            >= 1
    );

    let created = phone_a.create_identity("Alice").unwrap();
    let did = created.did.clone();
    let on_b = resolve_until(&mut phone_b, &did, |r| r["metadata"]["seq"] == json!(0));
    assert_eq!(on_b["document"], created.document);
    assert_eq!(on_b["metadata"]["local"], json!(false));
    check_record_independently(&did, &on_b, 0);

    let updated = phone_a
        .call_json("identity.update", json!({ "did": did, "services": [
            { "id": "#inbox", "type": "DIDCommMessaging", "serviceEndpoint": "https://alice.example/inbox" }] }))
        .unwrap();
    let on_b = resolve_until(&mut phone_b, &did, |r| r["metadata"]["seq"] == json!(1));
    assert_eq!(on_b["document"], updated["document"]);
    check_record_independently(&did, &on_b, 1);

    // The public resolver of box B answers for box A's DID too.
    let public = resolve_public(&box_b, &did);
    assert_eq!(public.status, 200);
    assert_eq!(public.json()["didDocument"], updated["document"]);
}

#[test]
fn the_client_cli_creates_lists_and_deletes_identities() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let state = dir.path().join("phone.json");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["client", "--json", "--state"])
            .arg(&state)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    run(&["pair", &daemon.startup_uri()]);
    let created = run(&["identity", "create", "Work"]);
    let did = created["did"].as_str().unwrap();
    // The phone kept the private keys of the document's keys.
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["identities"][0]["did"], json!(did));
    assert_eq!(saved["identities"][0]["name"], "Work");
    assert!(
        saved["identities"][0]["signing_secret"]
            .as_str()
            .unwrap()
            .len()
            >= 43
    );
    let listed = run(&["identity", "list"]);
    assert_eq!(listed["identities"][0]["did"], json!(did));
    let resolved = run(&["resolve", did]);
    assert_eq!(resolved["document"], created["document"]);
    run(&["identity", "delete", did]);
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(saved["identities"].as_array().unwrap().is_empty());
    assert!(
        run(&["identity", "list"])["identities"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
