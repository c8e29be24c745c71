//! The household's trust (protocol §2), end to end against real daemons, as a household and as
//! an attacker on the same network would try it: who may pair, with which role, what a power
//! cycle opens, what a recovery does to the lost phone, and that a removed key stays out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::{Daemon, boot_id_config, clock, kind, public_pairing_uri};
use identity_box::client::Client;
use identity_box::pairing::uri::PairingUri;
use serde_json::json;

/// The same URI with another (wrong) token.
fn with_token(uri: &str, token: [u8; 16]) -> String {
    let mut parsed = PairingUri::parse(uri).unwrap();
    parsed.token = token;
    parsed.encode()
}

fn role(client: &mut Client, device_id: &str) -> String {
    let list = client.call_json("devices.list", json!({})).unwrap();
    list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == device_id)
        .map(|d| d["role"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("{device_id} is not listed: {list}"))
}

#[test]
fn an_opened_windows_code_goes_only_to_whoever_opened_it() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = boot_id_config(dir.path(), "startup_window_secs = 0\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    // A box nobody has paired with shows its QR code to anyone: the first phone is the owner.
    let first = public_pairing_uri(&daemon).expect("the until-paired window's QR code");
    assert_eq!(
        first,
        daemon.startup_uri(),
        "the console shows the same window"
    );
    let mut owner = Client::pair(&first, "Alice's phone", clock()).unwrap();
    let owner_id = owner.state().device.device_id.clone();
    assert_eq!(role(&mut owner, &owner_id), "owner");

    // The owner opens a window for another phone: an unpaired host on the network gets no
    // token from the page, nor learns that it is open.
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    assert_eq!(daemon.get("/v1/pairing/qr.svg").status, 404);
    assert_eq!(daemon.get("/v1/info").json()["pairing_open"], false);
    // The phone given the code pairs as a member, and a member cannot open windows.
    let mut member = Client::pair(opened["uri"].as_str().unwrap(), "Bob's phone", clock()).unwrap();
    let member_id = member.state().device.device_id.clone();
    assert_eq!(role(&mut owner, &member_id), "member");
    let err = member.call_json("pairing.open", json!({})).unwrap_err();
    assert_eq!(kind(err), "forbidden");
    // The console's window is the console's too.
    let console = daemon.console_uri();
    assert_ne!(console, first);
    assert_eq!(daemon.get("/v1/pairing/qr.svg").status, 404);
    // A member cannot take the owner's name; names are unique on the box.
    let err = member
        .call_json(
            "devices.rename",
            json!({"device_id": member_id, "name": "alice's PHONE"}),
        )
        .unwrap_err();
    assert_eq!(kind(err), "conflict");
    let twin = Client::pair(&console, "Alice's phone", clock()).unwrap();
    let list = owner.call_json("devices.list", json!({})).unwrap();
    let twin_entry = list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == twin.state().device.device_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(twin_entry["name"], "Alice's phone (2)");
    assert_eq!(twin_entry["role"], "member");
}

#[test]
fn strangers_junk_tokens_leave_the_until_paired_window_open() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = boot_id_config(dir.path(), "[http]\npair_per_minute = 1000\n");
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let uri = public_pairing_uri(&daemon).unwrap();
    for i in 0..25u8 {
        let err = Client::pair(&with_token(&uri, [i; 16]), "stranger", clock()).unwrap_err();
        assert_eq!(kind(err), "bad_token", "attempt {i}");
    }
    // The household's phone still pairs, as the owner.
    let mut owner = Client::pair(&public_pairing_uri(&daemon).unwrap(), "owner", clock()).unwrap();
    let id = owner.state().device.device_id.clone();
    assert_eq!(role(&mut owner, &id), "owner");

    // A window the owner opened for a phone closes after its 20th wrong code, as before.
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    let opened = opened["uri"].as_str().unwrap().to_owned();
    for i in 1..20u8 {
        let err = Client::pair(&with_token(&opened, [i; 16]), "guess", clock()).unwrap_err();
        assert_eq!(kind(err), "bad_token", "attempt {i}");
    }
    let err = Client::pair(&with_token(&opened, [99; 16]), "guess", clock()).unwrap_err();
    assert_eq!(kind(err), "too_many_attempts");
    let err = Client::pair(&opened, "late", clock()).unwrap_err();
    assert_ne!(kind(err), "ok");
}

#[test]
fn only_a_power_cycle_opens_the_startup_window() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("box");
    let (config, boot_id) = boot_id_config(dir.path(), "");
    let args = ["--config", config.to_str().unwrap()];
    let mut daemon = Daemon::ready(&data, &args);
    let mut owner = Client::pair(&daemon.startup_uri(), "owner", clock()).unwrap();
    // The first start's start-up window follows the first pairing; let the owner see it out.
    owner.call_json("box.info", json!({})).unwrap();
    daemon.terminate();

    // systemd restarts the service (the same boot): no public window.
    let mut daemon = Daemon::ready(&data, &args);
    assert!(public_pairing_uri(&daemon).is_none());
    assert_eq!(daemon.get("/v1/info").json()["pairing_open"], false);
    daemon.terminate();

    // The household unplugs and replugs the box: the start-up window, on the web page.
    std::fs::write(&boot_id, "boot-2\n").unwrap();
    let daemon = Daemon::ready(&data, &args);
    let info = daemon.get("/v1/info").json();
    assert_eq!(info["pairing_open"], true);
    assert!(info["pairing_expires"].as_i64().unwrap() > info["time"].as_i64().unwrap());
    assert!(public_pairing_uri(&daemon).is_some());
}

