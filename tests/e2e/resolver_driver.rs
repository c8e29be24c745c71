//! The box as the `did:ipid` driver of a DIF Universal Resolver (docs/universal-resolver.md):
//! `packaging/universal-resolver/config.toml`, asked as the Universal Resolver asks its drivers,
//! resolves a DID of another box. On 127.0.0.1: the test switches the file's `public` network to
//! `lan`, with the other box as the only bootstrap peer.

use serde_json::Value;

use crate::common::{Daemon, Response, http, ipfs_addrs, owner};

const DRIVER_CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/universal-resolver/config.toml"
);

fn ask(driver: &Daemon, host: &str, did: &str, accept: &str) -> Response {
    http(
        driver.addr,
        &format!(
            "GET /1.0/identifiers/{did} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\n\
             Connection: close\r\n\r\n"
        ),
    )
}

#[test]
fn the_universal_resolvers_driver_configuration_resolves_another_boxs_did() {
    let dir = tempfile::tempdir().unwrap();
    let home = Daemon::ready(&dir.path().join("home"), &[]);
    let mut phone = owner(&home);
    let alice = phone.create_identity("Alice").unwrap();
    let bootstrap = serde_json::to_string(&ipfs_addrs(&home.data_dir)).unwrap();

    let driver = Daemon::start_with_env(
        &dir.path().join("driver"),
        &["--config", DRIVER_CONFIG],
        &[
            ("IDENTITY_BOX_IPFS__NETWORK", "lan"),
            ("IDENTITY_BOX_IPFS__BOOTSTRAP", bootstrap.as_str()),
        ],
    )
    .expect_ready();

    // What the Universal Resolver sends (its driver guide: Accept application/json+ld), and
    // the DID resolution profile: the resolution result.
    for accept in [
        "application/json+ld",
        "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
    ] {
        let r = ask(&driver, "driver-did-ipid:8080", &alice.did, accept);
        assert_eq!(
            r.status,
            200,
            "{accept}: {}\n--- the home box's log:\n{}\n--- the driver's log:\n{}",
            String::from_utf8_lossy(&r.body),
            home.stderr(),
            driver.stderr()
        );
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.contains("w3id.org/did-resolution")),
            "{}",
            r.head
        );
        let result: Value = r.json();
        assert_eq!(result["didDocument"], alice.document);
        assert_eq!(result["didDocumentMetadata"]["cid"], alice.cid.as_str());
        assert_eq!(result["didDocumentMetadata"]["versionId"], "0");
    }
    // The document alone, when that is what is asked for.
    let r = ask(
        &driver,
        "driver-did-ipid:8080",
        &alice.did,
        "application/did+ld+json",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/did+ld+json"));
    assert_eq!(r.json(), alice.document);

    // The driver fetched Alice's document to resolve it, but its gateway serves only its own
    // DIDs' documents: nobody learns from a box what its household looked up. Alice's box does.
    let block = |d: &Daemon| {
        http(
            d.addr,
            &format!(
                "GET /ipfs/{}?format=raw HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                alice.cid
            ),
        )
        .status
    };
    assert_eq!((block(&home), block(&driver)), (200, 404));

    // Not a did:ipid, and a host name the configuration does not name.
    let r = ask(
        &driver,
        "driver-did-ipid:8080",
        "did:web:example.com",
        "application/json+ld",
    );
    assert_eq!(
        (r.status, r.json()["didResolutionMetadata"]["error"].clone()),
        (400, "invalidDid".into())
    );
    let r = ask(
        &driver,
        "resolver.example:8080",
        &alice.did,
        "application/json+ld",
    );
    assert_eq!(r.status, 421, "{}", r.head);
}
