//! The admin socket's protocol: one JSON request line, one JSON answer line, over a Unix socket
//! that only root and the service user can open (protocol §8). The daemon serves it; the `status`
//! (later `pair`, `factory-reset`) commands use [`request`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The socket's file name inside the runtime directory.
pub const SOCKET_NAME: &str = "admin.sock";

/// Where the packaged unit's socket lives (`RuntimeDirectory=identity-box`); the admin commands
/// look there too, since a shell on the box has no `$RUNTIME_DIRECTORY`.
pub const SYSTEM_RUNTIME_DIR: &str = "/run/identity-box";

/// The longest request or answer line accepted.
pub const MAX_LINE: u64 = 64 * 1024;

/// A command sent to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// Health, version, uptime, data directory and public keys.
    Status,
    /// Open a pairing window (or keep the open one) and return its URI.
    Pair,
    /// Erase everything and start again as a new box.
    FactoryReset,
    /// Dial another node (a box, through a relay when the address says so) and report whether
    /// the connection became direct.
    Reach { addr: String },
}

/// The daemon's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AdminResponse {
    Status(Box<StatusReport>),
    Pairing {
        /// The QR payload.
        uri: String,
        /// When the window closes (Unix seconds, box clock); `None` while it lasts until a pairing.
        expires: Option<i64>,
        /// The box's clock when it answered.
        now: i64,
    },
    /// The box is erasing itself and will start again as a new box.
    Resetting {
        /// The fingerprint of the box being erased (the new box has another).
        old_fingerprint: String,
    },
    /// What `Reach` found.
    Reached(crate::ipfs::Reach),
    Error {
        message: String,
    },
}

/// What `identity-box status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub name: String,
    pub version: String,
    /// The database is open and the box answers `/health` with 200.
    pub healthy: bool,
    /// Seconds since the daemon started (the same name as in `/v1/info` and `box.info`).
    #[serde(alias = "uptime_secs")]
    pub uptime_s: u64,
    pub data_dir: PathBuf,
    pub listen: String,
    /// Box agreement key, b64u (the key a phone pins when pairing).
    pub agreement_key: String,
    /// Box signing key, b64u.
    pub signing_key: String,
    /// `fp` of protocol §8.
    pub fingerprint: String,
    /// When this box was first started, Unix seconds.
    pub first_started_at: Option<i64>,
    /// Paired devices (absent while the database is not open).
    pub devices: Option<u64>,
    /// Whether a phone can pair right now.
    pub pairing_open: bool,
    /// Live identities (absent while the database is not open).
    #[serde(default)]
    pub identities: Option<u64>,
    /// Backups of all devices (absent while the database is not open).
    #[serde(default)]
    pub backups: Option<u64>,
    /// The IPFS node (absent while it is not running).
    #[serde(default)]
    pub ipfs: Option<IpfsStatus>,
}

/// The embedded IPFS node, as `identity-box status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpfsStatus {
    pub peer_id: String,
    /// Listening addresses, each ending in `/p2p/<peer id>` (dialable as written).
    pub listen: Vec<String>,
    /// Connected peers.
    pub peers: u64,
    /// Records of peers the DHT store holds (at most 1,024; protocol §9).
    #[serde(default)]
    pub dht_peer_records: u64,
    /// Records peers put that the box refused since it started.
    #[serde(default)]
    pub dht_refused: u64,
    /// `lan` or `public` (`ipfs.network`).
    #[serde(default = "lan")]
    pub network: crate::ipfs::Network,
    /// Whether the node answers other nodes' DHT queries (server mode).
    #[serde(default)]
    pub dht_server: bool,
    /// What AutoNAT found (`public` mode): `unknown`, `public` or `private`.
    #[serde(default = "unknown")]
    pub reachability: crate::ipfs::Reachability,
    /// The relayed addresses the box holds a reservation at (protocol §4, "Across homes").
    #[serde(default)]
    pub relayed: Vec<String>,
    /// The last hole punch (DCUtR).
    #[serde(default)]
    pub hole_punch: Option<crate::ipfs::HolePunch>,
    /// What the box's relay server carries (`ipfs.relay_server`), absent while it is off.
    #[serde(default)]
    pub relay_server: Option<crate::ipfs::RelayLoad>,
}

