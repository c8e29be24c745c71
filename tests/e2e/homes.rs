//! Across homes (protocol §4, "Across homes"): boxes behind home routers reach each other
//! through a relay, and directly where the routers let a hole punch through.
//!
//! A small internet of the test's own, in network namespaces: a bridge ("the internet", on
//! 11.1.0.0/24: addresses that count as public, since libp2p's AutoNAT and the box treat the
//! documentation ranges as private; the namespaces have no route anywhere else, so no packet
//! leaves the machine), a relay host on it, and homes, each a box on a private network behind
//! a router namespace that forwards and NATs with nftables. Router kinds:
//! - `Cone`: masquerade, which keeps the box's source port (endpoint-independent mapping as
//!   far as a hole punch can tell): hole punching works;
//! - `Symmetric`: `masquerade fully-random`, a new port for every destination: it cannot;
//! - `Strict`: masquerade and a firewall that forwards nothing unsolicited inwards.
//!
//! Needs root, iproute2 and nftables.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::netns::Netns;
use crate::common::{Daemon, Started, admin_command, ipfs_status};

/// How a home's router treats traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nat {
    Cone,
    Symmetric,
    Strict,
}

impl Nat {
    /// The router's nftables rules; `eth0` faces the internet, `lan0` the home.
    fn rules(self) -> String {
        let nat = |how: &str| {
            format!(
                "table ip nat {{\n chain post {{\n  type nat hook postrouting priority srcnat\n  \
                 oifname \"eth0\" {how}\n }}\n}}\n"
            )
        };
        // As home routers do, the router drops what comes unasked to its own address (a Linux
        // host would answer with a reset, which ends a hole punch's early packet for good).
        let input = "table inet guard {\n chain input {\n  type filter hook input priority \
                     filter; policy drop\n  ct state established,related accept\n  \
                     iifname { \"lo\", \"lan0\" } accept\n }\n}\n";
        match self {
            Nat::Cone => nat("masquerade") + input,
            Nat::Symmetric => nat("masquerade fully-random") + input,
            Nat::Strict => {
                nat("masquerade")
                    + input
                    + "table inet strict {\n chain forward {\n  type filter hook forward priority \
                       filter; policy drop\n  ct state established,related accept\n  \
                       iifname \"lan0\" accept\n }\n}\n"
            }
        }
    }
}

/// The internet bridge, the hosts on it, and the homes behind their routers.
struct World {
    /// On the internet: 11.1.0.(i+1).
    hosts: Vec<Netns>,
    /// The homes' boxes' namespaces: 192.168.(k+1).2 behind router k at 11.1.0.(k+101).
    homes: Vec<Netns>,
    _routers: Vec<Netns>,
    _hub: Netns,
}

