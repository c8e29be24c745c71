//! Start-up and shutdown order, background tasks, the admin socket, and the service manager.
//!
//! Start: data directory (locked) → box keys → HTTP listener bound and serving (`/health` 503)
//! → admin socket → database opened and checked → IPFS node started → ready (`/health` 200,
//! `READY=1`) → identity records republished (then every few hours).
//! Stop (SIGTERM, SIGINT, or the caller's token): `STOPPING=1` → stop accepting → requests in
//! flight finish (bounded by `http.shutdown_grace_secs`) → every task joined → IPFS node
//! stopped → database closed.

mod admin_server;
pub mod logging;
pub mod systemd;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AllowedHosts, AppState, RateLimits, RouteLimits, server::ServerLimits};
use crate::backup::Backups;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::crypto::{BoxKeys, BoxSeed, KeyError, SeedOrigin};
use crate::fsutil;
use crate::identity::Identities;
use crate::ipfs::{self, IpfsError, Node};
use crate::pairing::window::WindowConfig;
use crate::pairing::{Pairing, PairingConfig};
use crate::reset;
use crate::store::{self, Store, StoreError};

/// The seed file inside the data directory.
pub use crate::reset::SEED_FILE;
const LOCK_FILE: &str = "lock";

/// Nonces the channel's replay cache holds (about 60 bytes each).
const REPLAY_CAPACITY: usize = 100_000;

/// Exit status for a problem a restart cannot fix (bad configuration, damaged data); the unit
/// lists it in `RestartPreventExitStatus=` so the box does not loop.
pub const EXIT_NEEDS_ATTENTION: u8 = 78;

/// Values systemd passes through the environment, read once by the caller.
#[derive(Debug, Clone, Default)]
pub struct DaemonEnv {
    /// `$STATE_DIRECTORY`
    pub state_directory: Option<String>,
    /// `$RUNTIME_DIRECTORY`
    pub runtime_directory: Option<String>,
    /// The HTTP socket systemd passed ([`systemd::take_http_listener`]); served instead of
    /// binding `listen`.
    pub http_listener: Option<Arc<std::net::TcpListener>>,
}

impl DaemonEnv {
    /// The directories from the environment (the socket is taken separately, once).
    pub fn from_process() -> Self {
        Self {
            state_directory: std::env::var("STATE_DIRECTORY").ok(),
            runtime_directory: std::env::var("RUNTIME_DIRECTORY").ok(),
            http_listener: None,
        }
    }
}

/// The HTTP listener: the socket systemd passed, or `listen` bound now.
async fn http_listener(env: &DaemonEnv, listen: SocketAddr) -> std::io::Result<TcpListener> {
    match &env.http_listener {
        Some(passed) => {
            let listener = passed.try_clone()?;
            listener.set_nonblocking(true)?;
            let listener = TcpListener::from_std(listener)?;
            log::info!(
                "serving HTTP on the socket passed by systemd ({})",
                listener.local_addr()?
            );
            Ok(listener)
        }
        None => TcpListener::bind(listen).await,
    }
}

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be made or used.
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another daemon holds the data directory.
    #[error("another identity-box is already running with the data directory {0}")]
    AlreadyRunning(PathBuf),
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The HTTP address cannot be bound.
    #[error("cannot listen on {addr}: {source}; {}", listen_hint(.source))]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The admin socket cannot be made.
    #[error("cannot create the admin socket {path}: {source}")]
    AdminSocket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ipfs(#[from] IpfsError),
    /// Signal handlers could not be installed.
    #[error("cannot watch for stop signals: {0}")]
    Signals(std::io::Error),
}

fn listen_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another program is using that port; stop it or choose another address with --listen"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "this machine has no such address; use 0.0.0.0 or one of its own addresses with --listen"
        }
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need the CAP_NET_BIND_SERVICE capability; the packaged service gets \
             port 80 from systemd instead (identity-box.socket)"
        }
        _ => "choose another address with --listen",
    }
}