fn lan() -> crate::ipfs::Network {
    crate::ipfs::Network::Lan
}

fn unknown() -> crate::ipfs::Reachability {
    crate::ipfs::Reachability::Unknown
}

/// Why an admin command could not reach the daemon.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No socket exists where the daemon would put it.
    #[error(
        "the Identity Box service is not running (no admin socket at {}); start it with \
         `systemctl start identity-box` or `identity-box serve`", .0.display()
    )]
    NotRunning(PathBuf),
    /// The socket exists but refused us (permissions) or nobody listens.
    #[error(
        "cannot reach the Identity Box service at {path}: {source}; run this as root or as the service user"
    )]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The daemon did not answer in time or answered nonsense.
    #[error("the Identity Box service did not answer properly: {0}")]
    Protocol(String),
}

/// The socket to use: the first of `candidates` that exists.
pub fn find_socket(candidates: &[PathBuf]) -> Result<PathBuf, AdminError> {
    candidates
        .iter()
        .map(|dir| dir.join(SOCKET_NAME))
        .find(|p| p.exists())
        .ok_or_else(|| {
            AdminError::NotRunning(
                candidates
                    .first()
                    .map(|d| d.join(SOCKET_NAME))
                    .unwrap_or_default(),
            )
        })
}

/// Sends one request and reads its answer.
pub async fn request(socket: &Path, req: &AdminRequest) -> Result<AdminResponse, AdminError> {
    let exchange = async {
        let stream = UnixStream::connect(socket)
            .await
            .map_err(|source| AdminError::Connect {
                path: socket.to_owned(),
                source,
            })?;
        let (read, mut write) = stream.into_split();
        let mut line = serde_json::to_vec(req).map_err(|e| AdminError::Protocol(e.to_string()))?;
        line.push(b'\n');
        write
            .write_all(&line)
            .await
            .map_err(|e| AdminError::Protocol(e.to_string()))?;
        let answer = read_line(read)
            .await
            .map_err(|e| AdminError::Protocol(e.to_string()))?
            .ok_or_else(|| {
                AdminError::Protocol("the connection closed without an answer".into())
            })?;
        serde_json::from_str(&answer).map_err(|e| AdminError::Protocol(e.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| AdminError::Protocol("no answer within 30 seconds".into()))?
}

/// Reads one line of at most [`MAX_LINE`] bytes; `None` at end of stream.
pub async fn read_line<R: tokio::io::AsyncRead + Unpin>(
    read: R,
) -> std::io::Result<Option<String>> {
    let mut reader = BufReader::new(read.take(MAX_LINE + 1));
    let mut line = String::new();
    let n = reader.read_line(&mut line).await?;
    if n == 0 {
        return Ok(None);
    }
    if line.len() as u64 > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "line too long",
        ));
    }
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
}

/// Parses a request line; the error is what the daemon answers.
pub fn parse_request(line: &str) -> Result<AdminRequest, String> {
    serde_json::from_str(line).map_err(|e| format!("unknown or malformed admin request: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_wire_format() {
        assert_eq!(
            serde_json::to_string(&AdminRequest::Status).unwrap(),
            r#"{"cmd":"status"}"#
        );
        assert_eq!(
            parse_request(r#"{"cmd":"status"}"#).unwrap(),
            AdminRequest::Status
        );
        assert!(parse_request(r#"{"cmd":"format_disk"}"#).is_err());
        assert!(parse_request("not json").is_err());
    }

    #[tokio::test]
    async fn long_lines_are_refused() {
        let data = vec![b'a'; MAX_LINE as usize + 10];
        let err = read_line(data.as_slice()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let ok = read_line(&b"{\"cmd\":\"status\"}\n"[..]).await.unwrap();
        assert_eq!(ok.as_deref(), Some("{\"cmd\":\"status\"}"));
    }

    #[test]
    fn missing_socket_says_how_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let err = find_socket(&[dir.path().to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not running"), "{err}");
        assert!(err.contains("identity-box serve"), "{err}");
    }
}