impl World {
    fn new(hosts: usize, homes: &[Nat]) -> World {
        let hub = Netns::new();
        hub.ip(&["link", "add", "br0", "type", "bridge"]);
        hub.ip(&["link", "set", "br0", "up"]);
        let attach = |port: &str, host: &Netns, addr: &str| {
            hub.ip(&[
                "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", &host.0,
            ]);
            hub.ip(&["link", "set", port, "master", "br0"]);
            hub.ip(&["link", "set", port, "up"]);
            host.ip(&["addr", "add", addr, "dev", "eth0"]);
            host.ip(&["link", "set", "eth0", "up"]);
        };
        let hosts = (0..hosts)
            .map(|i| {
                let host = Netns::new();
                attach(&format!("h{i}"), &host, &format!("11.1.0.{}/24", i + 1));
                host
            })
            .collect();
        let mut routers = Vec::new();
        let mut boxes = Vec::new();
        for (k, nat) in homes.iter().enumerate() {
            let router = Netns::new();
            attach(&format!("r{k}"), &router, &format!("11.1.0.{}/24", k + 101));
            let home = Netns::new();
            router.ip(&[
                "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", &home.0,
            ]);
            router.ip(&[
                "addr",
                "add",
                &format!("192.168.{}.1/24", k + 1),
                "dev",
                "lan0",
            ]);
            router.ip(&["link", "set", "lan0", "up"]);
            home.ip(&[
                "addr",
                "add",
                &format!("192.168.{}.2/24", k + 1),
                "dev",
                "eth0",
            ]);
            home.ip(&["link", "set", "eth0", "up"]);
            home.ip(&[
                "route",
                "add",
                "default",
                "via",
                &format!("192.168.{}.1", k + 1),
            ]);
            run_in(&router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"], None);
            run_in(&router, &["nft", "-f", "-"], Some(&nat.rules()));
            routers.push(router);
            boxes.push(home);
        }
        World {
            hosts,
            homes: boxes,
            _routers: routers,
            _hub: hub,
        }
    }
}

/// Runs a program inside `ns` (with `input` on its standard input), which must succeed.
fn run_in(ns: &Netns, args: &[&str], input: Option<&str>) {
    use std::io::Write;
    let prefix = ns.prefix();
    let mut child = Command::new(prefix[0])
        .args(&prefix[1..])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{args:?}: {e} (this test needs root, iproute2, nftables)"));
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = input {
        stdin.write_all(text.as_bytes()).unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A box in `public` mode in `ns`, listening on every address of its namespace.
fn start_box(ns: &Netns, data: &Path, env: &[(&str, &str)]) -> Daemon {
    let mut all = vec![
        ("IDENTITY_BOX_IPFS__NETWORK", "public"),
        ("IDENTITY_BOX_IPFS__LISTEN", "[\"/ip4/0.0.0.0/tcp/4001\"]"),
        ("IDENTITY_BOX_IPFS__MDNS", "false"),
        ("IDENTITY_BOX_MDNS__ENABLED", "false"),
    ];
    all.extend_from_slice(env);
    match Daemon::start_in(&ns.prefix(), data, &[], &all) {
        Started::Ready(d) => d,
        Started::Failed(status, err) => panic!("box in {} failed ({status}): {err}", ns.0),
    }
}

/// `identity-box reach ADDR --json` on the box of `data`: the answer, or the error's text.
fn reach(data: &Path, addr: &str) -> Result<Value, String> {
    let out = admin_command(&["reach", addr, "--json"], data);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Waits until the box of `data` holds a reservation at the relay `relay_peer`, and returns
/// its relayed address.
fn relayed_address(data: &Path, relay_peer: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let status = ipfs_status(data);
        if let Some(addr) = status["relayed"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|a| a.contains(&format!("/p2p/{relay_peer}/p2p-circuit/")))
        {
            return addr.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no reservation at the relay within {within:?}: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The last lines each box logged, for a failure's message.
fn logs(boxes: &[Daemon]) -> String {
    boxes
        .iter()
        .map(|b| {
            let log = b.stderr();
            let lines: Vec<&str> = log.lines().collect();
            format!(
                "--- {} ---\n{}",
                b.data_dir.display(),
                lines[lines.len().saturating_sub(60)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Hole punches tried between the two boxes behind cone-like routers.
const ATTEMPTS: usize = 20;

#[test]
fn boxes_behind_home_routers_reach_each_other_through_a_relay_and_directly_where_the_routers_allow()
{
    let world = World::new(1, &[Nat::Cone, Nat::Cone, Nat::Symmetric, Nat::Strict]);
    let relay_host = &world.hosts[0];
    let dir = tempfile::tempdir().unwrap();
    let data = |name: &str| dir.path().join(name);
    let relay_env = |allow: &str| {
        vec![
            (
                "IDENTITY_BOX_IPFS__LISTEN",
                "[\"/ip4/11.1.0.1/tcp/4001\"]".to_owned(),
            ),
            (
                "IDENTITY_BOX_IPFS__ANNOUNCE",
                "[\"/ip4/11.1.0.1/tcp/4001\"]".to_owned(),
            ),
            (
                "IDENTITY_BOX_IPFS__RELAY_SERVER__ENABLED",
                "true".to_owned(),
            ),
            ("IDENTITY_BOX_IPFS__RELAY_SERVER__ALLOW", allow.to_owned()),
        ]
    };

    // The relay, a reachable box, starts with an empty allow list: it relays for nobody yet.
    let env = relay_env("[]");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let relay = start_box(relay_host, &data("relay"), &env);
    let relay_status = ipfs_status(&data("relay"));
    let relay_peer = relay_status["peer_id"].as_str().unwrap().to_owned();
    assert_eq!(
        relay_status["relay_server"],
        serde_json::json!({"reservations": 0, "circuits": 0}),
        "{relay_status}"
    );
    let relay_addr = format!("/ip4/11.1.0.1/tcp/4001/p2p/{relay_peer}");

    // Four homes' boxes, each told of the relay.
    let list = serde_json::to_string(&[&relay_addr]).unwrap();
    let names = ["a", "b", "c", "d"];
    let boxes: Vec<Daemon> = world
        .homes
        .iter()
        .zip(names)
        .map(|(ns, name)| {
            start_box(
                ns,
                &data(name),
                &[
                    ("IDENTITY_BOX_IPFS__BOOTSTRAP", list.as_str()),
                    ("IDENTITY_BOX_IPFS__RELAYS", list.as_str()),
                ],
            )
        })
        .collect();
    let peers: Vec<String> = names
        .iter()
        .map(|n| {
            ipfs_status(&data(n))["peer_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();

    // Not in the allow list: the relay refuses each of them a slot (its log says so), and none
    // names a relayed address.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !peers
        .iter()
        .all(|p| relay.stderr().contains(&format!("refused a slot to {p}")))
    {
        assert!(
            Instant::now() < deadline,
            "the relay did not refuse every box:\n{}",
            relay.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for name in names {
        let status = ipfs_status(&data(name));
        assert_eq!(status["relayed"], serde_json::json!([]), "{status}");
    }

    // The household adds its boxes to the relay's list, and the relay restarts: every box
    // reserves again, within 30 s of the relay's return.
    drop(relay);
    let allow = serde_json::to_string(&peers).unwrap();
    let env = relay_env(&allow);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let relay = start_box(relay_host, &data("relay"), &env);
    let back = Instant::now();
    let relayed: Vec<String> = names
        .iter()
        .map(|n| {
            relayed_address(
                &data(n),
                &relay_peer,
                Duration::from_secs(30).saturating_sub(back.elapsed()),
            )
        })
        .collect();
    eprintln!(
        "every box reserved {:?} after the relay came back",
        back.elapsed()
    );
    for (addr, peer) in relayed.iter().zip(&peers) {
        assert!(
            addr.starts_with(&format!("{relay_addr}/p2p-circuit/p2p/{peer}")),
            "{addr}"
        );
    }
    // Behind a NAT, AutoNAT finds no direct address: the boxes only query the DHT.
    let a = ipfs_status(&data("a"));
    assert_eq!(a["dht_server"], false, "{a}");
    assert!(a["relay_server"].is_null(), "{a}");

    // Two boxes behind cone-like routers: relayed first, then direct through a hole punch, in at
    // least 19 of 20 attempts within 10 s.
    let mut direct = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..ATTEMPTS {
        let r = reach(&data("b"), &relayed[0]).expect("B reaches A through the relay");
        assert_eq!(r["relayed"], true, "{r}");
        assert_eq!(r["peer"], peers[0].as_str(), "{r}");
        match r["direct_ms"].as_u64() {
            Some(ms) => direct.push(ms),
            None => failures.push(r),
        }
    }
    assert!(
        direct.len() + 1 >= ATTEMPTS,
        "only {} of {ATTEMPTS} hole punches made a direct connection: {failures:?}\n{}",
        direct.len(),
        logs(&boxes[..2])
    );
    direct.sort_unstable();
    eprintln!(
        "BENCH dcutr_direct_ms median {} min {} max {} ({} of {ATTEMPTS})",
        direct[direct.len() / 2],
        direct[0],
        direct[direct.len() - 1],
        direct.len()
    );
    let b = ipfs_status(&data("b"));
    assert_eq!(b["hole_punch"]["ok"], true, "{b}");
    assert_eq!(b["hole_punch"]["peer"], peers[0].as_str(), "{b}");

    // A symmetric NAT: the hole punch fails and the boxes stay connected through the relay.
    let r = reach(&data("b"), &relayed[2]).expect("B reaches C through the relay");
    assert_eq!(r["relayed"], true, "{r}");
    assert!(
        r["direct_ms"].is_null(),
        "a direct connection through a symmetric NAT? {r}"
    );
    assert!(r["hole_punch_error"].is_string(), "{r}");
    let c = ipfs_status(&data("c"));
    assert_eq!(
        c["peers"].as_u64().map(|n| n >= 2),
        Some(true),
        "C has B and the relay: {c}"
    );

    // A strict firewall: reached through the relay at least.
    let r = reach(&data("b"), &relayed[3]).expect("B reaches D through the relay");
    assert_eq!(r["relayed"], true, "{r}");
    eprintln!("strict firewall: {r}");

    // The relay counts what it carries.
    let load = ipfs_status(&data("relay"))["relay_server"].clone();
    assert_eq!(load["reservations"], 4, "{load}");

    // A box's relayed address is no use once its relay is gone; with the relay back, it is.
    drop(relay);
    let gone = Instant::now() + Duration::from_secs(10);
    loop {
        let a = ipfs_status(&data("a"));
        if a["relayed"] == serde_json::json!([]) {
            break;
        }
        assert!(
            Instant::now() < gone,
            "A still names the relay it lost: {a}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let err = reach(&data("b"), &relayed[0]).unwrap_err();
    assert!(err.contains("cannot reach"), "{err}");
    drop(boxes);
}

/// `identity-box client --state STATE --json ARGS…` inside `ns`: the JSON answer, or stderr.
fn phone(ns: &Netns, state: &Path, args: &[&str]) -> Result<Value, String> {
    let prefix = ns.prefix();
    let out = Command::new(prefix[0])
        .args(&prefix[1..])
        .arg(crate::common::BIN)
        .args(["client", "--state"])
        .arg(state)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The median of 30 authenticated `box.info` round trips of the phone of `state` (after one to
/// connect): over HTTP with `None`; over libp2p with `Some(addr)`, through `addr` (or, when it
/// is empty, the relayed address the phone knows).
fn round_trips(state: &Path, via: Option<&str>) -> f64 {
    let mut client =
        identity_box::client::Client::load(state, crate::common::clock()).expect("the phone");
    if let Some(addr) = via {
        if !addr.is_empty() {
            let mut network = client
                .call(&identity_box::protocol::info::BoxInfo {})
                .unwrap();
            let network = network.network.as_mut().unwrap();
            network.relayed = vec![addr.to_owned()];
            client.note_network(network);
        }
        client.use_relay().unwrap();
    }
    client
        .call(&identity_box::protocol::info::BoxInfo {})
        .unwrap();
    let mut times: Vec<f64> = (0..30)
        .map(|_| {
            let start = Instant::now();
            client
                .call(&identity_box::protocol::info::BoxInfo {})
                .unwrap();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

#[test]
fn a_phone_away_from_home_reaches_its_box_through_the_relay() {
    // Box A behind a cone-like router, box C behind a symmetric one, and a phone on a mobile
    // network whose carrier's NAT is symmetric too: no hole punch works between the phone and
    // either box, so the channel goes through the relay.
    let world = World::new(1, &[Nat::Cone, Nat::Symmetric, Nat::Symmetric]);
    let (home_a, home_c, mobile) = (&world.homes[0], &world.homes[1], &world.homes[2]);
    let dir = tempfile::tempdir().unwrap();
    let data = |name: &str| dir.path().join(name);
    let relay = start_box(
        &world.hosts[0],
        &data("relay"),
        &[
            ("IDENTITY_BOX_IPFS__LISTEN", "[\"/ip4/11.1.0.1/tcp/4001\"]"),
            (
                "IDENTITY_BOX_IPFS__ANNOUNCE",
                "[\"/ip4/11.1.0.1/tcp/4001\"]",
            ),
            ("IDENTITY_BOX_IPFS__RELAY_SERVER__ENABLED", "true"),
            ("IDENTITY_BOX_IPFS__RELAY_SERVER__ALLOW", "[\"*\"]"),
        ],
    );
    let relay_peer = ipfs_status(&data("relay"))["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list =
        serde_json::to_string(&[format!("/ip4/11.1.0.1/tcp/4001/p2p/{relay_peer}")]).unwrap();
    let env = [
        ("IDENTITY_BOX_IPFS__BOOTSTRAP", list.as_str()),
        ("IDENTITY_BOX_IPFS__RELAYS", list.as_str()),
    ];
    let box_a = start_box(home_a, &data("a"), &env);
    // C is told of no relay: in public mode it finds one among its peers (the bootstrap peer,
    // which offers relaying) by itself.
    let box_c = start_box(home_c, &data("c"), &env[..1]);
    relayed_address(&data("a"), &relay_peer, Duration::from_secs(30));
    relayed_address(&data("c"), &relay_peer, Duration::from_secs(30));

    // At home the phone pairs with A; the pairing code and box.info tell it A's peer id and
    // relayed address.
    let state = dir.path().join("phone.json");
    let paired = phone(home_a, &state, &["pair", &box_a.startup_uri()]);
    assert!(paired.is_ok(), "{paired:?}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let a_peer = ipfs_status(&data("a"))["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(saved["box"]["peer_id"], a_peer.as_str(), "{saved}");
    assert!(
        saved["box"]["relayed"][0]
            .as_str()
            .is_some_and(|a| a.contains(&relay_peer)),
        "{saved}"
    );

    // Away from home: the HTTP address of the home network does not answer, mDNS finds
    // nothing, and the phone reaches its box through the relay by itself.
    let info = phone(mobile, &state, &["info"]).expect("info through the relay");
    assert_eq!(info["network"]["peer_id"], a_peer.as_str(), "{info}");
    // An identity made and a backup put from the mobile network (forced through the relay).
    let alice = phone(
        mobile,
        &state,
        &["--via-relay", "identity", "create", "Alice"],
    )
    .map_err(|e| e.replace('\n', " "));
    let alice = alice.expect("identity create through the relay");
    assert!(
        alice["did"].as_str().unwrap().starts_with("did:ipid:"),
        "{alice}"
    );
    let on = phone(mobile, &state, &["--via-relay", "backup", "enable"]).expect("backup enable");
    assert!(on.is_object(), "{on}");
    let put = phone(mobile, &state, &["--via-relay", "backup", "put"]).expect("backup put");
    assert!(put["backup_id"].is_string(), "{put}");
    // At home again, the box shows what the phone did away.
    let listed = phone(home_a, &state, &["identity", "list"]).unwrap();
    assert!(listed.to_string().contains("Alice"), "{listed}");

    // Box C, behind its symmetric NAT: a second phone paired at home reaches it from the
    // mobile network over a relayed connection (no hole punch can work between the two).
    let state_c = dir.path().join("phone-c.json");
    phone(home_c, &state_c, &["pair", &box_c.startup_uri()]).unwrap();
    let info = phone(mobile, &state_c, &["--via-relay", "info"]).expect("C's info via the relay");
    assert!(info["name"].is_string(), "{info}");
    let c = ipfs_status(&data("c"));
    assert_ne!(
        c["hole_punch"]["ok"], true,
        "a hole punch through two symmetric NATs? {c}"
    );
    // Round trips of an authenticated box.info: over HTTP at home, over libp2p at home (a
    // direct connection), and from the mobile network through the relay. Printed for
    // BENCHMARKS.md, not asserted: the numbers are the machine's.
    let a_direct = format!("/ip4/192.168.1.2/tcp/4001/p2p/{a_peer}");
    let http = home_a.run(|| round_trips(&state, None));
    let direct = home_a.run(|| round_trips(&state, Some(&a_direct)));
    let relayed = mobile.run(|| round_trips(&state, Some("")));
    eprintln!(
        "BENCH box.info round trip median ms: http {http:.2}, libp2p direct {direct:.2} \
         ({:.1}x), libp2p relayed {relayed:.2} ({:.1}x)",
        direct / http,
        relayed / http
    );

    // A request larger than a relay carries, where no direct connection can be made: refused
    // before it is sent, with what to do.
    let a_relayed = relayed_address(&data("a"), &relay_peer, Duration::from_secs(1));
    let relay_addr = format!("/ip4/11.1.0.1/tcp/4001/p2p/{relay_peer}");
    let refused = mobile.run(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let repo = tempfile::tempdir().unwrap();
        rt.block_on(async {
            let node = crate::common::test_node(repo.path(), &relay_addr, 92).await;
            let answer = node
                .channel_call(&a_peer, &[a_relayed], vec![b' '; 200 * 1024])
                .await;
            node.stop().await;
            answer.map(|_| ()).map_err(|e| e.to_string())
        })
    });
    let err = refused.unwrap_err();
    assert!(err.contains("too large to go through a relay"), "{err}");
    assert!(err.contains("port forward"), "{err}");
    drop(relay);
}
