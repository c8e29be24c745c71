//! Pairing and the channel end to end (protocol §2, §3): the reference client against real daemons.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{BIN, Daemon, clock, config_file, kind};
use identity_box::client::{Client, ClientError};
use identity_box::clock::{Clock, SystemClock};
use identity_box::crypto::b64u;
use identity_box::pairing::uri::PairingUri;
use serde_json::{Value, json};

/// A clock `offset` seconds away from the system's: a phone whose clock is wrong.
#[derive(Debug)]
struct Skewed(i64);
impl Clock for Skewed {
    fn now_unix(&self) -> i64 {
        SystemClock.now_unix() + self.0
    }
}

/// The same URI with another (wrong) token.
fn with_token(uri: &str, token: [u8; 16]) -> String {
    let mut parsed = PairingUri::parse(uri).unwrap();
    parsed.token = token;
    parsed.encode()
}

fn cli(state: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(["client", "--state"])
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn full_pairing_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(&dir.path().join("box"), &[]);
    let uri = daemon.console_uri();
    assert!(uri.starts_with("idbox://pair?v=1&"), "{uri}");
    let state = dir.path().join("phone.json");

    let (ok, out, err) = cli(&state, &["pair", &uri, "--name", "Alice's phone"]);
    assert!(ok, "{err}");
    assert!(out.contains("as its owner"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let (ok, out, err) = cli(&state, &["--json", "info"]);
    assert!(ok, "{err}");
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        info["agreement_key"],
        daemon.get("/v1/info").json()["agreement_key"]
    );
    assert_eq!(info["devices"], 1);

    let (ok, out, _) = cli(&state, &["--json", "devices", "list"]);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    let me = &list["devices"][0];
    assert_eq!(me["name"], "Alice's phone");
    assert_eq!(me["role"], "owner");
    assert!(me["paired_at"].as_i64().unwrap() > 0);
    assert!(me["last_seen"].as_i64().unwrap() >= me["paired_at"].as_i64().unwrap());

    // The same QR code again: its token was used.
    let (ok, _, err) = cli(&dir.path().join("other.json"), &["pair", &uri]);
    assert!(!ok);
    assert!(err.contains("bad_token"), "{err}");
}

#[test]
fn pairing_is_refused_when_the_window_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[pairing]\nstartup_window_secs = 0\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    // Open only until the first phone pairs.
    let uri = daemon.startup_uri();
    Client::pair(&uri, "first", clock()).unwrap();
    assert_eq!(daemon.get("/v1/info").json()["pairing_open"], false);
    assert_eq!(daemon.get("/v1/pairing/qr.svg").status, 404);
    let err = Client::pair(&with_token(&uri, [1; 16]), "second", clock()).unwrap_err();
    assert_eq!(kind(err), "pairing_closed");
}

#[test]
fn the_twentieth_wrong_code_closes_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[pairing]\nstartup_window_secs = 0\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    // Wrong codes close a window opened for a phone (the until-paired window they leave
    // open: household::strangers_junk_tokens_leave_the_until_paired_window_open).
    Client::pair(&daemon.startup_uri(), "first", clock()).unwrap();
    let uri = daemon.console_uri();
    for i in 1..20u8 {
        let err = Client::pair(&with_token(&uri, [i; 16]), "guess", clock()).unwrap_err();
        assert_eq!(kind(err), "bad_token", "attempt {i}");
    }
    let err = Client::pair(&with_token(&uri, [99; 16]), "guess", clock()).unwrap_err();
    assert_eq!(kind(err), "too_many_attempts");
    // Even the right code is refused now: the window is closed.
    let err = Client::pair(&uri, "owner", clock()).unwrap_err();
    assert_eq!(kind(err), "pairing_closed");
}

#[test]
fn pairing_attempts_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[http]\npair_per_minute = 3\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let uri = daemon.startup_uri();
    for i in 0..3u8 {
        let err = Client::pair(&with_token(&uri, [i; 16]), "guess", clock()).unwrap_err();
        assert_eq!(kind(err), "bad_token");
    }
    let err = Client::pair(&uri, "owner", clock()).unwrap_err();
    assert_eq!(kind(err), "too_many_attempts");
}

#[test]
fn a_box_with_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = Daemon::ready(&dir.path().join("a"), &[]);
    let b = Daemon::ready(&dir.path().join("b"), &[]);
    // A's QR code, but the network sends the phone to B.
    let mut uri = PairingUri::parse(&a.startup_uri()).unwrap();
    uri.addrs = vec![b.addr.to_string()];
    let err = Client::pair(&uri.encode(), "phone", clock()).unwrap_err();
    assert!(matches!(err, ClientError::WrongBox(_)), "{err}");
    // B registered nothing and A is still pairable.
    assert_eq!(b.get("/v1/info").json()["pairing_open"], true);
}