impl DaemonError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Config(_)
            | DaemonError::Keys(KeyError::Damaged { .. })
            | DaemonError::Store(StoreError::Damaged { .. })
            | DaemonError::Ipfs(IpfsError::BadAddress { .. }) => EXIT_NEEDS_ATTENTION,
            _ => 1,
        }
    }
}

/// How a run of the daemon ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// SIGTERM, SIGINT or the caller's token.
    Stopped,
    /// A factory reset erased the data directory: start again, as a new box, on `listen`
    /// (the address this run had, so that a port chosen by the system stays the same).
    FactoryReset { listen: SocketAddr },
}

/// A started box: bound, open and serving, but not yet announced as ready. [`start`] builds
/// it; the caller prints what a person should see (`cli`), then [`Running::run`] says ready and
/// serves until a stop or a factory reset.
#[derive(Debug)]
pub struct Running {
    parts: Parts,
    state: Arc<AppState>,
    store: Store,
    data_dir: PathBuf,
    local_addr: SocketAddr,
    name: String,
}

/// What has been started so far, stopped by one path ([`Parts::stop`]) in the reverse order:
/// whether start-up failed half-way or the box ran and stops.
#[derive(Debug)]
struct Parts {
    /// The caller's token, also cancelled by SIGTERM and SIGINT.
    shutdown: CancellationToken,
    /// Stops the HTTP server, the admin socket and the background tasks.
    tasks_stop: CancellationToken,
    tasks: JoinSet<()>,
    admin_path: Option<PathBuf>,
    advertiser: Option<crate::discovery::Advertiser>,
    node: Option<Node>,
    /// Held for the daemon's lifetime (another daemon on the same data directory is refused).
    _lock: File,
}

impl Parts {
    /// Stops everything started, in order: the announcement, the tasks (the HTTP server
    /// drains its requests first), the admin socket, the IPFS node. The store is the caller's
    /// to close, and the data directory stays locked until `self` is dropped after that.
    async fn stop(&mut self) {
        if let Some(a) = self.advertiser.take() {
            let _ = tokio::task::spawn_blocking(move || a.stop()).await;
        }
        self.shutdown.cancel();
        self.tasks_stop.cancel();
        while let Some(result) = self.tasks.join_next().await {
            if let Err(e) = result {
                log::error!("a background task failed: {e}");
            }
        }
        if let Some(path) = &self.admin_path {
            let _ = std::fs::remove_file(path);
        }
        if let Some(node) = self.node.take() {
            node.stop().await;
        }
    }

    /// Start-up failed at `e`: what was started stops, and the error is returned.
    async fn fail(mut self, e: impl Into<DaemonError>, store: Option<Store>) -> DaemonError {
        self.stop().await;
        if let Some(store) = store {
            store.close().await;
        }
        e.into()
    }
}