#[test]
fn a_lost_owner_is_superseded_by_the_phone_that_restores_its_backup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("box");
    let (config, boot_id) = boot_id_config(dir.path(), "");
    let args = ["--config", config.to_str().unwrap()];
    let mut daemon = Daemon::ready(&data, &args);

    // Owner O, with an identity and a backup.
    let mut old = Client::pair(&daemon.startup_uri(), "Alice's phone", clock()).unwrap();
    let old_id = old.state().device.device_id.clone();
    let old_key = old.state().device.secret.clone();
    let (words, _) = old.enable_backup().unwrap();
    let did = old.create_identity("Alice").unwrap().did;
    daemon.terminate();

    // The phone is lost. The household power-cycles the box; phone N pairs from the web page.
    std::fs::write(&boot_id, "boot-2\n").unwrap();
    let daemon = Daemon::ready(&data, &args);
    let startup = public_pairing_uri(&daemon).expect("the start-up window");
    let mut new = Client::pair(&startup, "Alice's new phone", clock()).unwrap();
    let new_id = new.state().device.device_id.clone();
    assert_eq!(new.state().device.role.as_str(), "pending");

    // Pending: it may look for its backup, nothing else.
    for (method, params) in [
        ("identity.create", json!({"name": "Mallory"})),
        ("devices.list", json!({})),
        ("identity.list", json!({})),
        ("pairing.open", json!({})),
        ("backup.status", json!({})),
    ] {
        let err = new.call_json(method, params).unwrap_err();
        assert_eq!(kind(err), "pending_approval", "{method}");
    }
    assert_eq!(
        new.call_json("backup.exists", json!({})).unwrap()["count"],
        1
    );
    new.call_json("box.info", json!({})).unwrap();
    // Without the words it can start no backup of its own either.
    let err = new
        .call_json(
            "backup.enable",
            json!({"backup_id": "0".repeat(32), "recipient": identity_box::crypto::b64u(&[9; 32])}),
        )
        .unwrap_err();
    assert_eq!(kind(err), "pending_approval");

    // It restores with the 24 words: it takes the backup over and supersedes the lost phone,
    // whose role (owner) it gets.
    let restored = new.restore_backup(&words).unwrap();
    assert!(restored.restored);
    let list = new.call_json("devices.list", json!({})).unwrap();
    assert_eq!(list["devices"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["devices"][0]["device_id"], json!(new_id));
    assert_eq!(list["devices"][0]["role"], "owner");
    assert_eq!(list["removed"][0]["device_id"], json!(old_id));
    assert_eq!(list["removed"][0]["reason"], "superseded");
    assert_eq!(list["removed"][0]["by"], json!(new_id));
    let ids = new.call_json("identity.list", json!({})).unwrap();
    assert_eq!(ids["identities"][0]["did"], json!(did));

    // The lost phone, found again (or stolen), gets nothing: 401 on the channel…
    old.prefer_addrs(vec![daemon.addr.to_string()]);
    let err = old.call_json("box.info", json!({})).unwrap_err();
    assert_eq!(kind(err), "unknown_device");
    // …and its key cannot pair again, even through a window the new owner opens.
    let opened = new.call_json("pairing.open", json!({})).unwrap();
    let err = Client::pair_with_key(opened["uri"].as_str().unwrap(), "again", old_key, clock())
        .unwrap_err();
    assert_eq!(kind(err), "revoked");
}

