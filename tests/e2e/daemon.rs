//! The daemon as a process: start-up, keys across restarts, status, errors, SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{BIN, Daemon, Started};

#[test]
fn serves_health_and_info_then_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    let health = daemon.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let info = daemon.get("/v1/info");
    assert_eq!(info.status, 200);
    // A box nobody has paired with is open for pairing.
    assert_eq!(info.json()["pairing_open"], true);
    let status = daemon.terminate();
    assert!(status.success(), "{status}");
    // The admin socket is removed on a clean stop.
    assert!(!dir.path().join("admin.sock").exists());
}

#[test]
fn keys_survive_a_restart_and_the_seed_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Daemon::ready(dir.path(), &[]);
    let key = first.get("/v1/info").json()["agreement_key"].clone();
    assert!(first.terminate().success());

    let seed = dir.path().join("box-seed");
    let mode = std::fs::metadata(&seed).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read(&seed).unwrap().len(), 32);

    let mut second = Daemon::ready(dir.path(), &[]);
    assert_eq!(second.get("/v1/info").json()["agreement_key"], key);
    assert!(second.terminate().success());

    // Another data directory is another box.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Daemon::ready(other_dir.path(), &[]);
    assert_ne!(other.get("/v1/info").json()["agreement_key"], key);
}

#[test]
fn status_command_talks_to_the_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &[]);
    let info = daemon.get("/v1/info").json();

    let out = common::admin_command(&["status", "--json"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["healthy"], true);
    assert_eq!(report["agreement_key"], info["agreement_key"]);
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["data_dir"], dir.path().to_str().unwrap());
    assert_eq!(report["listen"], daemon.addr.to_string());
    assert_eq!(report["devices"], 0);
    assert_eq!(report["pairing_open"], true);

    let human = common::admin_command(&["status"], dir.path());
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("healthy"), "{text}");
    assert!(
        text.contains(info["agreement_key"].as_str().unwrap()),
        "{text}"
    );

    let mode = std::fs::metadata(dir.path().join("admin.sock"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn status_without_a_daemon_says_it_is_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::admin_command(&["status"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not running"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_damaged_database_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity-box.sqlite3"), vec![0x42u8; 16384]).unwrap();
    match Daemon::start(dir.path(), &[]) {
        Started::Ready(_) => panic!("a damaged database must not report ready"),
        Started::Failed(status, err) => {
            // 78 is listed in the unit's RestartPreventExitStatus=: no crash loop.
            assert_eq!(status.code(), Some(78), "{err}");
            assert!(err.contains("identity-box.sqlite3 is damaged"), "{err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn a_bad_configuration_value_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[http]\nidle_timeout_secs = -5\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`http.idle_timeout_secs`"), "{err}");
    assert!(err.contains("config.toml"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Nothing was created: the box refused to start.
    assert!(!dir.path().join("box-seed").exists());
}

#[test]
fn a_second_daemon_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Daemon::ready(dir.path(), &[]);
    match Daemon::start(dir.path(), &[]) {
        Started::Ready(_) => panic!("two daemons share one data directory"),
        Started::Failed(status, err) => {
            assert_eq!(status.code(), Some(1));
            assert!(err.contains("already running"), "{err}");
        }
    }
}

#[test]
fn version_flag() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("identity-box {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn foreign_host_gets_421_and_an_oversized_body_413() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(dir.path(), &["--config", "/dev/null"]);
    let res = common::http(
        daemon.addr,
        "GET /v1/info HTTP/1.1\r\nHost: evil.com\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(res.status, 421);
    assert_eq!(res.json()["error"], "misdirected_request");
    assert!(
        !res.head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin")
    );

    // 17 MiB declared: refused before a byte of the body is read.
    let res = common::http(
        daemon.addr,
        "POST /v1/info HTTP/1.1\r\nHost: localhost\r\nContent-Length: 17825792\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(res.status, 413);
    assert_eq!(res.json()["error"], "too_large");
}

#[test]
fn sigterm_closes_kept_alive_connections_and_exits_0() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::ready(dir.path(), &[]);
    // A browser-like client keeps its connection open after a request.
    let mut conn = std::net::TcpStream::connect(daemon.addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    conn.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0), "{}", daemon.stderr());
    // The drain closed the idle connection instead of waiting for it.
    assert_eq!(conn.read(&mut buf).unwrap_or(0), 0);
    assert!(
        daemon.stderr().contains("every request finished"),
        "{}",
        daemon.stderr()
    );
}

/// The packaged service gets port 80 from systemd (identity-box.socket) and needs no privilege:
/// a socket passed the systemd way (`LISTEN_FDS`, here by `systemd-socket-activate`, which binds
/// it first and starts the box at the first connection) is served instead of `--listen`, and
/// still after a factory reset, when the box starts again in the same process.
#[test]
fn a_socket_systemd_passes_is_served_also_after_a_factory_reset() {
    let activate = "/usr/bin/systemd-socket-activate";
    assert!(
        std::path::Path::new(activate).exists(),
        "{activate} is missing: apt-get install systemd"
    );
    // A free port for the activator (it needs a number; it binds it before starting the box).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let socket = format!("127.0.0.1:{port}");
    // The first connection starts the box; it waits in the socket's queue meanwhile.
    let knock = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                match std::net::TcpStream::connect(&socket) {
                    Ok(stream) => {
                        let mut stream = stream;
                        use std::io::{Read, Write};
                        stream
                            .write_all(
                                b"GET /v1/info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                            )
                            .unwrap();
                        let mut answer = Vec::new();
                        stream.read_to_end(&mut answer).unwrap();
                        return common::parse_response(&answer);
                    }
                    Err(e) => {
                        assert!(std::time::Instant::now() < deadline, "{socket}: {e}");
                        std::thread::yield_now();
                    }
                }
            }
        })
    };
    let passed_env = [
        "NOTIFY_SOCKET",
        "RUST_LOG",
        "IDENTITY_BOX_MDNS__ENABLED",
        "IDENTITY_BOX_IPFS__MDNS",
        "IDENTITY_BOX_IPFS__LISTEN",
    ];
    let mut prefix = vec![activate, "--listen", socket.as_str()];
    for name in &passed_env {
        prefix.extend(["--setenv", name]);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start_in(&prefix, dir.path(), &[], &[]).expect_ready();
    // `--listen 127.0.0.1:0` was given too: the passed socket wins.
    assert_eq!(daemon.addr.port(), port);
    let first = knock.join().unwrap();
    assert_eq!(
        first.status, 200,
        "the connection that started the box is answered"
    );
    assert!(
        daemon.stderr().contains(&format!(
            "serving HTTP on the socket passed by systemd ({socket})"
        )),
        "{}",
        daemon.stderr()
    );
    let old = daemon.get("/v1/info").json()["fingerprint"].clone();

    let mut phone = common::owner(&daemon);
    phone
        .call_json(
            "box.factory_reset",
            serde_json::json!({"confirm": "erase everything"}),
        )
        .unwrap();
    daemon.wait_ready_again();
    let info = daemon.get("/v1/info");
    assert_eq!(info.status, 200);
    assert_ne!(
        info.json()["fingerprint"],
        old,
        "a new box, on the same socket"
    );
}
