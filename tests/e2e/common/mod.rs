//! Helpers for end-to-end tests: a real daemon process on 127.0.0.1:0, found through the same
//! `sd_notify` readiness message systemd waits for (no sleeping, no port guessing).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

pub mod netns;

/// Runs an admin command (`status`, `pair`…) for the box whose data directory is `data_dir`.
pub fn admin_command(args: &[&str], data_dir: &Path) -> std::process::Output {
    box_command()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUNTIME_DIRECTORY")
        .output()
        .unwrap()
}

/// Writes a configuration file into `dir` and returns its path.
pub fn config_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_identity-box");

/// The command that runs the box: this build's binary, or `IDBOX_TEST_EXEC` (a command
/// prefix such as `qemu-aarch64-static target/aarch64-unknown-linux-gnu/release/identity-box`),
/// so the same tests can run a cross-built binary under emulation.
pub fn box_command() -> Command {
    match std::env::var("IDBOX_TEST_EXEC") {
        Ok(exec) if !exec.trim().is_empty() => {
            let mut parts = exec.split_whitespace();
            let mut cmd = Command::new(parts.next().unwrap());
            cmd.args(parts);
            cmd
        }
        _ => Command::new(BIN),
    }
}

/// A daemon started by a test; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    _notify_dir: tempfile::TempDir,
    notify: UnixDatagram,
}

/// What a start attempt produced.
pub enum Started {
    Ready(Daemon),
    /// The process exited before it was ready: its status and stderr.
    Failed(ExitStatus, String),
}

impl Started {
    /// The daemon, or the test fails with its status and stderr.
    #[allow(dead_code)]
    pub fn expect_ready(self) -> Daemon {
        match self {
            Started::Ready(d) => d,
            Started::Failed(status, err) => panic!("daemon failed ({status}): {err}"),
        }
    }
}

