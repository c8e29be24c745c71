//! `ipfs.network = "public"` (protocol §4, "Networks") on a small internet of the test's own:
//! three boxes, each in a network namespace of its own, joined by a bridge in a fourth, on
//! addresses that count as public (11.1.0.0/24; the namespaces have no route anywhere else, so
//! no packet leaves the machine). Box B is the bootstrap node; box A, which holds a DID, and box
//! C know only B: A by a DNS name (`/dnsaddr/…`, answered by a DNS server on B's host), C by
//! its address. A starts before B and gets in when B comes up. C resolves A's DID through the
//! DHT. Needs root, iproute2 and dnsmasq.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::netns::Netns;
use crate::common::{BIN, Daemon, Started, ipfs_addrs, ipfs_status};

/// Namespaces `hosts` joined by a bridge in `hub`; host i is 11.1.0.(i+1)/24 on its eth0.
struct Internet {
    hosts: Vec<Netns>,
    _hub: Netns,
}

impl Internet {
    fn new(count: usize) -> Internet {
        let hub = Netns::new();
        hub.ip(&["link", "add", "br0", "type", "bridge"]);
        hub.ip(&["link", "set", "br0", "up"]);
        let hosts = (0..count)
            .map(|i| {
                let host = Netns::new();
                let port = format!("v{i}");
                let addr = format!("11.1.0.{}/24", i + 1);
                hub.ip(&[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &host.0,
                ]);
                hub.ip(&["link", "set", &port, "master", "br0"]);
                hub.ip(&["link", "set", &port, "up"]);
                host.ip(&["addr", "add", &addr, "dev", "eth0"]);
                host.ip(&["link", "set", "eth0", "up"]);
                host
            })
            .collect();
        Internet { hosts, _hub: hub }
    }
}

/// A box in `public` mode on host `i`, listening on its public address and on its loopback
/// (an address that must never reach the DHT).
fn public_box(ns: &Netns, i: usize, data: &Path, bootstrap: &[String]) -> Daemon {
    let listen = format!(
        "[\"/ip4/11.1.0.{}/tcp/4001\", \"/ip4/127.0.0.1/tcp/4002\"]",
        i + 1
    );
    let bootstrap = serde_json::to_string(bootstrap).unwrap();
    let env = [
        ("IDENTITY_BOX_IPFS__NETWORK", "public"),
        ("IDENTITY_BOX_IPFS__LISTEN", listen.as_str()),
        ("IDENTITY_BOX_IPFS__BOOTSTRAP", bootstrap.as_str()),
    ];
    match Daemon::start_in(&ns.prefix(), data, &[], &env) {
        Started::Ready(d) => d,
        Started::Failed(status, err) => panic!("box {i} failed ({status}): {err}"),
    }
}

