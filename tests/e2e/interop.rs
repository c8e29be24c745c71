//! A phone written in Python with PyNaCl (libsodium) pairs and calls `box.info`: the wire format
//! is plain NaCl, as protocol §2 and §3 promise. `scripts/test.sh` installs PyNaCl
//! (`pip install pynacl`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::Daemon;

#[test]
fn a_pynacl_phone_pairs_and_calls_box_info() {
    let has_nacl = std::process::Command::new("python3")
        .args(["-c", "import nacl"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_nacl,
        "PyNaCl is missing: pip install pynacl (scripts/test.sh does)"
    );

    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pynacl_phone.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(daemon.startup_uri())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["role"], "owner");
    assert_eq!(answer["result"]["devices"], 1);
    assert_eq!(
        answer["result"]["agreement_key"],
        daemon.get("/v1/info").json()["agreement_key"]
    );
}
