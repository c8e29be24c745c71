//! The daemon's side of the admin socket (mode 0660: root and the service user only).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::DaemonError;
use crate::admin::{self, AdminRequest, AdminResponse, IpfsStatus, StatusReport};
use crate::api::AppState;

/// A bound admin socket.
#[derive(Debug)]
pub struct Bound {
    listener: UnixListener,
    pub path: PathBuf,
}

/// What the admin commands can see.
#[derive(Debug, Clone)]
pub struct Context {
    pub state: Arc<AppState>,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
}

/// Binds the socket at `path`, replacing a stale one left by a crash; refuses when a live daemon
/// still answers there.
pub fn bind(path: &Path) -> Result<Bound, DaemonError> {
    let err = |source| DaemonError::AdminSocket {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::AlreadyRunning(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    Ok(Bound {
        listener,
        path: path.to_owned(),
    })
}

/// Answers admin requests until `stop` is cancelled.
pub async fn serve(bound: Bound, ctx: Context, stop: CancellationToken) {
    let mut clients = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            accepted = bound.listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    clients.spawn(async move {
                        // A client that sends nothing is not allowed to hold a task forever.
                        let _ = tokio::time::timeout(Duration::from_secs(30), answer(stream, &ctx)).await;
                    });
                }
                Err(e) => {
                    log::warn!("admin socket: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    clients.abort_all();
    while clients.join_next().await.is_some() {}
}

async fn answer(stream: UnixStream, ctx: &Context) {
    let (read, mut write) = stream.into_split();
    let response = match admin::read_line(read).await {
        Ok(Some(line)) => match admin::parse_request(&line) {
            Ok(req) => handle(req, ctx).await,
            Err(message) => AdminResponse::Error { message },
        },
        Ok(None) => return,
        Err(e) => AdminResponse::Error {
            message: format!("bad admin request: {e}"),
        },
    };
    let Ok(mut line) = serde_json::to_vec(&response) else {
        return;
    };
    line.push(b'\n');
    let _ = write.write_all(&line).await;
}

async fn handle(req: AdminRequest, ctx: &Context) -> AdminResponse {
    match req {
        AdminRequest::Pair => {
            let pairing = ctx.state.pairing();
            // A box nobody has paired with: the console shows the window that waits for the
            // first phone (its owner). Otherwise it opens a window for a member, whose code
            // only this terminal gets.
            let (uri, expires) = match pairing.public_window() {
                Some(window) if pairing.until_paired() => window,
                _ => {
                    log::info!("pairing window opened from the console");
                    pairing.open_window()
                }
            };
            AdminResponse::Pairing {
                uri: uri.encode(),
                expires,
                now: pairing.now(),
            }
        }
        AdminRequest::FactoryReset => {
            log::warn!("factory reset from the console");
            match ctx.state.request_factory_reset() {
                Ok(()) => AdminResponse::Resetting {
                    old_fingerprint: ctx.state.keys().fingerprint.clone(),
                },
                Err(e) => AdminResponse::Error {
                    message: format!(
                        "cannot start the erase ({e}); nothing was erased. Check that the data \
                         directory is writable, then try again"
                    ),
                },
            }
        }
        AdminRequest::Reach { addr } => match ctx.state.identities() {
            None => AdminResponse::Error {
                message: "the box's IPFS node is not running yet: try again in a minute".into(),
            },
            Some(ids) => match ids.node().reach(&addr).await {
                Ok(reached) => AdminResponse::Reached(reached),
                Err(e) => AdminResponse::Error {
                    message: e.to_string(),
                },
            },
        },
        AdminRequest::Status => {
            let f = ctx.state.facts(crate::api::Scope::Full).await;
            AdminResponse::Status(Box::new(StatusReport {
                name: f.name,
                version: f.version,
                healthy: f.healthy,
                uptime_s: f.uptime_s,
                data_dir: ctx.data_dir.clone(),
                listen: ctx.listen.to_string(),
                agreement_key: f.agreement_key,
                signing_key: f.signing_key,
                fingerprint: f.fingerprint,
                first_started_at: f.first_started_at,
                devices: f.devices,
                pairing_open: f.pairing_open,
                identities: f.identities,
                backups: f.backups,
                ipfs: f.ipfs.map(|i| IpfsStatus {
                    peer_id: i.peer_id,
                    listen: i.listen,
                    peers: i.peers as u64,
                    dht_peer_records: i.dht.remote_records as u64,
                    dht_refused: i.dht.refused,
                    network: i.net.network,
                    dht_server: i.net.dht_server,
                    reachability: i.net.reachability,
                    relayed: i.net.relayed,
                    hole_punch: i.net.hole_punch,
                    relay_server: i.net.relay_server,
                }),
            }))
        }
    }
}