/// Starts the box: data directory (locked) → keys → HTTP → admin socket → database → IPFS →
/// services → mDNS. Nothing is printed; `Ok(None)` when `shutdown` came during start-up.
pub async fn start(
    config: Config,
    env: DaemonEnv,
    shutdown: CancellationToken,
) -> Result<Option<Running>, DaemonError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let data_dir = config.data_dir(env.state_directory.as_deref())?;
    let runtime_dir = config.runtime_dir(env.runtime_directory.as_deref(), &data_dir);
    let data_err = |source| DaemonError::DataDir {
        path: data_dir.clone(),
        source,
    };
    fsutil::create_private_dir(&data_dir).map_err(data_err)?;
    let lock = lock_data_dir(&data_dir)?;
    if reset::pending(&data_dir).map_err(data_err)? {
        // A factory reset was asked for (or left unfinished by a power cut): nothing of the
        // old box may be read, so the erase comes before everything else.
        log::warn!("a factory reset is pending: erasing the data directory first");
        systemd::status("Finishing a factory reset");
        reset::erase(&data_dir).map_err(data_err)?;
        log::warn!("factory reset done: everything is erased; starting as a new box");
    }

    let (seed, origin) = BoxSeed::load_or_create(&data_dir.join(SEED_FILE))?;
    let keys = Arc::new(BoxKeys::from_seed(&seed));
    drop(seed);
    let public = keys.public();
    match origin {
        SeedOrigin::Created => log::info!("made new box keys (fingerprint {})", public.fingerprint),
        SeedOrigin::Loaded => log::info!("loaded box keys (fingerprint {})", public.fingerprint),
    }

    let listen_err = |source| DaemonError::Listen {
        addr: config.listen,
        source,
    };
    let listener = http_listener(&env, config.listen)
        .await
        .map_err(listen_err)?;
    let local_addr = listener.local_addr().map_err(listen_err)?;

    let state = Arc::new(app_state(
        &config,
        &data_dir,
        &keys,
        public,
        local_addr,
        clock.clone(),
    ));
    let mut parts = Parts {
        shutdown: shutdown.clone(),
        tasks_stop: shutdown.child_token(),
        tasks: JoinSet::new(),
        admin_path: None,
        advertiser: None,
        node: None,
        _lock: lock,
    };
    if let Err(e) = spawn_signal_watch(&mut parts.tasks, shutdown.clone()) {
        return Err(parts.fail(e, None).await);
    }
    serve_http(&mut parts, &config, &state, listener);

    if let Err(source) = fsutil::create_private_dir(&runtime_dir) {
        let e = DaemonError::AdminSocket {
            path: runtime_dir.clone(),
            source,
        };
        return Err(parts.fail(e, None).await);
    }
    let admin = match admin_server::bind(&runtime_dir.join(crate::admin::SOCKET_NAME)) {
        Ok(admin) => admin,
        Err(e) => return Err(parts.fail(e, None).await),
    };
    parts.admin_path = Some(admin.path.clone());
    let admin_ctx = admin_server::Context {
        state: state.clone(),
        data_dir: data_dir.clone(),
        listen: local_addr,
    };
    parts.tasks.spawn(admin_server::serve(
        admin,
        admin_ctx,
        parts.tasks_stop.clone(),
    ));

    systemd::status("Checking the database");
    let db_path = store::database_path(&data_dir);
    let store = tokio::select! {
        opened = Store::open(&db_path, clock.now_unix(), keys.vault().clone()) => match opened {
            Ok(store) => store,
            Err(e) => return Err(parts.fail(e, None).await),
        },
        () = shutdown.cancelled() => {
            let mut parts = parts;
            parts.stop().await;
            return Ok(None);
        }
    };
    resume_pairing(&state, &store, clock.as_ref(), &config.pairing.boot_id_file).await;

    systemd::status("Starting the IPFS node");
    let node_config = ipfs::NodeConfig {
        network: config.ipfs.network,
        repo: data_dir.join(reset::IPFS_DIR),
        listen: config.ipfs.listen.clone(),
        bootstrap: config.ipfs.bootstrap.clone(),
        mdns: config.ipfs.mdns,
        delegated_routing: config.ipfs.delegated_routing.clone(),
        announce: config.ipfs.announce.clone(),
        relays: config.ipfs.relays.clone(),
        relay_server: config.ipfs.relay_server.clone(),
        channel_max_bytes: usize::try_from(config.http.max_body_bytes).unwrap_or(usize::MAX),
    };
    let node = match Node::start(&node_config, keys.ipfs_node_seed().expose()).await {
        Ok(node) => node,
        Err(e) => return Err(parts.fail(e, Some(store)).await),
    };
    log::info!(
        "IPFS node {} on the {} network, listening on {}",
        node.peer_id(),
        match config.ipfs.network {
            ipfs::Network::Lan => "home (LAN-only)",
            ipfs::Network::Public => "public IPFS",
        },
        node.listen_addrs().await.join(", ")
    );
    parts.node = Some(node.clone());
    let identities = Identities::new(
        store.clone(),
        node,
        clock.clone(),
        config.ipfs.resolve_timeout(),
        config.quota.identities_per_device,
    );
    let backups = Backups::new(
        store.clone(),
        identities.clone(),
        keys.clone(),
        clock.clone(),
        config.backup.clone(),
        config.quota.backups_per_device,
    );
    state.set_services(identities.clone(), backups);
    {
        // The sealed channel over libp2p: the same requests as `POST /v1/rpc`, from a phone
        // or a box outside the home (protocol §3).
        let state = state.clone();
        if let Err(e) = identities
            .node()
            .serve_channel(move |peer, request| {
                crate::api::channel_over_libp2p(state.clone(), peer, request)
            })
            .await
        {
            log::warn!("{e}: phones outside the home cannot reach the box");
        }
    }
    state.set_store(store.clone());
    state.set_storage(crate::storage::Storage::new(&data_dir));
    parts.tasks.spawn(republish(
        identities,
        config.ipfs.republish_interval(),
        parts.tasks_stop.clone(),
    ));
    if let Some(interval) = systemd::watchdog_interval() {
        parts
            .tasks
            .spawn(watchdog(store.clone(), interval, parts.tasks_stop.clone()));
    }
    parts.advertiser = advertise(&config, &state, local_addr);
    Ok(Some(Running {
        parts,
        state,
        store,
        data_dir,
        local_addr,
        name: config.name,
    }))
}

