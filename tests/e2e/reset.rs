//! A factory reset is an erase (protocol §3 `box.factory_reset`, §9 "At rest"): no identity key
//! byte is left under the data directory afterwards, a reset cut short by a kill is finished
//! at the next start, and the memory card's reset file erases a box nobody can reach.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::backups::sealed_key_on_disk;
use crate::common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use common::{Daemon, box_command, clock};
use identity_box::client::Client;
use identity_box::crypto::{self, BackupSecrets, Secret32, b64u};
use identity_box::reset::MARKER_FILE;
use serde_json::json;

/// An owner with one identity, and that identity's key in the clear (as the owner learns it:
/// from the keys the box seals into a backup version) and as the database holds it.
struct Household {
    owner: Client,
    key: [u8; 32],
    sealed: Vec<u8>,
}

fn household(daemon: &Daemon) -> Household {
    let mut owner = Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap();
    let did = owner.create_identity("Alice").unwrap().did;
    let secrets = BackupSecrets::from_entropy(&Secret32::new([5; 32]));
    owner
        .call_json(
            "backup.enable",
            json!({"backup_id": secrets.backup_id, "recipient": b64u(&secrets.recipient_public())}),
        )
        .unwrap();
    owner
        .call_json(
            "backup.put",
            json!({"backup_id": secrets.backup_id, "bundle": b64u(&[1u8; 64]), "identities": [did]}),
        )
        .unwrap();
    let fetched = owner
        .call_json("backup.fetch", json!({"backup_id": secrets.backup_id}))
        .unwrap();
    let sealed_keys = crypto::b64u_decode(fetched["sealed_keys"].as_str().unwrap()).unwrap();
    let keys =
        identity_box::backup::wire::SealedKeys::open(&secrets.recipient, &sealed_keys).unwrap();
    let key = *keys.identities[0].secret().unwrap().expose();
    let sealed = sealed_key_on_disk(&daemon.data_dir, &did);
    Household { owner, key, sealed }
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

/// The files under `dir` that hold `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}

fn fingerprint(daemon: &Daemon) -> String {
    daemon.get("/v1/info").json()["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// What a finished erase leaves: a new box, and no byte of the old key, clear or sealed.
fn assert_erased(dir: &Path, household: &Household) {
    assert!(!dir.join(MARKER_FILE).exists());
    assert_eq!(holding(dir, &household.key), Vec::<PathBuf>::new());
    assert_eq!(holding(dir, &household.sealed), Vec::<PathBuf>::new());
}

#[test]
fn a_factory_reset_leaves_no_identity_key_byte_under_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    let mut household = household(&daemon);
    let old = fingerprint(&daemon);
    // The key is sealed on disk, never in the clear; the test can fail: the sealed key is there.
    assert_eq!(holding(dir.path(), &household.key), Vec::<PathBuf>::new());
    assert!(!holding(dir.path(), &household.sealed).is_empty());

    let answer = household
        .owner
        .call_json("box.factory_reset", json!({"confirm": "erase everything"}))
        .unwrap();
    assert_eq!(answer["erased"], json!(true));
    daemon.wait_ready_again();
    assert_ne!(fingerprint(&daemon), old);
    assert_erased(dir.path(), &household);
}

#[test]
fn a_reset_cut_short_by_sigkill_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    let mut household = household(&daemon);
    let old = fingerprint(&daemon);
    // A request whose body is still coming holds the box's drain (up to its grace period of
    // 10 s), so that the erase cannot have begun when the kill comes.
    let mut slow = TcpStream::connect(daemon.addr).unwrap();
    write!(
        slow,
        "POST /v1/rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{\"v\":"
    )
    .unwrap();
    slow.flush().unwrap();

    let answer = household
        .owner
        .call_json("box.factory_reset", json!({"confirm": "erase everything"}))
        .unwrap();
    assert_eq!(answer["erased"], json!(true));
    // "erased" was answered after the marker was durable; the kill comes before the erase.
    assert!(dir.path().join(MARKER_FILE).exists());
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    drop(slow);
    // The test can fail: the old box's seed and sealed key are still there.
    assert!(dir.path().join("box-seed").exists());
    assert!(!holding(dir.path(), &household.sealed).is_empty());

    let daemon = Daemon::ready(dir.path(), &[]);
    assert!(
        daemon.stderr().contains("a factory reset is pending"),
        "{}",
        daemon.stderr()
    );
    assert_ne!(fingerprint(&daemon), old);
    assert_erased(dir.path(), &household);
    // The old phone is a stranger to the new box.
    household.owner.prefer_addrs(vec![daemon.addr.to_string()]);
    assert!(household.owner.call_json("box.info", json!({})).is_err());
}

#[test]
fn the_memory_card_reset_file_erases_the_box_at_its_next_start_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let card = tempfile::tempdir().unwrap();
    let card_file = card.path().join("identity-box-factory-reset");
    let at_next_start = |extra: &[&std::ffi::OsStr]| {
        box_command()
            .args(["factory-reset", "--at-next-start", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    let with_card = || at_next_start(&[std::ffi::OsStr::new("--card-file"), card_file.as_os_str()]);

    let mut daemon = Daemon::ready(dir.path(), &[]);
    let household = household(&daemon);
    let old = fingerprint(&daemon);
    daemon.terminate();

    // No file on the card: nothing happens.
    let out = with_card();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("No reset was asked for"));
    assert!(!dir.path().join(MARKER_FILE).exists());
    // Without the card file, only with --yes.
    let out = at_next_start(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(!dir.path().join(MARKER_FILE).exists());
    let daemon = Daemon::ready(dir.path(), &[]);
    assert_eq!(fingerprint(&daemon), old, "nothing was erased");
    drop(daemon);

    // The household puts the file on the card (in a computer); at boot the image's unit runs
    // the command, which marks the box and deletes the file.
    std::fs::write(&card_file, b"").unwrap();
    let out = with_card();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("will be erased"));
    assert!(!card_file.exists());
    assert!(dir.path().join(MARKER_FILE).exists());

    let mut daemon = Daemon::ready(dir.path(), &[]);
    let new = fingerprint(&daemon);
    assert_ne!(new, old);
    assert_erased(dir.path(), &household);
    // Once: the next boot finds no file and keeps the new box.
    daemon.terminate();
    assert!(with_card().status.success());
    let daemon = Daemon::ready(dir.path(), &[]);
    assert_eq!(fingerprint(&daemon), new);
}
