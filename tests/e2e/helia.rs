//! Interop with other IPFS and DID implementations, on 127.0.0.1 only (issue 18): Helia 7 (the
//! JavaScript IPFS node) with the box as its only peer, `@helia/verified-fetch` against the
//! box's gateway routes, Veramo's universal-resolver driver and did-jwt against its resolver.
//! The programs are in `tests/interop/helia/` (its README says what each does); `run.sh`
//! installs their pinned npm packages (with Node 22) the first time. Needs npm.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::Signer as _;
use serde_json::{Value, json};

use identity_box::crypto::b64u;

use crate::common::{Daemon, ipfs_addrs, owner};

const RUN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/helia/run.sh");

/// Runs a script; its last stdout line is its JSON answer. `Err` with that answer (or the
/// output) when it fails.
fn script(name: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(RUN).arg(name).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    match serde_json::from_str::<Value>(last) {
        Ok(v) if out.status.success() => Ok(v),
        _ => Err(format!(
            "{name} {args:?} failed ({}): {stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

fn box_addr(daemon: &Daemon) -> String {
    ipfs_addrs(&daemon.data_dir).remove(0)
}

fn name_of(did: &str) -> String {
    did.strip_prefix("did:ipid:").unwrap().to_owned()
}

#[test]
fn helia_resolves_a_box_did_over_the_dht_and_fetches_its_document_over_bitswap() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let alice = phone.create_identity("Alice").unwrap();
    let peer = box_addr(&daemon);
    let peer_id_name = peer.rsplit('/').next().unwrap().to_owned();

    let found = script(
        "resolve.mjs",
        &["--peer", &peer, "--name", &name_of(&alice.did)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(found["value"], format!("/ipfs/{}", alice.cid));
    assert_eq!(found["sequence"], alice.seq);
    assert_eq!(found["record_valid"], true);
    assert_eq!(found["has_signature_v1"], true);
    assert_eq!(found["has_signature_v2"], true);
    assert_eq!(found["document"], alice.document);
    assert_ne!(
        peer_id_name,
        name_of(&alice.did),
        "the DID is not the node's own name"
    );
}

#[test]
fn helia_finds_the_box_as_provider_of_a_document_it_was_never_told_about() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let alice = phone.create_identity("Alice").unwrap();
    let peer = box_addr(&daemon);
    let box_peer = peer.rsplit('/').next().unwrap();

    // Over kubo's LAN DHT, where a kubo node on the household's network looks (its public DHT
    // ignores peers without public addresses), and over the main DHT.
    for protocol in ["/ipfs/lan/kad/1.0.0", "/ipfs/kad/1.0.0"] {
        let found = script(
            "lan_provider.mjs",
            &["--peer", &peer, "--cid", &alice.cid, "--protocol", protocol],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let providers: Vec<&str> = found["providers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(providers, vec![box_peer], "{protocol}: {found}");
    }
}

#[test]
fn the_box_resolves_a_name_that_helia_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let peer = box_addr(&daemon);

    let log = dir.path().join("publish.log");
    let mut helia = Command::new(RUN)
        .args(["publish.mjs", "--peer", &peer])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(helia.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let published: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        panic!(
            "publish.mjs printed {line:?}: {e}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    assert!(published.get("error").is_none(), "{published}");
    let did = format!("did:ipid:{}", published["name"].as_str().unwrap());

    // A minimal DID document (only its id): the box resolves any conforming document.
    let resolved = phone
        .call_json("did.resolve", json!({ "did": did }))
        .unwrap();
    assert_eq!(resolved["metadata"]["local"], false, "{resolved}");
    assert_eq!(resolved["metadata"]["cid"], published["cid"]);
    assert_eq!(resolved["document"]["id"], did.as_str());
    // Its gateway hands out Helia's record, which Helia signed.
    let record = crate::common::http(
        daemon.addr,
        &format!(
            "GET /routing/v1/ipns/{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            published["peer_id_name"].as_str().unwrap()
        ),
    );
    assert_eq!(record.status, 200, "{}", record.head);
    let name: identity_box::ipfs::IpnsName = published["name"].as_str().unwrap().parse().unwrap();
    let info =
        identity_box::ipfs::record::verify(&name, &record.body, chrono::Utc::now().timestamp())
            .unwrap();
    assert_eq!(
        info.value,
        format!("/ipfs/{}", published["cid"].as_str().unwrap())
    );

    drop(helia.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(20);
    while helia.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "publish.mjs did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn verified_fetch_checks_a_box_did_document_through_the_gateway_routes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let alice = phone.create_identity("Alice").unwrap();
    let gateway = format!("http://{}", daemon.addr);

    let fetched = script(
        "verified_fetch.mjs",
        &["--gateway", &gateway, "--name", &name_of(&alice.did)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fetched["status"], 200, "{fetched}");
    assert_eq!(fetched["document"], alice.document);
}

/// A compact JWT (EdDSA) signed with the phone's `#signing-key` of `did`.
fn jwt(did: &str, seed: &[u8; 32], payload: &Value) -> String {
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": format!("{did}#signing-key") });
    let input = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(payload.to_string().as_bytes())
    );
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64u(&signature.to_bytes()))
}

#[test]
fn veramo_resolves_a_box_did_and_did_jwt_verifies_what_the_phone_signed() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let alice = phone.create_identity("Alice").unwrap();
    let seed = *phone
        .state()
        .identities
        .iter()
        .find(|i| i.did == alice.did)
        .unwrap()
        .signing_secret
        .expose();
    let resolver = format!("http://{}/1.0/identifiers/", daemon.addr);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "iss": alice.did, "sub": alice.did, "iat": now, "exp": now + 600,
        "msg": "hello from Alice's phone" });
    let token = jwt(&alice.did, &seed, &claims);

    let out = script(
        "did_tools.mjs",
        &[
            "--resolver",
            &resolver,
            "--did",
            &alice.did,
            "--jwt",
            &token,
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out["didDocument"], alice.document);
    assert_eq!(out["jwt"]["verified"], true, "{out}");
    assert_eq!(out["jwt"]["issuer"], alice.did.as_str());
    assert_eq!(out["jwt"]["payload"]["msg"], "hello from Alice's phone");

    // Signed by another key: did-jwt finds no key of the DID that made it.
    let forged = jwt(&alice.did, &[7; 32], &claims);
    let err = script(
        "did_tools.mjs",
        &[
            "--resolver",
            &resolver,
            "--did",
            &alice.did,
            "--jwt",
            &forged,
        ],
    )
    .unwrap_err();
    assert!(err.contains("invalid_signature"), "{err}");
}