impl Running {
    /// The box's name, as people see it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the HTTP server listens on (the port the system chose for `:0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The page a person should open.
    pub fn url(&self) -> String {
        page_url(self.local_addr)
    }

    /// The public pairing window's code (the QR code's text), if one is open: the one the web
    /// page shows (until-paired, or start-up).
    pub fn pairing_uri(&self) -> Option<String> {
        self.state
            .pairing()
            .public_window()
            .map(|(uri, _)| uri.encode())
    }

    /// Says ready (`READY=1`: whoever waits for it finds what the caller printed already
    /// there), then serves until SIGTERM/SIGINT, the caller's token, or a factory reset.
    pub async fn run(self) -> Result<Outcome, DaemonError> {
        let url = self.url();
        systemd::ready(&format!("Serving on {url}"));
        log::info!("Identity Box {} is ready on {url}", crate::VERSION);
        let reset = tokio::select! {
            () = self.parts.shutdown.cancelled() => false,
            () = self.state.factory_reset_requested() => true,
        };
        systemd::stopping();
        log::info!("stopping");
        let Running {
            mut parts,
            state,
            store,
            data_dir,
            local_addr,
            ..
        } = self;
        parts.stop().await;
        if reset {
            store.close().await;
            reset::erase(&data_dir).map_err(|source| DaemonError::DataDir {
                path: data_dir.clone(),
                source,
            })?;
            drop(parts);
            log::warn!("factory reset done: everything is erased; starting again as a new box");
            return Ok(Outcome::FactoryReset { listen: local_addr });
        }
        // After the drain no request is in flight: the nonce list is complete.
        if let Err(e) = store.save_nonces(state.pairing().recent_nonces()).await {
            log::error!("cannot save the request nonces for the next start: {e}");
        }
        store.close().await;
        drop(parts);
        log::info!("stopped");
        Ok(Outcome::Stopped)
    }
}

/// The handlers' shared state, from the configuration.
fn app_state(
    config: &Config,
    data_dir: &Path,
    keys: &Arc<BoxKeys>,
    public: crate::crypto::BoxPublicKeys,
    local_addr: SocketAddr,
    clock: Arc<dyn Clock>,
) -> AppState {
    let pairing = Pairing::new(
        keys.clone(),
        config.name.clone(),
        qr_addresses(local_addr),
        clock.clone(),
        PairingConfig {
            window: WindowConfig {
                duration_secs: i64::try_from(config.pairing.window_secs).unwrap_or(600),
                max_failures: config.pairing.max_failures,
            },
            startup_window_secs: i64::try_from(config.pairing.startup_window_secs).unwrap_or(0),
            link_code_secs: i64::try_from(config.pairing.link_code_secs).unwrap_or(300),
            replay_capacity: REPLAY_CAPACITY,
            limits: crate::store::DeviceLimits {
                devices: u64::from(config.quota.devices),
                pending: u64::from(config.quota.pending_devices),
            },
        },
    );
    AppState::new(
        config.name.clone(),
        public,
        clock,
        pairing,
        RateLimits {
            pair_per_minute: config.http.pair_per_minute,
            bad_rpc_per_minute: config.http.bad_rpc_per_minute,
            device_per_minute: config.http.device_per_minute,
            resolve_per_minute: config.http.resolve_per_minute,
        },
    )
    .with_data_dir(data_dir)
}

