//! Discovery by mDNS (protocol §8): after the box's address changes, the client finds it again by
//! its fingerprint. Runs in a network namespace of its own (loopback only, multicast on), so no
//! packet reaches the machine's real network. Needs root and iproute2 (`ip netns`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::process::Command;

use common::netns::Netns;
use common::{BIN, Daemon, Started, config_file};
use serde_json::Value;

/// Adds an Ethernet-like link (a veth pair, both ends in this namespace) with addresses:
/// libp2p's mDNS ignores loopback, and multicast sent on the link loops back to the
/// namespace's own listeners.
fn with_lan(ns: Netns) -> Netns {
    for args in [
        vec![
            "link", "add", "lan0", "type", "veth", "peer", "name", "lan1",
        ],
        vec!["addr", "add", "10.99.0.1/24", "dev", "lan0"],
        vec!["addr", "add", "10.99.0.2/24", "dev", "lan1"],
        vec!["link", "set", "lan0", "up"],
        vec!["link", "set", "lan1", "up"],
    ] {
        ns.ip(&args);
    }
    ns
}

#[test]
fn the_client_finds_the_box_by_mdns_after_its_address_changed() {
    let ns = Netns::new();
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(
        dir.path(),
        "[mdns]\nenabled = true\ninterfaces = [\"lo\"]\n",
    );
    let data = dir.path().join("box");
    let args = ["--config", config.to_str().unwrap()];
    let env = [("IDENTITY_BOX_MDNS__ENABLED", "true")];
    let start = || match Daemon::start_in(&ns.prefix(), &data, &args, &env) {
        Started::Ready(d) => d,
        Started::Failed(status, err) => panic!("daemon failed ({status}): {err}"),
    };
    let client = |args: &[&str]| {
        let state = dir.path().join("phone.json");
        let prefix = ns.prefix();
        let out = Command::new(prefix[0])
            .args(&prefix[1..])
            .arg(BIN)
            .args(["client", "--state"])
            .arg(&state)
            .args(["--mdns-interface", "lo", "--json"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };

    let mut first = start();
    client(&["pair", &first.startup_uri()]);
    let old_addr = first.addr;
    assert!(first.terminate().success());

    // The box comes back at another address (here: another port).
    let second = start();
    assert_ne!(second.addr, old_addr);
    let info = client(&["info"]);
    assert_eq!(info["devices"], 1);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("phone.json")).unwrap())
            .unwrap();
    assert_eq!(state["box"]["addrs"][0], second.addr.to_string());
}

/// Two boxes on one network find each other's IPFS node by mDNS (nothing configured) and the
/// second resolves a DID the first created.
#[test]
fn two_boxes_peer_by_mdns_and_resolve_each_others_dids() {
    let ns = with_lan(Netns::new());
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("IDENTITY_BOX_IPFS__MDNS", "true"),
        ("IDENTITY_BOX_IPFS__LISTEN", "[\"/ip4/0.0.0.0/tcp/0\"]"),
    ];
    let start = |name: &str| match Daemon::start_in(&ns.prefix(), &dir.path().join(name), &[], &env)
    {
        Started::Ready(d) => d,
        Started::Failed(status, err) => panic!("daemon {name} failed ({status}): {err}"),
    };
    let client = |phone: &str, args: &[&str]| {
        let prefix = ns.prefix();
        let out = Command::new(prefix[0])
            .args(&prefix[1..])
            .arg(BIN)
            .args(["client", "--json", "--state"])
            .arg(dir.path().join(phone))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let box_a = start("a");
    let box_b = start("b");
    assert!(client("a.json", &["pair", &box_a.startup_uri()]).0);
    assert!(client("b.json", &["pair", &box_b.startup_uri()]).0);
    let (ok, created, err) = client("a.json", &["identity", "create", "Alice"]);
    assert!(ok, "{err}");
    let did = created["did"].as_str().unwrap();

    // mDNS announcements repeat; the DHT record follows the connection.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (ok, resolved, err) = client("b.json", &["resolve", did]);
        if ok {
            assert_eq!(resolved["document"], created["document"]);
            assert_eq!(resolved["metadata"]["local"], false);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "box B never resolved: {err}\n--- A's log:\n{}\n--- B's log:\n{}",
            box_a.stderr(),
            box_b.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (_, info, _) = client("b.json", &["info"]);
    assert!(info["ipfs_peers"].as_u64().unwrap() >= 1, "{info}");
}