/// `GET url` from inside `ns`: the status and the body.
fn ns_get(ns: &Netns, url: &str) -> (u16, String) {
    let script = "import sys, urllib.request, urllib.error\n\
        try:\n    r = urllib.request.urlopen(sys.argv[1], timeout=60); code, body = r.status, r.read()\n\
        except urllib.error.HTTPError as e:\n    code, body = e.code, e.read()\n\
        print(code); sys.stdout.write(body.decode())\n";
    let prefix = ns.prefix();
    let out = Command::new(prefix[0])
        .args(&prefix[1..])
        .args(["python3", "-c", script, url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (code, body) = text.split_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

#[test]
fn a_box_in_public_mode_is_found_through_the_dht_by_a_node_that_knows_only_a_bootstrap_peer() {
    let net = Internet::new(3);
    let (a, b, c) = (&net.hosts[0], &net.hosts[1], &net.hosts[2]);
    let dir = tempfile::tempdir().unwrap();
    let (a_data, b_data, c_data) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );

    // B's address, which a DNS server on B's host names (`dnsaddr`, as the public bootstrap
    // peers are named); then B is stopped, so that A starts with its bootstrap peer down.
    let b_addr = {
        let _first = public_box(b, 1, &b_data, &[]);
        ipfs_addrs(&b_data)
            .into_iter()
            .find(|a| a.starts_with("/ip4/11.1.0.2/"))
            .unwrap()
    };
    let b_peer = b_addr.rsplit('/').next().unwrap().to_owned();
    let other = "/ip4/11.1.0.9/tcp/4001/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";
    let _dns = b.dns_server(
        "11.1.0.2",
        &[
            (
                "_dnsaddr.boot.test",
                &format!("dnsaddr=/dnsaddr/b.boot.test/p2p/{b_peer}"),
            ),
            // Another peer's entry, and one in a transport the box does not speak.
            ("_dnsaddr.boot.test", &format!("dnsaddr={other}")),
            (
                "_dnsaddr.b.boot.test",
                &format!("dnsaddr=/ip4/11.1.0.2/udp/4001/quic-v1/p2p/{b_peer}"),
            ),
            ("_dnsaddr.b.boot.test", &format!("dnsaddr={b_addr}")),
        ],
    );
    a.use_dns("11.1.0.2");
    let box_a = public_box(a, 0, &a_data, &[format!("/dnsaddr/boot.test/p2p/{b_peer}")]);
    // B comes up after A: A, which found nobody at start, tries again and gets in.
    let _bootstrap = public_box(b, 1, &b_data, &[]);

    // Public mode does not force DHT server mode: until AutoNAT has heard back from a peer
    // (after 15 s at the soonest), the box only queries.
    let early = ipfs_status(&a_data);
    assert_eq!(early["network"], "public", "{early}");
    assert_eq!(early["dht_server"], false, "{early}");
    assert_eq!(early["reachability"], "unknown", "{early}");

    // A phone on A's network makes a DID.
    let state = dir.path().join("phone.json");
    let client = |args: &[&str]| {
        let prefix = a.prefix();
        let out = Command::new(prefix[0])
            .args(&prefix[1..])
            .arg(BIN)
            .args(["client", "--state"])
            .arg(&state)
            .arg("--json")
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
    client(&["pair", &box_a.startup_uri()]);
    let alice = client(&["identity", "create", "Alice"]);
    let did = alice["did"].as_str().unwrap().to_owned();

    // B dials A back: A is reachable, and serves the DHT.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = ipfs_status(&a_data);
        if s["reachability"] == "public" && s["dht_server"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "AutoNAT never found A reachable: {s}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // C, which knows only B, resolves A's DID (record and document) through the DHT.
    let box_c = public_box(c, 2, &c_data, std::slice::from_ref(&b_addr));
    let url = format!("http://{}/1.0/identifiers/{did}", box_c.addr);
    let deadline = Instant::now() + Duration::from_secs(120);
    let resolved = loop {
        let (status, body) = ns_get(c, &url);
        if status == 200 {
            break serde_json::from_str::<Value>(&body).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "C never resolved {did}: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(resolved["didDocument"]["id"], did.as_str());
    assert_eq!(resolved["didDocumentMetadata"]["cid"], alice["cid"]);
    assert_eq!(resolved["didDocument"], alice["document"]);
    drop(box_c);

    // What a stranger learns of A: a node of the test's own on C's host, which knows only B.
    let a_peer = ipfs_status(&a_data)["peer_id"].as_str().unwrap().to_owned();
    let cid = alice["cid"].as_str().unwrap().to_owned();
    let seen = c.run(|| stranger_looks_at(&b_addr, &a_peer, &cid));
    // The DHT names A as the document's provider with its public address and nothing else
    // (B's copy of the record, and A's own answer).
    assert!(!seen.dht.is_empty(), "{seen:?}");
    for addr in &seen.dht {
        assert!(addr.starts_with("/ip4/11.1.0.1/tcp/4001"), "{seen:?}");
    }
    // Identify tells only the confirmed address, never the loopback A also listens on.
    assert!(!seen.identify.is_empty(), "{seen:?}");
    for addr in &seen.identify {
        assert!(addr.starts_with("/ip4/11.1.0.1/tcp/4001"), "{seen:?}");
    }
    // A stranger is not offered the LAN DHT, the public DHT it is.
    assert!(
        seen.protocols.iter().any(|p| p == "/ipfs/kad/1.0.0"),
        "{seen:?}"
    );
    assert!(
        !seen.protocols.iter().any(|p| p.contains("/lan/")),
        "{seen:?}"
    );
}

/// What a stranger found out about a box.
#[derive(Debug)]
struct Seen {
    /// The addresses the DHT gave for the box, once it named it as a provider.
    dht: Vec<String>,
    /// The addresses the box told in identify.
    identify: Vec<String>,
    /// The protocols the box offered.
    protocols: Vec<String>,
}

/// A bare IPFS node (nothing of the box's) that knows only `bootstrap`: it looks up who provides
/// `cid`, dials the box `peer` at the addresses the DHT gave, and notes what the box tells it.
fn stranger_looks_at(bootstrap: &str, peer: &str, cid: &str) -> Seen {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let peer: rust_ipfs::PeerId = peer.parse().unwrap();
        let cid: ipld_core::cid::Cid = cid.parse().unwrap();
        // What the box tells in identify, as this node's swarm receives it.
        let told = std::sync::Arc::new(std::sync::Mutex::new(None));
        let hook_told = told.clone();
        let ipfs = rust_ipfs::builder::DefaultIpfsBuilder::new()
            .with_identify(Default::default())
            .swarm_events(move |_, event| {
                use connexa::behaviour::BehaviourEvent;
                use connexa::prelude::identify::Event;
                if let rust_ipfs::swarm::SwarmEvent::Behaviour(BehaviourEvent::Identify(
                    Event::Received { peer_id, info, .. },
                )) = event
                    && *peer_id == peer
                {
                    *hook_told.lock().unwrap() = Some(info.clone());
                }
            })
            .with_kademlia()
            .enable_tcp()
            .start()
            .await
            .unwrap();
        let bootstrap: rust_ipfs::Multiaddr = bootstrap.parse().unwrap();
        ipfs.connect(bootstrap).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut dht = Vec::new();
        let mut dialled = false;
        // Twice: through B alone, then with A connected (A answers for itself too).
        for round in 0..2 {
            loop {
                let mut found = false;
                let started = Instant::now();
                if let Ok(mut stream) = ipfs.get_providers(cid).await {
                    while let Ok(Some(Ok(peers))) = tokio::time::timeout(
                        Duration::from_secs(10),
                        futures_util::StreamExt::next(&mut stream),
                    )
                    .await
                    {
                        if peers.contains(&peer) {
                            found = true;
                            break;
                        }
                    }
                }
                eprintln!("round {round}: providers in {:?}", started.elapsed());
                if found {
                    break;
                }
                assert!(Instant::now() < deadline, "the DHT never named {peer}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            // Of what the look-up learnt (the addresses of every peer near A), A's.
            let started = Instant::now();
            let own = format!("/p2p/{peer}");
            dht.extend(
                ipfs.find_peer(peer)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .map(|a| a.to_string())
                    .filter(|a| a.ends_with(&own)),
            );
            eprintln!("round {round}: find_peer in {:?}", started.elapsed());
            if round == 0 {
                // The look-up may have dialled A already.
                let _ = ipfs.connect(peer).await;
                while !ipfs.connected().await.unwrap().contains(&peer) {
                    assert!(Instant::now() < deadline, "{peer} could not be dialled");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                dialled = true;
            }
        }
        assert!(dialled);
        let info = loop {
            if let Some(info) = told.lock().unwrap().clone() {
                break info;
            }
            assert!(Instant::now() < deadline, "{peer} told nothing in identify");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let seen = Seen {
            dht,
            identify: info.listen_addrs.iter().map(|a| a.to_string()).collect(),
            protocols: info.protocols.iter().map(|p| p.to_string()).collect(),
        };
        ipfs.exit_daemon().await;
        seen
    })
}
