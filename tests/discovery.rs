//! Discovery by mDNS (SPEC §8): after the box's address changes, the client finds it again by
//! its fingerprint. Runs in a network namespace of its own (loopback only, multicast on), so no
//! packet reaches the machine's real network. Needs root and iproute2 (`ip netns`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{BIN, Daemon, Started, config_file};
use serde_json::Value;

/// A network namespace with only a multicast-capable loopback; deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("idbox-test-{}", std::process::id());
        let ip = |args: &[&str]| {
            let out = Command::new("ip")
                .args(args)
                .output()
                .expect("iproute2 (ip) is needed");
            assert!(
                out.status.success(),
                "ip {args:?}: {} (this test needs root)",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ip(&["netns", "add", &name]);
        let ns = Netns(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.0, "link", "set", "lo", "multicast", "on"]);
        ns
    }

    fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.0]
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
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
