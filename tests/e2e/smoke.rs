//! The smallest proof that a build works: `--version`, then `serve` on 127.0.0.1 answers
//! `/health` with 200 and exits 0 on SIGTERM. CI runs it a second time against the aarch64
//! release binary under qemu-user (`IDBOX_TEST_EXEC`, see .ci/run).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{Daemon, box_command};

#[test]
fn version_then_serve_health_then_sigterm() {
    let out = box_command().arg("--version").output().unwrap();
    assert!(out.status.success());
    let version = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        version.trim(),
        format!("identity-box {}", env!("CARGO_PKG_VERSION"))
    );

    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    let health = daemon.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["version"], env!("CARGO_PKG_VERSION"));
    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
}
