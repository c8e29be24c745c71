//! The typed protocol end to end: calls through `Client::call::<M>`, each method's own params
//! limit, memory under junk params, and `extract.approve` in the form the protocol names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{self, Daemon, owner};

use identity_box::client::Client;
use identity_box::protocol::backup::{BackupDisable, BackupPut, BackupStatus};
use identity_box::protocol::devices::{DevicesList, DevicesRename, PairingOpen};
use identity_box::protocol::extract::ExtractApprove;
use identity_box::protocol::identity::{IdentityGet, IdentityList};
use identity_box::protocol::info::BoxInfo;
use identity_box::protocol::{Method, Role};
use serde_json::json;

#[test]
fn typed_calls_read_the_box_s_answers_into_their_types() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);

    let info = phone.call(&BoxInfo {}).unwrap();
    assert_eq!(info.devices, 1);
    assert_eq!(info.identities, 0);
    assert_eq!(info.agreement_key, phone.state().box_pin.agreement_key);

    let created = phone.create_identity("Alice").unwrap();
    let got = phone
        .call(&IdentityGet {
            did: created.did.clone(),
        })
        .unwrap();
    assert_eq!(got, created);
    let listed = phone.call(&IdentityList {}).unwrap();
    assert_eq!(listed.identities.len(), 1);
    assert_eq!(listed.identities[0].did, created.did);
    assert_eq!(phone.call(&BoxInfo {}).unwrap().identities, 1);

    let devices = phone.call(&DevicesList {}).unwrap();
    assert_eq!(devices.devices.len(), 1);
    assert_eq!(devices.devices[0].role, Role::Owner);
    let me = devices.devices[0].device_id.clone();
    let renamed = phone
        .call(&DevicesRename {
            device_id: me.clone(),
            name: "  Kitchen phone ".into(),
        })
        .unwrap();
    assert_eq!(renamed.name, "Kitchen phone");
    // A member may not rename the owner: the pairing service's rule, by cause.
    let uri = phone.call(&PairingOpen {}).unwrap().uri;
    let mut member = Client::pair(&uri, "Phone B", common::clock()).unwrap();
    let refused = member
        .call(&DevicesRename {
            device_id: me,
            name: "Mine now".into(),
        })
        .unwrap_err();
    assert_eq!(common::kind(refused), "forbidden");

    // The typed client and the raw wire agree.
    let raw = phone.call_json(BoxInfo::NAME, json!({})).unwrap();
    assert_eq!(raw["devices"], json!(2));
    assert!(raw["uptime_s"].as_u64().is_some());
}

#[test]
fn each_method_has_its_own_params_limit() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    // 100 KiB of params: too much for a method of names and ids, an answer that says so.
    let name = "x".repeat(100 * 1024);
    let e = phone
        .call_json("identity.get", json!({ "did": name }))
        .unwrap_err();
    assert_eq!(common::kind(e), "too_large");
    // The same size is fine for backup.put (its params are read, and checked by the method).
    let e = phone
        .call(&BackupPut {
            backup_id: "nope".into(),
            bundle: name,
            identities: Vec::new(),
        })
        .unwrap_err();
    assert_ne!(common::kind(e), "too_large");
    // The channel still works.
    assert_eq!(phone.call(&BoxInfo {}).unwrap().devices, 1);
}

/// The daemon's peak resident memory (`VmHWM`, kB), after resetting it to the current size.
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}

fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn junk_params_of_eleven_mib_leave_the_box_s_memory_alone() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    let pid = daemon.child.id();
    // `[0,0,…]`: 8.6 MiB of params, over 11 MiB on the wire once sealed and in base64. Read
    // into a `serde_json::Value`, that was 4 million values and 140 MiB of memory.
    let zeros = format!("[{}0]", "0,".repeat(4_500_000));
    let params = serde_json::value::RawValue::from_string(zeros).unwrap();
    let (envelope, _) = phone.envelope(BackupPut::NAME, &params).unwrap();
    let envelope = serde_json::to_value(&envelope).unwrap();
    let wire = serde_json::to_vec(&envelope).unwrap().len();
    assert!(wire > 11 * 1024 * 1024, "{wire} bytes");

    reset_peak(pid);
    let before = peak_kib(pid);
    let (status, body) = phone.post_rpc_raw(&envelope).unwrap();
    let after = peak_kib(pid);
    assert_eq!(status, 200, "{body}");
    let growth_mib = (after.saturating_sub(before)) / 1024;
    assert!(
        growth_mib < 40,
        "one request of {wire} bytes grew the box's peak memory by {growth_mib} MiB"
    );
    // It was answered (inside the channel), and the box goes on.
    assert!(body.get("box").is_some(), "{body}");
    assert_eq!(phone.call(&BoxInfo {}).unwrap().devices, 1);
}

#[test]
fn extract_approve_without_a_backup_id_approves_the_only_backup() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let mut phone = owner(&daemon);
    phone.create_identity("Alice").unwrap();
    let start = || {
        let r = common::post_json(daemon.addr, "/v1/extract", &json!({}));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let s = r.json();
        let qr = s["qr"].as_str().unwrap().to_owned();
        let (session, code) = identity_box::extract::parse_approve_uri(&qr).unwrap();
        (s, session, code)
    };
    let approve = |phone: &mut Client, session: &str, code: &str| {
        phone.call(&ExtractApprove {
            session: session.to_owned(),
            code: code.to_owned(),
            backup_id: None,
            version: None,
            refuse: false,
        })
    };

    // No backup yet: nothing to approve, and the answer says so.
    let (_, session, code) = start();
    let e = approve(&mut phone, &session, &code).unwrap_err();
    assert_eq!(common::kind(e), "backup_not_found");

    // One backup: the protocol's form, {session, code}, approves it.
    phone.enable_backup().unwrap();
    let (s, session, code) = start();
    let approved = approve(&mut phone, &session, &code).unwrap();
    assert!(approved.approved);
    assert!(approved.filename.unwrap().ends_with(".idbox"));
    let secret = s["secret"].as_str().unwrap();
    let status = common::http(
        daemon.addr,
        &format!(
            "GET /v1/extract/{session} HTTP/1.1\r\nHost: localhost\r\n\
             Idbox-Extract-Secret: {secret}\r\nConnection: close\r\n\r\n"
        ),
    )
    .json();
    assert_eq!(status["status"], "approved");

    // Two backups: the caller must say which, and is told the choice.
    let first = phone.state().backup.clone().unwrap().backup_id;
    phone.forget_backup();
    phone.enable_backup().unwrap();
    let second = phone.state().backup.clone().unwrap().backup_id;
    assert_eq!(phone.call(&BackupStatus {}).unwrap().backups.len(), 2);
    let (_, session, code) = start();
    let e = approve(&mut phone, &session, &code).unwrap_err();
    let message = e.to_string();
    assert_eq!(common::kind(e), "invalid_params");
    assert!(
        message.contains(&first) && message.contains(&second),
        "{message}"
    );
    // Naming one still works.
    let named = phone
        .call(&ExtractApprove {
            session,
            code,
            backup_id: Some(first.clone()),
            version: None,
            refuse: false,
        })
        .unwrap();
    assert!(named.approved);
    // Disabled with delete, the first is gone: the second is the only one again.
    phone
        .call(&BackupDisable {
            backup_id: first,
            delete: true,
        })
        .unwrap();
    let (_, session, code) = start();
    assert!(approve(&mut phone, &session, &code).unwrap().approved);
}
