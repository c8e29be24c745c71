//! The trustless gateway routes and delegated routing (protocol §7, "Gateway routes"), and the
//! provider records of documents (protocol §4): a real daemon, and a node of the test's own on
//! 127.0.0.1, each answer checked as a verifying client checks it.

use std::time::{Duration, Instant};

use identity_box::identity::Did;
use identity_box::ipfs::record;
use identity_box::ipfs::{IpnsName, Node};
use ipld_core::cid::Cid;
use sha2::Digest as _;

use crate::common::{Daemon, Response, http, ipfs_addrs, owner, test_node};

const RAW: &str = "application/vnd.ipld.raw";
const RECORD: &str = "application/vnd.ipfs.ipns-record";

fn get(daemon: &Daemon, path: &str, accept: Option<&str>) -> Response {
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    http(
        daemon.addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{accept}Connection: close\r\n\r\n"),
    )
}

fn name_of(did: &str) -> IpnsName {
    *did.parse::<Did>().unwrap().ipns_name()
}

/// What a verifying client does with a block: its SHA-256 must be the CID's digest.
fn check_block(cid: &str, bytes: &[u8]) {
    let cid = Cid::try_from(cid).unwrap();
    assert_eq!(cid.hash().code(), 0x12, "sha2-256");
    assert_eq!(cid.hash().digest(), sha2::Sha256::digest(bytes).as_slice());
}

#[test]
fn a_verifying_client_gets_a_dids_record_and_document_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let alice = phone.create_identity("Alice").unwrap();
    let name = name_of(&alice.did);
    let now = chrono::Utc::now().timestamp();

    // The record, in each spelling of the name a gateway accepts, and by delegated routing.
    let by_gateway = get(&daemon, &format!("/ipns/{name}"), Some(RECORD));
    assert_eq!(by_gateway.status, 200, "{:?}", by_gateway.head);
    assert_eq!(by_gateway.header("content-type"), Some(RECORD));
    // On a LAN, no web page of another site may read it (protocol §7).
    assert_eq!(by_gateway.header("access-control-allow-origin"), None);
    let info = record::verify(&name, &by_gateway.body, now).unwrap();
    assert_eq!(info.value, format!("/ipfs/{}", alice.cid));
    assert_eq!(info.seq, alice.seq);
    for path in [
        format!("/ipns/{}?format=ipns-record", name.peer_id()),
        format!("/routing/v1/ipns/{name}"),
    ] {
        let again = get(&daemon, &path, None);
        assert_eq!(again.status, 200, "{path}: {:?}", again.head);
        assert_eq!(again.body, by_gateway.body, "{path}");
    }
    let routed = get(&daemon, &format!("/routing/v1/ipns/{name}"), Some(RECORD));
    assert_eq!(routed.body, by_gateway.body);

    // The document's block, which hashes to its CID and is the document the DID resolves to.
    let block = get(&daemon, &format!("/ipfs/{}", alice.cid), Some(RAW));
    assert_eq!(block.status, 200, "{:?}", block.head);
    assert_eq!(block.header("content-type"), Some(RAW));
    check_block(&alice.cid, &block.body);
    let document: serde_json::Value = serde_json::from_slice(&block.body).unwrap();
    assert_eq!(document, alice.document);
    let by_query = get(&daemon, &format!("/ipfs/{}?format=raw", alice.cid), None);
    assert_eq!(by_query.body, block.body);

    // A HEAD answers the same headers, no body.
    let head = http(
        daemon.addr,
        &format!(
            "HEAD /ipfs/{} HTTP/1.1\r\nHost: localhost\r\nAccept: {RAW}\r\nConnection: close\r\n\r\n",
            alice.cid
        ),
    );
    assert_eq!((head.status, head.body.len()), (200, 0), "{:?}", head.head);

    // An update is a new record at the gateway.
    phone
        .call_json(
            "identity.update",
            serde_json::json!({ "did": alice.did, "services": [{ "id": "#inbox",
                "type": "DIDCommMessaging", "serviceEndpoint": "https://alice.example/inbox" }] }),
        )
        .unwrap();
    let newer = get(&daemon, &format!("/ipns/{name}"), Some(RECORD));
    let newer = record::verify(&name, &newer.body, now).unwrap();
    assert_eq!(newer.seq, alice.seq + 1);
    assert_ne!(newer.value, info.value);
}

#[test]
fn the_gateway_answers_only_what_a_caller_can_check_and_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    // A name nobody publishes is searched for one second, not ten.
    let daemon = Daemon::start_with_env(
        dir.path(),
        &[],
        &[("IDENTITY_BOX_IPFS__RESOLVE_TIMEOUT_SECS", "1")],
    )
    .expect_ready();
    let mut phone = owner(&daemon);
    let alice = phone.create_identity("Alice").unwrap();
    let name = name_of(&alice.did);

    let cases = [
        // Not the verifiable form: the box is no deserializing gateway.
        (format!("/ipfs/{}", alice.cid), None, 406, "not_acceptable"),
        (
            format!("/ipfs/{}", alice.cid),
            Some("*/*"),
            406,
            "not_acceptable",
        ),
        (
            format!("/ipfs/{}", alice.cid),
            Some("application/vnd.ipld.car"),
            406,
            "not_acceptable",
        ),
        (
            format!("/ipns/{name}"),
            Some("text/html"),
            406,
            "not_acceptable",
        ),
        (format!("/ipns/{name}"), None, 406, "not_acceptable"),
        // Malformed.
        ("/ipfs/not-a-cid".into(), Some(RAW), 400, "bad_request"),
        (
            "/ipns/k51-not-a-name".into(),
            Some(RECORD),
            400,
            "bad_request",
        ),
        (
            "/routing/v1/ipns/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N".into(),
            None,
            400,
            "bad_request",
        ),
        // Not here: a block the box does not hold is never fetched for a stranger.
        (
            "/ipfs/bafkreigh2akiscaildc5qomxfq4h3bvwxgb7g6gxhy3ah7wbsm5f6cfjs4".into(),
            Some(RAW),
            404,
            "not_found",
        ),
        (
            format!("/routing/v1/ipns/{}", record::name_of_seed(&[9; 32])),
            Some(RECORD),
            404,
            "not_found",
        ),
    ];
    for (path, accept, status, kind) in cases {
        let r = get(&daemon, &path, accept);
        assert_eq!(r.status, status, "{path} {accept:?}: {:?}", r.head);
        let body = r.json();
        assert_eq!(body["error"], kind, "{path}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.len() > 30, "{path}: {message}");
        if status == 406 {
            assert!(
                message.contains("Accept: application/vnd."),
                "{path}: {message}"
            );
        }
    }
}