#[test]
fn an_owner_approves_sets_roles_revokes_and_hands_over_what_a_revoked_phone_held() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("box");
    let (config, boot_id) = boot_id_config(dir.path(), "");
    let args = ["--config", config.to_str().unwrap()];
    let mut daemon = Daemon::ready(&data, &args);
    let mut owner = Client::pair(&daemon.startup_uri(), "Parent A", clock()).unwrap();
    let owner_id = owner.state().device.device_id.clone();
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    let mut teen = Client::pair(opened["uri"].as_str().unwrap(), "Teen", clock()).unwrap();
    let teen_id = teen.state().device.device_id.clone();
    let teen_key = teen.state().device.secret.clone();
    let teen_did = teen.create_identity("Teen").unwrap().did;
    daemon.terminate();

    // After a power cycle a second parent pairs from the page (pending); an owner approves it,
    // then makes it an owner.
    std::fs::write(&boot_id, "boot-2\n").unwrap();
    let daemon = Daemon::ready(&data, &args);
    let mut parent =
        Client::pair(&public_pairing_uri(&daemon).unwrap(), "Parent B", clock()).unwrap();
    let parent_id = parent.state().device.device_id.clone();
    owner.prefer_addrs(vec![daemon.addr.to_string()]);
    teen.prefer_addrs(vec![daemon.addr.to_string()]);
    let err = teen
        .call_json("devices.approve", json!({"device_id": parent_id}))
        .unwrap_err();
    assert_eq!(kind(err), "forbidden", "a member approves nobody");
    let approved = owner
        .call_json("devices.approve", json!({"device_id": parent_id}))
        .unwrap();
    assert_eq!(approved["role"], "member");
    parent.create_identity("Parent B").unwrap();
    let err = owner
        .call_json("devices.approve", json!({"device_id": parent_id}))
        .unwrap_err();
    assert_eq!(kind(err), "conflict", "not pending any more");
    // The last owner can neither step down nor revoke itself…
    let err = owner
        .call_json(
            "devices.set_role",
            json!({"device_id": owner_id, "role": "member"}),
        )
        .unwrap_err();
    assert_eq!(kind(err), "forbidden");
    let err = owner
        .call_json("devices.revoke", json!({"device_id": owner_id}))
        .unwrap_err();
    assert_eq!(kind(err), "forbidden");
    let err = teen
        .call_json(
            "devices.set_role",
            json!({"device_id": teen_id, "role": "owner"}),
        )
        .unwrap_err();
    assert_eq!(
        kind(err),
        "forbidden",
        "a member promotes nobody, itself neither"
    );
    // …until there is a second owner.
    owner
        .call_json(
            "devices.set_role",
            json!({"device_id": parent_id, "role": "owner"}),
        )
        .unwrap();
    assert_eq!(role(&mut parent, &parent_id), "owner");

    // The teenager's phone is revoked; its key never pairs again, so it cannot get its old
    // identity back by pairing.
    parent
        .call_json("devices.revoke", json!({"device_id": teen_id}))
        .unwrap();
    let opened = parent.call_json("pairing.open", json!({})).unwrap();
    let err = Client::pair_with_key(opened["uri"].as_str().unwrap(), "Teen", teen_key, clock())
        .unwrap_err();
    assert_eq!(kind(err), "revoked");
    // What it held stays with the household: an owner hands it to another device.
    let err = parent
        .call_json(
            "devices.reassign",
            json!({"from": owner_id, "to": parent_id}),
        )
        .unwrap_err();
    assert_eq!(
        kind(err),
        "conflict",
        "a paired device's data are not handed over"
    );
    let moved = parent
        .call_json("devices.reassign", json!({"from": teen_id, "to": owner_id}))
        .unwrap();
    assert_eq!(
        (moved["identities"].as_u64(), moved["backups"].as_u64()),
        (Some(1), Some(0))
    );
    let ids = owner.call_json("identity.list", json!({})).unwrap();
    assert!(
        ids["identities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["did"] == teen_did.as_str()),
        "{ids}"
    );
    // Now Parent A may step down: Parent B is an owner.
    owner
        .call_json(
            "devices.set_role",
            json!({"device_id": owner_id, "role": "member"}),
        )
        .unwrap();
}

#[test]
fn quotas_hold_at_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = boot_id_config(
        dir.path(),
        "[quota]\nidentities_per_device = 2\nbackups_per_device = 1\ndevices = 3\npending_devices = 1\n",
    );
    let daemon = Daemon::ready(
        &dir.path().join("box"),
        &["--config", config.to_str().unwrap()],
    );
    let mut owner = Client::pair(&daemon.startup_uri(), "owner", clock()).unwrap();

    // Identities per device.
    owner.create_identity("One").unwrap();
    owner.create_identity("Two").unwrap();
    let err = owner.create_identity("Three").unwrap_err();
    let message = err.to_string();
    assert_eq!(kind(err), "quota");
    assert!(message.contains("quota.identities_per_device"), "{message}");

    // Backups per device.
    owner.enable_backup().unwrap();
    let err = owner
        .call_json(
            "backup.enable",
            json!({"backup_id": "ab".repeat(16), "recipient": identity_box::crypto::b64u(&[9; 32])}),
        )
        .unwrap_err();
    let message = err.to_string();
    assert_eq!(kind(err), "quota");
    assert!(message.contains("quota.backups_per_device"), "{message}");

    // Pending devices: the first start's start-up window follows the first pairing.
    Client::pair(&public_pairing_uri(&daemon).unwrap(), "stranger 1", clock()).unwrap();
    let err =
        Client::pair(&public_pairing_uri(&daemon).unwrap(), "stranger 2", clock()).unwrap_err();
    let message = err.to_string();
    assert_eq!(kind(err), "quota");
    assert!(message.contains("quota.pending_devices"), "{message}");

    // Devices per box (the pending one counts).
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    Client::pair(opened["uri"].as_str().unwrap(), "member", clock()).unwrap();
    let opened = owner.call_json("pairing.open", json!({})).unwrap();
    let err = Client::pair(opened["uri"].as_str().unwrap(), "one too many", clock()).unwrap_err();
    let message = err.to_string();
    assert_eq!(kind(err), "quota");
    assert!(message.contains("quota.devices"), "{message}");
    let list = owner.call_json("devices.list", json!({})).unwrap();
    assert_eq!(list["devices"].as_array().unwrap().len(), 3, "{list}");
}