impl Daemon {
    /// Starts `identity-box serve --data-dir DIR --listen 127.0.0.1:0 EXTRA…` and waits for
    /// `READY=1` on a notify socket of the test's own.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Started {
        Self::start_with_env(data_dir, extra, &[])
    }

    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Started {
        Self::start_in(&[], data_dir, extra, env)
    }

    /// Like [`Daemon::start_with_env`], the command run under `prefix` (e.g. `ip netns exec NS`).
    pub fn start_in(
        prefix: &[&str],
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Started {
        let notify_dir = tempfile::tempdir().unwrap();
        let notify_path = notify_dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut cmd = if prefix.is_empty() {
            box_command()
        } else {
            let mut c = Command::new(prefix[0]);
            c.args(&prefix[1..]).arg(BIN);
            c
        };
        // Nothing of the developer's own configuration (IDENTITY_BOX_CONFIG, IPFS settings…):
        // each test says what it runs with.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IDENTITY_BOX_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("NOTIFY_SOCKET", &notify_path)
            .env_remove("RUNTIME_DIRECTORY")
            .env_remove("STATE_DIRECTORY")
            .env("RUST_LOG", "info")
            // Tests never announce on the machine's network; tests/e2e/discovery.rs turns it on
            // inside a network namespace of its own.
            .env("IDENTITY_BOX_MDNS__ENABLED", "false")
            // The IPFS node too: loopback only, no mDNS, no bootstrap peers.
            .env("IDENTITY_BOX_IPFS__MDNS", "false")
            .env("IDENTITY_BOX_IPFS__LISTEN", "[\"/ip4/127.0.0.1/tcp/0\"]")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(notify_dir.path().join("stdout.log")).unwrap())
            .stderr(std::fs::File::create(notify_dir.path().join("stderr.log")).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut status_line = None;
        let mut buf = [0u8; 4096];
        loop {
            match notify.recv(&mut buf) {
                Ok(n) => {
                    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                    for line in msg.lines() {
                        if let Some(s) = line.strip_prefix("STATUS=") {
                            status_line = Some(s.to_owned());
                        }
                    }
                    if msg.lines().any(|l| l == "READY=1") {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Some(status) = child.try_wait().unwrap() {
                        let err =
                            std::fs::read_to_string(notify_dir.path().join("stderr.log")).unwrap();
                        return Started::Failed(status, err);
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "daemon never became ready"
                    );
                }
                Err(e) => panic!("notify socket: {e}"),
            }
        }
        let status_line = status_line.expect("READY came with a STATUS");
        let url = status_line
            .strip_prefix("Serving on http://")
            .expect(&status_line);
        let addr = url.trim_end_matches('/').parse().unwrap();
        Started::Ready(Daemon {
            child,
            addr,
            data_dir: data_dir.to_owned(),
            _notify_dir: notify_dir,
            notify,
        })
    }

    pub fn ready(data_dir: &Path, extra: &[&str]) -> Daemon {
        Self::start(data_dir, extra).expect_ready()
    }

    /// Waits for the next `READY=1` (a box that restarts in the same process, after a
    /// factory reset, announces readiness again).
    #[allow(dead_code)]
    pub fn wait_ready_again(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut buf = [0u8; 4096];
        loop {
            match self.notify.recv(&mut buf) {
                Ok(n) => {
                    if String::from_utf8_lossy(&buf[..n])
                        .lines()
                        .any(|l| l == "READY=1")
                    {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        self.child.try_wait().unwrap().is_none(),
                        "the daemon exited: {}",
                        self.stderr()
                    );
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the daemon never became ready again"
                    );
                }
                Err(e) => panic!("notify socket: {e}"),
            }
        }
    }

    /// What the daemon wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self._notify_dir.path().join("stdout.log")).unwrap_or_default()
    }

    /// The pairing URI a box nobody has paired with waits with (the until-paired window), as
    /// its console shows it (`identity-box pair --uri`). `serve` prints it only to a terminal.
    pub fn startup_uri(&self) -> String {
        self.console_uri()
    }

    /// Opens a pairing window from the console (`identity-box pair --uri`) and returns its URI.
    pub fn console_uri(&self) -> String {
        let out = admin_command(&["pair", "--uri"], &self.data_dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// What the daemon wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self._notify_dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }

    pub fn get(&self, path: &str) -> Response {
        http(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (names compare without case), if the response has it.
    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// A pairing URI from the running box, through its admin socket (`identity-box pair --uri`).
#[allow(dead_code)]
pub fn admin_pair_uri(daemon: &Daemon) -> String {
    let out = admin_command(&["pair", "--uri"], &daemon.data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// POSTs a JSON body and reads the response.
pub fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value) -> Response {
    let body = body.to_string();
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// Sends raw request bytes and reads the response until the server closes.
pub fn http(addr: SocketAddr, request: &str) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Response {
        status,
        head,
        body: raw[split + 4..].to_vec(),
    }
}

/// The real clock, as a phone has it.
pub fn clock() -> std::sync::Arc<dyn identity_box::clock::Clock> {
    std::sync::Arc::new(identity_box::clock::SystemClock)
}

/// The kind of a refusal (HTTP) or of a method's error (in the channel); any other failure
/// fails the test.
pub fn kind(e: identity_box::client::ClientError) -> String {
    use identity_box::client::ClientError;
    match e {
        ClientError::Refused { kind, .. } | ClientError::Rpc { kind, .. } => kind,
        other => panic!("expected a refusal, got {other}"),
    }
}

/// `identity-box verify ARGS…`: its exit code, stdout and stderr.
pub fn verify(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).arg("verify").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The household's first phone: pairs in the box's start-up window, so it is the owner.
#[allow(dead_code)]
pub fn owner(daemon: &Daemon) -> identity_box::client::Client {
    identity_box::client::Client::pair(&daemon.startup_uri(), "Phone A", clock()).unwrap()
}

/// Another phone, paired through a window the owner opens (a member).
#[allow(dead_code)]
pub fn member(
    owner: &mut identity_box::client::Client,
    name: &str,
) -> identity_box::client::Client {
    let opened = owner
        .call(&identity_box::protocol::devices::PairingOpen {})
        .unwrap();
    identity_box::client::Client::pair(&opened.uri, name, clock()).unwrap()
}

/// The public pairing window's URI, read from the QR code the web page shows
/// (`/v1/pairing/qr.svg`) as a phone's camera would: the SVG's dark squares, drawn into a
/// picture and decoded with a QR decoder. `None` while the box serves no QR code.
#[allow(dead_code)]
pub fn public_pairing_uri(daemon: &Daemon) -> Option<String> {
    let svg = daemon.get("/v1/pairing/qr.svg");
    if svg.status == 404 {
        return None;
    }
    assert_eq!(svg.status, 200);
    Some(decode_qr_svg(std::str::from_utf8(&svg.body).unwrap()))
}

/// Decodes the QR code of an SVG drawn by the `qrcode` crate: a `width`×`height` canvas and one
/// path of `M{x} {y}h{w}v{h}H{x}V{y}` dark rectangles.
#[allow(dead_code)]
pub fn decode_qr_svg(svg: &str) -> String {
    let number = |name: &str| -> usize {
        let at = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[at..].split('"').next().unwrap().parse().unwrap()
    };
    let (width, height) = (number("width"), number("height"));
    let mut dark = vec![false; width * height];
    let path = svg
        .split(" d=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    for rect in path.split('M').filter(|r| !r.is_empty()) {
        // "x y" then "h w", "v h", "H x", "V y".
        let (xy, rest) = rect.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (w, rest) = rest.split_once('v').unwrap();
        let (h, _) = rest.split_once('H').unwrap();
        let [x, y, w, h] = [x, y, w, h].map(|n| n.parse::<usize>().unwrap());
        for row in y..y + h {
            for col in x..x + w {
                dark[row * width + col] = true;
            }
        }
    }
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        if dark[y * width + x] { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code in the SVG");
    grids[0].decode().unwrap().1
}

/// A configuration whose boot id lives in a file of the test's own, so that the test decides
/// when the box "was power-cycled" (protocol §2, the start-up window). Returns the
/// configuration file and the boot id file.
#[allow(dead_code)]
pub fn boot_id_config(dir: &Path, extra: &str) -> (PathBuf, PathBuf) {
    let boot_id = dir.join("boot_id");
    std::fs::write(&boot_id, "boot-1\n").unwrap();
    let config = config_file(
        dir,
        &format!(
            "[pairing]\nboot_id_file = {:?}\n{extra}",
            boot_id.to_str().unwrap()
        ),
    );
    (config, boot_id)
}

/// The `ipfs` part of a running daemon's `identity-box status --json`.
pub fn ipfs_status(data_dir: &Path) -> serde_json::Value {
    let out = admin_command(&["status", "--json"], data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["ipfs"].clone()
}

/// The IPFS listening addresses of a running daemon, from `identity-box status --json`.
pub fn ipfs_addrs(data_dir: &Path) -> Vec<String> {
    ipfs_status(data_dir)["listen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// An IPFS node of the test's own on 127.0.0.1 (LAN mode, no mDNS), which dials `bootstrap`
/// (the box); `seed` makes its key.
pub async fn test_node(repo: &Path, bootstrap: &str, seed: u8) -> identity_box::ipfs::Node {
    let config = identity_box::ipfs::NodeConfig {
        network: identity_box::ipfs::Network::Lan,
        repo: repo.to_owned(),
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        bootstrap: vec![bootstrap.to_owned()],
        mdns: false,
        delegated_routing: Vec::new(),
        announce: Vec::new(),
        relays: Vec::new(),
        relay_server: Default::default(),
        channel_max_bytes: 64 * 1024 * 1024,
    };
    identity_box::ipfs::Node::start(&config, &[seed; 32])
        .await
        .unwrap()
}