/// Asks the DHT through `node` until `provider` is named as a provider of `cid` (at most 30 s).
async fn wait_for_provider(node: &Node, cid: &str, provider: &str, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = node.find_providers(cid, Duration::from_secs(2)).await;
        if found.iter().any(|p| p == provider) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no provider record of {cid} {when} (found {found:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn a_peer_finds_who_provides_a_document_and_the_gateway_serves_a_peers_record() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let box_addr = ipfs_addrs(dir.path()).remove(0);
    let box_peer = box_addr.rsplit('/').next().unwrap().to_owned();
    let mut phone = owner(&daemon);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let peer_dir = tempfile::tempdir().unwrap();
    let peer = rt.block_on(test_node(peer_dir.path(), &box_addr, 41));

    // The box announces itself as the provider of each document it publishes.
    let alice = phone.create_identity("Alice").unwrap();
    rt.block_on(wait_for_provider(
        &peer,
        &alice.cid,
        &box_peer,
        "from the box",
    ));

    // A record the peer publishes reaches the box's DHT store; the gateway hands it out as it
    // was signed.
    let seed = [42u8; 32];
    let name = record::name_of_seed(&seed);
    let eol = chrono::Utc::now().timestamp() + 3_600;
    let signed = record::sign(&seed, &format!("/ipfs/{}", alice.cid), 7, eol).unwrap();
    peer.publish(&name, signed.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(&daemon, &format!("/routing/v1/ipns/{name}"), Some(RECORD));
        if r.status == 200 {
            assert_eq!(r.body, signed);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the peer's record never reached the gateway"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    rt.block_on(peer.stop());

    // After a restart (the DHT store is in memory) the box announces its documents again: a
    // peer that never met it before finds the provider.
    let mut daemon = daemon;
    daemon.terminate();
    drop(daemon);
    let _daemon = Daemon::ready(dir.path(), &[]);
    let box_addr = ipfs_addrs(dir.path()).remove(0);
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = rt.block_on(test_node(fresh_dir.path(), &box_addr, 43));
    rt.block_on(wait_for_provider(
        &fresh,
        &alice.cid,
        &box_peer,
        "after a restart",
    ));
    rt.block_on(fresh.stop());
}

/// One request a delegated-routing endpoint of the test's own received.
#[derive(Debug, Clone)]
struct Put {
    method: String,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A delegated-routing endpoint on 127.0.0.1 that notes every request and answers `status`
/// (bound before the box starts).
fn endpoint(status: u16) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Put>>>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (
                parts.next().unwrap_or("").to_owned(),
                parts.next().unwrap_or("").to_owned(),
            );
            let (mut length, mut content_type) = (0, String::new());
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (key, value) = header.split_once(':').unwrap();
                match key.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            noted.lock().unwrap().push(Put {
                method,
                path,
                content_type,
                body,
            });
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (url, seen)
}

/// With `ipfs.delegated_routing`, every record the box publishes is also put to each endpoint
/// (`PUT /routing/v1/ipns/<name>`, IPIP-379), one that refuses or is gone included.
#[test]
fn the_box_puts_its_records_to_delegated_routing_endpoints() {
    let (refusing, refused) = endpoint(500);
    let (good, received) = endpoint(200);
    // A closed port: nothing listens there once the listener is dropped.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let endpoints = serde_json::to_string(&[&refusing, &gone, &format!("{good}/prefix/")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with_env(
        dir.path(),
        &[],
        &[("IDENTITY_BOX_IPFS__DELEGATED_ROUTING", endpoints.as_str())],
    )
    .expect_ready();
    let mut phone = owner(&daemon);
    let now = chrono::Utc::now().timestamp();
    for person in ["Alice", "Bob"] {
        let made = phone.create_identity(person).unwrap();
        let name = name_of(&made.did);
        let path = format!("/prefix/routing/v1/ipns/{name}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let put = loop {
            if let Some(put) = received.lock().unwrap().iter().find(|p| p.path == path) {
                break put.clone();
            }
            assert!(Instant::now() < deadline, "{path} was never put");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(put.method, "PUT");
        assert_eq!(put.content_type, RECORD);
        // The signed record, as the box serves it, for this DID's document.
        let info = record::verify(&name, &put.body, now).unwrap();
        assert_eq!(info.value, format!("/ipfs/{}", made.cid));
        let served = get(&daemon, &format!("/routing/v1/ipns/{name}"), Some(RECORD));
        assert_eq!(served.body, put.body);
        // The refusing endpoint was asked too.
        assert!(
            refused
                .lock()
                .unwrap()
                .iter()
                .any(|p| p.path == format!("/routing/v1/ipns/{name}")),
            "{person}"
        );
    }
}