/// The HTTP server on its task, stopped by `parts.tasks_stop` after a drain.
fn serve_http(parts: &mut Parts, config: &Config, state: &Arc<AppState>, listener: TcpListener) {
    let mut allowed = config.host_names.clone();
    allowed.extend(system_hostname());
    // The name the mDNS announcement gives the box (discovery.rs).
    allowed.push(crate::discovery::host_name(&state.keys().fingerprint));
    let routes = api::routes(
        state.clone(),
        RouteLimits {
            allowed_hosts: AllowedHosts::new(allowed),
            max_body_bytes: config.http.max_body_bytes,
        },
    );
    let limits = ServerLimits {
        header_read_timeout: config.http.header_read_timeout(),
        body_pace: config.http.body_pace(),
        idle_timeout: config.http.idle_timeout(),
        max_connections: config.http.max_connections,
        max_connections_per_address: config.http.max_connections_per_address,
        shutdown_grace: config.http.shutdown_grace(),
    };
    let http_stop = parts.tasks_stop.clone();
    parts.tasks.spawn(async move {
        let outcome = api::server::serve(listener, routes, limits, http_stop).await;
        if outcome.drained {
            log::info!("HTTP server stopped; every request finished");
        }
    });
}

/// The previous run's request nonces (no replay across a restart), a pairing window that
/// stays open while nobody has paired, and the start-up window after a power cycle.
async fn resume_pairing(state: &AppState, store: &Store, clock: &dyn Clock, boot_id_file: &Path) {
    match store
        .take_nonces(clock.now_unix() - crate::pairing::MAX_SKEW_SECS)
        .await
    {
        Ok(nonces) => state.pairing().remember_nonces(nonces),
        Err(e) => log::error!("cannot load the previous run's request nonces: {e}"),
    }
    match state.pairing().devices(store).count().await {
        // A box nobody has paired with stays pairable until someone does.
        Ok(0) => state.pairing().open_until_paired(),
        Ok(_) => {}
        Err(e) => log::error!("cannot count paired devices: {e}"),
    }
    if power_cycled(boot_id_file, store).await {
        state.pairing().open_startup_window();
    }
}

/// Whether the machine booted since the last start of the box (the boot id in `boot_id_file`
/// changed), as opposed to systemd restarting the service. A boot id that cannot be read
/// counts as a power cycle: a household that lost its phones must not be locked out.
async fn power_cycled(boot_id_file: &Path, store: &Store) -> bool {
    let boot_id = match std::fs::read_to_string(boot_id_file) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        Ok(_) | Err(_) => {
            log::warn!(
                "cannot read the boot id from {}; the start-up pairing window opens",
                boot_id_file.display()
            );
            return true;
        }
    };
    match store.swap_boot_id(&boot_id).await {
        Ok(previous) => {
            let cycled = previous.as_deref() != Some(boot_id.as_str());
            if cycled {
                log::info!(
                    "the machine has booted since the last start: the start-up pairing window opens"
                );
            }
            cycled
        }
        Err(e) => {
            log::error!("cannot record the boot id: {e}; the start-up pairing window opens");
            true
        }
    }
}