#[test]
fn an_answer_that_does_not_open_with_the_pinned_key_is_refused() {
    // An impostor that copies the real box's public info but cannot seal answers with its key.
    let dir = tempfile::tempdir().unwrap();
    let real = Daemon::ready(&dir.path().join("box"), &[]);
    let info = real.get("/v1/info").body;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = {
        use warp::Filter;
        let info = warp::path!("v1" / "info").map(move || {
            warp::http::Response::builder()
                .header("content-type", "application/json")
                .body(info.clone())
                .unwrap()
        });
        let pair = warp::path!("v1" / "pair").map(|| {
            warp::reply::json(&json!({"v": 1, "nonce": b64u(&[0; 24]), "box": b64u(&[7; 64])}))
        });
        info.map(warp::Reply::into_response)
            .or(pair.map(warp::Reply::into_response))
            .unify()
            .recover(identity_box::api::error::recover)
            .unify()
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let limits = identity_box::api::server::ServerLimits {
        header_read_timeout: std::time::Duration::from_secs(5),
        body_pace: identity_box::api::server::BodyPace {
            initial: std::time::Duration::from_secs(5),
            min_rate: 1024,
            max: std::time::Duration::from_secs(30),
        },
        idle_timeout: std::time::Duration::from_secs(5),
        max_connections: 8,
        max_connections_per_address: 8,
        shutdown_grace: std::time::Duration::from_secs(1),
    };
    let server = rt.spawn(identity_box::api::server::serve(
        listener,
        routes,
        limits,
        stop.clone(),
    ));
    let mut uri = PairingUri::parse(&real.startup_uri()).unwrap();
    uri.addrs = vec![addr.to_string()];
    let err = Client::pair(&uri.encode(), "phone", clock()).unwrap_err();
    assert!(matches!(err, ClientError::WrongBox(_)), "{err}");
    stop.cancel();
    rt.block_on(server).unwrap();
}

#[test]
fn replayed_stale_and_altered_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(&dir.path().join("box"), &[]);
    let mut phone = Client::pair(&daemon.startup_uri(), "phone", clock()).unwrap();

    let (env, _) = phone.envelope("box.info", &json!({})).unwrap();
    let env = serde_json::to_value(&env).unwrap();
    let (status, _) = phone.post_rpc_raw(&env).unwrap();
    assert_eq!(status, 200);
    let (status, body) = phone.post_rpc_raw(&env).unwrap();
    assert_eq!((status, body["error"].as_str()), (401, Some("replay")));

    // One flipped bit in the ciphertext.
    let (env, _) = phone.envelope("box.info", &json!({})).unwrap();
    let mut boxed = identity_box::crypto::b64u_decode(&env.boxed).unwrap();
    boxed[20] ^= 1;
    let mut altered = serde_json::to_value(&env).unwrap();
    altered["box"] = json!(b64u(&boxed));
    let (status, body) = phone.post_rpc_raw(&altered).unwrap();
    assert_eq!((status, body["error"].as_str()), (401, Some("bad_box")));

    // A device id nobody paired.
    let mut unknown = serde_json::to_value(&env).unwrap();
    unknown["device"] = json!("00112233445566778899aabbccddeeff");
    let (status, body) = phone.post_rpc_raw(&unknown).unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unknown_device"))
    );

    // A timestamp an hour off: refused, with the box's time to correct by.
    let state_path = dir.path().join("phone.json");
    phone.save(&state_path).unwrap();
    let mut late = Client::load(&state_path, Arc::new(Skewed(-3600))).unwrap();
    let (env, _) = late.envelope("box.info", &json!({})).unwrap();
    let (status, body) = late
        .post_rpc_raw(&serde_json::to_value(&env).unwrap())
        .unwrap();
    assert_eq!((status, body["error"].as_str()), (401, Some("stale")));
    let box_time = body["box_time"].as_i64().unwrap();
    assert!((box_time - SystemClock.now_unix()).abs() < 60);
    // The client corrects itself from box_time and retries once.
    assert_eq!(late.call_json("box.info", json!({})).unwrap()["devices"], 1);
}

#[test]
fn a_phone_whose_clock_is_hours_off_still_pairs_and_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(&dir.path().join("box"), &[]);
    let skewed: Arc<dyn Clock> = Arc::new(Skewed(5 * 3600));
    let mut phone = Client::pair(&daemon.startup_uri(), "phone", skewed).unwrap();
    assert!((phone.state().clock_offset + 5 * 3600).abs() < 60);
    assert_eq!(
        phone.call_json("box.info", json!({})).unwrap()["devices"],
        1
    );
}

