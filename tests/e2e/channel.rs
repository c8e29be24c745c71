//! The sealed channel over libp2p (`/identity-box/channel/1`, protocol §3): the same envelopes
//! and answers as `POST /v1/rpc`, pinned to the box's peer id; a stranger gets nothing it could
//! not get over HTTP, and a message over the limit is refused before it is read whole.

use serde_json::{Value, json};

use identity_box::crypto::b64u;
use identity_box::protocol::info::{BoxInfo, BoxNetwork};

use crate::common::{Daemon, ipfs_addrs, owner, post_json, test_node};

#[test]
fn the_channel_over_libp2p_answers_as_http_does_and_refuses_what_is_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let box_addr = ipfs_addrs(dir.path())
        .into_iter()
        .find(|a| a.starts_with("/ip4/127.0.0.1/"))
        .unwrap();
    let peer = box_addr.rsplit('/').next().unwrap().to_owned();

    // The pairing code carries the box's peer id, which the phone pins.
    let mut phone = owner(&daemon);
    assert_eq!(
        phone.state().box_pin.peer_id.as_deref(),
        Some(peer.as_str())
    );

    // A paired phone over libp2p (here the box's direct address stands for its relayed one):
    // the same calls, the same answers.
    phone.note_network(&BoxNetwork {
        peer_id: peer.clone(),
        reachability: identity_box::ipfs::Reachability::Unknown,
        relayed: vec![box_addr.clone()],
        hole_punch: None,
    });
    phone.use_relay().unwrap();
    let facts = phone.call(&BoxInfo {}).unwrap();
    assert_eq!(facts.network.as_ref().unwrap().peer_id, peer);
    let alice = phone.create_identity("Alice").unwrap();
    assert!(alice.did.starts_with("did:ipid:"), "{alice:?}");

    // A stranger's node.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stranger_dir = tempfile::tempdir().unwrap();
    let stranger = rt.block_on(test_node(stranger_dir.path(), &box_addr, 91));
    let ask = |request: Vec<u8>| -> Result<Value, String> {
        rt.block_on(stranger.channel_call(&peer, std::slice::from_ref(&box_addr), request))
            .map(|answer| serde_json::from_slice(&answer).unwrap())
            .map_err(|e| e.to_string())
    };

    // Garbage: refused as HTTP refuses a body that is not an envelope.
    let answer = ask(b"{not json".to_vec()).unwrap();
    assert_eq!(answer["status"], 400, "{answer}");
    assert_eq!(answer["body"]["error"], "bad_request", "{answer}");

    // An envelope of a device the box does not know: the very answer HTTP gives.
    let envelope = json!({
        "device": b64u(&[7; 16]),
        "nonce": b64u(&[1; 24]),
        "box": b64u(&[2; 64]),
    });
    let answer = ask(serde_json::to_vec(&envelope).unwrap()).unwrap();
    let over_http = post_json(daemon.addr, "/v1/rpc", &envelope);
    let http_body: Value = serde_json::from_slice(&over_http.body).unwrap();
    assert_eq!(answer["status"], over_http.status, "{answer}");
    assert_eq!(
        answer["body"]["error"], http_body["error"],
        "{answer} {http_body}"
    );
    assert_ne!(answer["status"], 200, "{answer}");

    // The phone's own request, replayed by the stranger, is refused as a replay would be.
    let (sealed, _) = phone.envelope("box.info", &json!({})).unwrap();
    let first = ask(serde_json::to_vec(&sealed).unwrap()).unwrap();
    assert_eq!(
        first["status"], 200,
        "the first copy is the phone's: {first}"
    );
    let again = ask(serde_json::to_vec(&sealed).unwrap()).unwrap();
    assert_ne!(again["status"], 200, "{again}");

    // Over the limit (the box's http.max_body_bytes, 16 MiB): the stream is cut before the
    // box has read it all, and nothing of it is answered.
    let huge = vec![b' '; 17 * 1024 * 1024];
    let refused = ask(huge);
    assert!(refused.is_err(), "{refused:?}");
    // The box still answers.
    assert_eq!(phone.call(&BoxInfo {}).unwrap().name, facts.name);
    rt.block_on(stranger.stop());
}