/// Announces the box by mDNS, when the configuration wants it; a failure only means phones
/// cannot find it after an address change.
fn advertise(
    config: &Config,
    state: &AppState,
    local_addr: SocketAddr,
) -> Option<crate::discovery::Advertiser> {
    if !config.mdns.enabled {
        return None;
    }
    crate::discovery::Advertiser::start(
        &config.name,
        &state.keys().fingerprint,
        local_addr.port(),
        &config.mdns.interfaces,
    )
    .map_err(|e| log::warn!("the box will not be announced on the network: {e}"))
    .ok()
}

/// Cancels `shutdown` on SIGTERM or SIGINT.
fn spawn_signal_watch(
    tasks: &mut JoinSet<()>,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    tasks.spawn(async move {
        tokio::select! {
            _ = term.recv() => log::info!("SIGTERM received"),
            _ = int.recv() => log::info!("SIGINT received"),
            () = shutdown.cancelled() => return,
        }
        shutdown.cancel();
    });
    Ok(())
}

/// Re-signs and republishes every identity's record now and then every `interval` (protocol §4:
/// the DHT forgets records on restart, and records expire after 48 h).
async fn republish(identities: Identities, interval: std::time::Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => match identities.republish_all().await {
                Ok(n) => log::info!(
                    "republished the records of {n} {}",
                    if n == 1 { "identity" } else { "identities" }
                ),
                Err(e) => log::error!("republishing identity records failed: {e}"),
            },
        }
    }
}

/// Pings the systemd watchdog while the database thread answers, so a hung box is restarted.
async fn watchdog(store: Store, interval: std::time::Duration, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {
                match store.schema_version().await {
                    Ok(_) => systemd::watchdog_ping(),
                    Err(e) => log::error!("database not answering; not feeding the watchdog: {e}"),
                }
            }
        }
    }
}

/// Holds an exclusive lock on the data directory for the daemon's lifetime.
fn lock_data_dir(data_dir: &Path) -> Result<File, DaemonError> {
    let path = data_dir.join(LOCK_FILE);
    let file = File::create(&path).map_err(|source| DaemonError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(DaemonError::AlreadyRunning(data_dir.to_owned()))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(DaemonError::DataDir {
            path: data_dir.to_owned(),
            source,
        }),
    }
}

/// The machine's host name (the `.local` name avahi announces). From uname(2), not /proc: the
/// unit's `ProcSubset=pid` hides /proc/sys.
fn system_hostname() -> Option<String> {
    gethostname::gethostname()
        .into_string()
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The `host:port` addresses the pairing QR code lists: the listening address, or for a wildcard
/// the machine's LAN addresses and its `.local` name.
fn qr_addresses(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    if !addr.ip().is_unspecified() {
        return vec![addr.to_string()];
    }
    let mut out: Vec<String> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .filter_map(|i| match i.ip() {
            std::net::IpAddr::V4(v4) if !v4.is_link_local() => Some(format!("{v4}:{port}")),
            _ => None,
        })
        .collect();
    if let Some(host) = system_hostname() {
        out.push(format!("{host}.local:{port}"));
    }
    if out.is_empty() {
        out.push(format!("127.0.0.1:{port}"));
    }
    out
}

/// The address a person should open: `localhost` or the host's `.local` name for a wildcard.
fn page_url(addr: SocketAddr) -> String {
    let port = match addr.port() {
        80 => String::new(),
        p => format!(":{p}"),
    };
    if addr.ip().is_unspecified() {
        let host =
            system_hostname().map_or_else(|| "localhost".to_owned(), |h| format!("{h}.local"));
        format!("http://{host}{port}/")
    } else {
        match addr {
            SocketAddr::V4(a) => format!("http://{}{port}/", a.ip()),
            SocketAddr::V6(a) => format!("http://[{}]{port}/", a.ip()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_people_can_open() {
        assert_eq!(
            page_url("127.0.0.1:8080".parse().unwrap_or_else(|_| unreachable!())),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            page_url("[::1]:80".parse().unwrap_or_else(|_| unreachable!())),
            "http://[::1]/"
        );
    }
}