#[test]
fn roles_revocation_and_renaming() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(&dir.path().join("box"), &[]);
    let mut owner = Client::pair(&daemon.startup_uri(), "owner", clock()).unwrap();
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    assert!(opened["expires"].as_i64().unwrap() > SystemClock.now_unix());
    let mut member = Client::pair(opened["uri"].as_str().unwrap(), "member", clock()).unwrap();
    let owner_id = owner.state().device.device_id.clone();
    let member_id = member.state().device.device_id.clone();

    // A member cannot revoke or rename the owner…
    let err = member
        .call_json("devices.revoke", json!({"device_id": owner_id}))
        .unwrap_err();
    assert_eq!(kind(err), "forbidden");
    let err = member
        .call_json(
            "devices.rename",
            json!({"device_id": owner_id, "name": "x"}),
        )
        .unwrap_err();
    assert_eq!(kind(err), "forbidden");
    // …but can rename itself; bad params and unknown methods are clear errors.
    let renamed = member
        .call_json(
            "devices.rename",
            json!({"device_id": member_id, "name": "Tablet"}),
        )
        .unwrap();
    assert_eq!(renamed["name"], "Tablet");
    let err = member
        .call_json("devices.rename", json!({"device_id": member_id}))
        .unwrap_err();
    assert_eq!(kind(err), "invalid_params");
    let err = member.call_json("no.such.method", json!({})).unwrap_err();
    assert_eq!(kind(err), "not_found");

    // The owner revokes the member, which is refused on its very next request.
    let revoked = owner
        .call_json("devices.revoke", json!({"device_id": member_id}))
        .unwrap();
    assert_eq!(revoked["revoked"], true);
    let err = member.call_json("box.info", json!({})).unwrap_err();
    assert_eq!(kind(err), "unknown_device");
    let err = owner
        .call_json("devices.revoke", json!({"device_id": member_id}))
        .unwrap_err();
    assert_eq!(kind(err), "not_found");
    let devices = owner.call_json("devices.list", json!({})).unwrap();
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
}

#[test]
fn a_request_captured_before_a_restart_cannot_be_replayed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("box");
    let mut daemon = Daemon::ready(&data, &[]);
    let mut phone = Client::pair(&daemon.startup_uri(), "phone", clock()).unwrap();
    let (env, _) = phone.envelope("box.info", &json!({})).unwrap();
    let env = serde_json::to_value(&env).unwrap();
    assert_eq!(phone.post_rpc_raw(&env).unwrap().0, 200);
    assert!(daemon.terminate().success());

    let daemon = Daemon::ready(&data, &[]);
    // The captured bytes, sent again to the restarted box.
    let res = common::post_json(daemon.addr, "/v1/rpc", &env);
    assert_eq!(res.status, 401, "{:?}", String::from_utf8_lossy(&res.body));
    // "replay" from the nonces saved at shutdown, or "stale" once the clock has moved past the
    // restart: either way it is refused.
    let kind = res.json()["error"].as_str().unwrap().to_owned();
    assert!(kind == "replay" || kind == "stale", "{kind}");
    // The phone itself goes on being served (at the new address).
    let mut moved = PairingUri::parse(&daemon.console_uri()).unwrap();
    moved.addrs = vec![daemon.addr.to_string()];
    let state_path = dir.path().join("phone.json");
    phone.save(&state_path).unwrap();
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    state["box"]["addrs"] = json!([daemon.addr.to_string()]);
    std::fs::write(&state_path, state.to_string()).unwrap();
    let mut phone = Client::load(&state_path, clock()).unwrap();
    assert_eq!(
        phone.call_json("box.info", json!({})).unwrap()["devices"],
        1
    );
}

#[test]
fn undecryptable_requests_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[http]\nbad_rpc_per_minute = 2\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let junk = json!({"device": "00112233445566778899aabbccddeeff", "nonce": b64u(&[1; 24]), "box": b64u(&[2; 40])});
    let post = |body: &Value| common::post_json(daemon.addr, "/v1/rpc", body);
    assert_eq!(post(&junk).status, 401);
    assert_eq!(post(&junk).status, 401);
    let res = post(&junk);
    assert_eq!(res.status, 429);
    assert_eq!(res.json()["error"], "too_many_requests");
}

#[test]
fn a_device_sending_too_many_requests_is_slowed_down() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[http]\ndevice_per_minute = 3\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let mut phone = Client::pair(&daemon.startup_uri(), "phone", clock()).unwrap();
    for _ in 0..3 {
        phone.call_json("box.info", json!({})).unwrap();
    }
    let err = phone.call_json("box.info", json!({})).unwrap_err();
    assert_eq!(kind(err), "too_many_requests");
    // Another device has its own allowance.
    let uri = daemon.console_uri();
    let mut other = Client::pair(&uri, "other", clock()).unwrap();
    other.call_json("box.info", json!({})).unwrap();
}
