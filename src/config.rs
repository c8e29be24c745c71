//! Typed configuration: defaults, then the TOML file, then `IDENTITY_BOX_*` variables, then flags.
//!
//! Every error names the key it is about and where the bad value came from, on one line, so that
//! a box that will not start says exactly what to fix.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Prefix of the environment variables that override the file; nested keys use `__`
/// (`IDENTITY_BOX_HTTP__MAX_CONNECTIONS`).
pub const ENV_PREFIX: &str = "IDENTITY_BOX_";

/// Environment variables with the prefix that are not configuration keys (they name the file).
const ENV_NOT_KEYS: &[&str] = &["config"];

/// The box's configuration, after all sources are merged and validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The name the box shows to people (web page, phone app, archive names).
    pub name: String,
    /// Address and port the HTTP API listens on.
    pub listen: SocketAddr,
    /// Where the box keeps its seed and database; see [`Config::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// Where the admin socket lives; `$RUNTIME_DIRECTORY` (systemd), else the data directory.
    pub runtime_dir: Option<PathBuf>,
    /// `off`, `error`, `warn`, `info`, `debug` or `trace`; `RUST_LOG`, when set, wins.
    pub log_level: String,
    /// Host names (besides `localhost` and IP addresses) that the `Host` header may carry.
    pub host_names: Vec<String>,
    /// Limits of the HTTP server.
    pub http: HttpConfig,
    /// Pairing windows (protocol §2).
    pub pairing: PairingSettings,
    /// Announcing the box on the LAN (protocol §8).
    pub mdns: MdnsSettings,
    /// The embedded IPFS node (protocol §4).
    pub ipfs: IpfsSettings,
    /// Backups (protocol §5).
    pub backup: BackupSettings,
    /// How much one device, and the box, may hold (protocol §9).
    pub quota: QuotaSettings,
}

/// How much one device, and the box, may hold (protocol §9): no member can fill the card or
/// crowd the household out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaSettings {
    /// Live identities one device may hold.
    pub identities_per_device: u32,
    /// Backups one device may hold.
    pub backups_per_device: u32,
    /// Devices paired with the box, pending ones included.
    pub devices: u32,
    /// Devices waiting for approval at once.
    pub pending_devices: u32,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        Self {
            identities_per_device: 100,
            backups_per_device: 4,
            devices: 16,
            pending_devices: 2,
        }
    }
}

/// Backups kept on the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSettings {
    /// Versions kept per backup; older ones are erased (the newest complete one never is).
    pub keep_versions: u32,
    /// Largest bundle a phone may upload, in bytes (base64 makes it a third larger on the
    /// wire, so `http.max_body_bytes` must leave room for that).
    pub max_bundle_bytes: u64,
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            keep_versions: 10,
            max_bundle_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The embedded IPFS node. LAN only by default: no public bootstrap peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpfsSettings {
    /// `lan` (the built-in default: the home network only) or `public` (the public IPFS DHT,
    /// through `bootstrap`; protocol §4 "Networks").
    pub network: crate::ipfs::Network,
    /// Multiaddrs the node listens on.
    pub listen: Vec<String>,
    /// Peers to dial at start and ask for DHT records (`/ip4/…/tcp/…/p2p/12D3…`).
    pub bootstrap: Vec<String>,
    /// Find other IPFS nodes on the LAN by mDNS and connect to them.
    pub mdns: bool,
    /// How long resolving a DID of another box may search the network, in seconds.
    pub resolve_timeout_secs: u64,
    /// Seconds between re-signing and re-publishing every identity's record (protocol §4: 4 h).
    pub republish_interval_secs: u64,
    /// Delegated-routing endpoints (`https://…`) the box also puts every record to, with
    /// `PUT /routing/v1/ipns/<name>` (IPIP-379): none by default.
    pub delegated_routing: Vec<String>,
    /// Addresses others can dial the box at that it cannot find out itself, such as a port
    /// forward on the home router (`/ip4/<router's public address>/tcp/4001`); none by default.
    pub announce: Vec<String>,
    /// Relays (`/ip4/…/tcp/…/p2p/12D3…`) the box reserves a slot on while others cannot dial
    /// it, so that boxes and phones outside the home reach it (protocol §4, "Across homes").
    pub relays: Vec<String>,
    /// The box as a relay for boxes it knows: off by default.
    pub relay_server: crate::ipfs::RelayServerSettings,
}

impl Default for IpfsSettings {
    fn default() -> Self {
        Self {
            network: crate::ipfs::Network::Lan,
            listen: vec!["/ip4/0.0.0.0/tcp/4001".to_owned()],
            bootstrap: Vec::new(),
            mdns: true,
            resolve_timeout_secs: 10,
            republish_interval_secs: 4 * 3600,
            delegated_routing: Vec::new(),
            announce: Vec::new(),
            relays: Vec::new(),
            relay_server: crate::ipfs::RelayServerSettings::default(),
        }
    }
}

impl IpfsSettings {
    pub fn resolve_timeout(&self) -> Duration {
        Duration::from_secs(self.resolve_timeout_secs)
    }

    pub fn republish_interval(&self) -> Duration {
        Duration::from_secs(self.republish_interval_secs)
    }
}

/// mDNS / DNS-SD announcement of `_identitybox._tcp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MdnsSettings {
    /// Announce the box so that phones find it again when its address changes.
    pub enabled: bool,
    /// Interfaces to announce on; empty: every interface but loopback.
    pub interfaces: Vec<String>,
}

impl Default for MdnsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interfaces: Vec::new(),
        }
    }
}

/// When phones may pair (protocol §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PairingSettings {
    /// Seconds the start-up window stays open after a power cycle; 0 turns it off.
    pub startup_window_secs: u64,
    /// Seconds a window opened by an owner's phone or `identity-box pair` stays open.
    pub window_secs: u64,
    /// Wrong pairing codes that close a window opened by an owner or the console.
    pub max_failures: u32,
    /// Seconds a link code (a device linking another of the same person) works.
    pub link_code_secs: u64,
    /// The file whose text names this boot of the machine: the start-up window opens only when
    /// it differs from the one of the last start (a power cycle, not a restart of the service).
    pub boot_id_file: PathBuf,
}

impl Default for PairingSettings {
    fn default() -> Self {
        Self {
            startup_window_secs: 600,
            window_secs: 600,
            max_failures: 20,
            link_code_secs: 300,
            boot_id_file: PathBuf::from("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// Limits of the HTTP server (protocol §9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A client must send a request's whole header within this many seconds.
    pub header_read_timeout_secs: u64,
    /// A request body gets this many seconds to arrive, one more for every
    /// `body_min_bytes_per_sec` bytes that do, and `request_body_max_secs` at most (`408`
    /// when it falls behind): a trickle cannot hold a connection.
    pub body_timeout_secs: u64,
    /// See `body_timeout_secs`.
    pub body_min_bytes_per_sec: u64,
    /// See `body_timeout_secs`.
    pub request_body_max_secs: u64,
    /// A connection on which nothing moves for this many seconds is closed.
    pub idle_timeout_secs: u64,
    /// Connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// Connections served at once from one address, so that one host cannot hold them all.
    pub max_connections_per_address: usize,
    /// The largest request body accepted, in bytes (`413` above it).
    pub max_body_bytes: u64,
    /// On shutdown, requests in flight get this many seconds to finish.
    pub shutdown_grace_secs: u64,
    /// Pairing attempts per minute from one address (`429` above it).
    pub pair_per_minute: u32,
    /// Channel requests that do not open, per minute from one address (`429` above it).
    pub bad_rpc_per_minute: u32,
    /// Channel requests per minute from one paired device (`429` above it).
    pub device_per_minute: u32,
    /// Public DID resolutions (`/1.0/identifiers/…`) per minute from one address.
    pub resolve_per_minute: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            name: "Identity Box".to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: None,
            runtime_dir: None,
            log_level: "info".to_owned(),
            host_names: vec!["identity-box.local".to_owned(), "identity-box".to_owned()],
            http: HttpConfig::default(),
            pairing: PairingSettings::default(),
            mdns: MdnsSettings::default(),
            ipfs: IpfsSettings::default(),
            backup: BackupSettings::default(),
            quota: QuotaSettings::default(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            body_timeout_secs: 20,
            body_min_bytes_per_sec: 16 * 1024,
            request_body_max_secs: 600,
            idle_timeout_secs: 60,
            max_connections: 256,
            max_connections_per_address: 32,
            max_body_bytes: 16 * 1024 * 1024,
            shutdown_grace_secs: 10,
            pair_per_minute: 30,
            bad_rpc_per_minute: 30,
            device_per_minute: 600,
            resolve_per_minute: 120,
        }
    }
}

impl HttpConfig {
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }
    pub fn body_pace(&self) -> crate::api::server::BodyPace {
        crate::api::server::BodyPace {
            initial: Duration::from_secs(self.body_timeout_secs),
            min_rate: self.body_min_bytes_per_sec,
            max: Duration::from_secs(self.request_body_max_secs),
        }
    }
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// Values given on the command line; they win over every other source.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

/// Why the configuration could not be loaded. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named with `--config` does not exist or cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value has the wrong type or a key is unknown (figment names the key and the source).
    #[error("configuration: {0}")]
    Parse(String),
    /// A value has the right type but is not allowed.
    #[error("configuration key `{key}` (from {origin}): {message}")]
    Invalid {
        key: &'static str,
        origin: String,
        message: String,
    },
    /// No data directory was configured and the platform has none.
    #[error(
        "configuration key `data_dir`: no data directory is set and this system has no home \
         directory; pass --data-dir DIR"
    )]
    NoDataDir,
}

impl Config {
    /// Loads the configuration: defaults, the file (if any), `IDENTITY_BOX_*` variables, flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            // Figment skips a missing file silently; a file the user named must exist.
            std::fs::metadata(path).map_err(|source| ConfigError::Unreadable {
                path: path.to_owned(),
                source,
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).ignore(ENV_NOT_KEYS).split("__"));
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", dir));
        }
        if let Some(listen) = &overrides.listen {
            figment = figment.merge(Serialized::default("listen", listen.to_string()));
        }
        Self::extract(&figment)
    }

    /// Defaults overlaid with TOML text, validated: what `load` does for a file, without the
    /// file system, environment or flags (the fuzz target uses it).
    pub fn parse_toml(text: &str) -> Result<Config, ConfigError> {
        Self::extract(
            &Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    fn extract(figment: &Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(|e| parse_error(&e))?;
        config.validate(figment)?;
        Ok(config)
    }

    /// Runs [`RULES`] in order; the first rule that fails is the error.
    fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        for rule in RULES {
            rule.check(self).map_err(|message| ConfigError::Invalid {
                key: rule.key,
                origin: source_of(figment, rule.key),
                message,
            })?;
        }
        Ok(())
    }

    /// The data directory: the configured one (flag, variable or file), else `$STATE_DIRECTORY`
    /// (set by systemd's `StateDirectory=`), else the platform's data directory.
    pub fn data_dir(&self, state_directory: Option<&str>) -> Result<PathBuf, ConfigError> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        // systemd may list several directories separated by ':'; ours is the first.
        if let Some(dir) = state_directory
            .and_then(|s| s.split(':').next())
            .filter(|s| !s.is_empty())
        {
            return Ok(PathBuf::from(dir));
        }
        directories::ProjectDirs::from("", "", "identity-box")
            .map(|p| p.data_dir().to_owned())
            .ok_or(ConfigError::NoDataDir)
    }

    /// Where the admin socket lives: the configured directory, else `$RUNTIME_DIRECTORY`
    /// (systemd's `RuntimeDirectory=`), else the data directory.
    pub fn runtime_dir(&self, runtime_directory: Option<&str>, data_dir: &Path) -> PathBuf {
        if let Some(dir) = &self.runtime_dir {
            return dir.clone();
        }
        runtime_directory
            .and_then(|s| s.split(':').next())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.to_owned())
    }
}

/// One row of the table that [`Config::validate`] runs: the key it is about and what its value
/// must be.
struct Rule {
    key: &'static str,
    check: Check,
}

enum Check {
    /// The number `read` takes from the configuration must lie in `allowed`; `message` says
    /// what is allowed.
    Range {
        read: fn(&Config) -> u64,
        allowed: RangeInclusive<u64>,
        message: &'static str,
    },
    /// A check that is not a range; its error is the message.
    Other(fn(&Config) -> Result<(), String>),
}

const fn range(
    key: &'static str,
    read: fn(&Config) -> u64,
    allowed: RangeInclusive<u64>,
    message: &'static str,
) -> Rule {
    Rule {
        key,
        check: Check::Range {
            read,
            allowed,
            message,
        },
    }
}

const fn other(key: &'static str, check: fn(&Config) -> Result<(), String>) -> Rule {
    Rule {
        key,
        check: Check::Other(check),
    }
}

impl Rule {
    fn check(&self, config: &Config) -> Result<(), String> {
        match &self.check {
            Check::Range {
                read,
                allowed,
                message,
            } => {
                if allowed.contains(&read(config)) {
                    Ok(())
                } else {
                    Err((*message).to_owned())
                }
            }
            Check::Other(check) => check(config),
        }
    }
}

/// Every check of a configuration. The order is part of the behaviour: when several values
/// are wrong, the first row that fails is the one reported.
const RULES: &[Rule] = &[
    other("name", check_name),
    other("log_level", check_log_level),
    other("host_names", check_host_names),
    range(
        "http.header_read_timeout_secs",
        |c| c.http.header_read_timeout_secs,
        1..=3600,
        "must be between 1 and 3600 seconds",
    ),
    range(
        "http.body_timeout_secs",
        |c| c.http.body_timeout_secs,
        1..=3600,
        "must be between 1 and 3600 seconds",
    ),
    range(
        "http.body_min_bytes_per_sec",
        |c| c.http.body_min_bytes_per_sec,
        1..=u64::MAX,
        "must be at least 1 byte a second",
    ),
    other("http.request_body_max_secs", check_request_body_max),
    range(
        "http.idle_timeout_secs",
        |c| c.http.idle_timeout_secs,
        1..=86_400,
        "must be between 1 and 86400 seconds",
    ),
    range(
        "http.max_connections",
        |c| c.http.max_connections as u64,
        1..=65_536,
        "must be between 1 and 65536",
    ),
    range(
        "http.max_connections_per_address",
        |c| c.http.max_connections_per_address as u64,
        1..=65_536,
        "must be between 1 and 65536",
    ),
    range(
        "http.max_body_bytes",
        |c| c.http.max_body_bytes,
        1024..=u64::MAX,
        "must be at least 1024 bytes",
    ),
    range(
        "http.pair_per_minute",
        |c| u64::from(c.http.pair_per_minute),
        1..=u64::MAX,
        "must be at least 1",
    ),
    range(
        "http.bad_rpc_per_minute",
        |c| u64::from(c.http.bad_rpc_per_minute),
        1..=u64::MAX,
        "must be at least 1",
    ),
    range(
        "http.device_per_minute",
        |c| u64::from(c.http.device_per_minute),
        1..=u64::MAX,
        "must be at least 1",
    ),
    range(
        "http.resolve_per_minute",
        |c| u64::from(c.http.resolve_per_minute),
        1..=u64::MAX,
        "must be at least 1",
    ),
    other("ipfs.listen", |c| {
        crate::ipfs::check_addresses(&c.ipfs.listen).map_err(|e| e.to_string())
    }),
    other("ipfs.bootstrap", |c| {
        crate::ipfs::check_addresses(&c.ipfs.bootstrap).map_err(|e| e.to_string())
    }),
    other("ipfs.announce", |c| {
        crate::ipfs::check_addresses(&c.ipfs.announce).map_err(|e| e.to_string())
    }),
    other("ipfs.relays", |c| crate::ipfs::check_relays(&c.ipfs.relays)),
    other("ipfs.relay_server", |c| c.ipfs.relay_server.check()),
    other("ipfs.delegated_routing", |c| {
        crate::ipfs::check_endpoints(&c.ipfs.delegated_routing)
    }),
    range(
        "ipfs.resolve_timeout_secs",
        |c| c.ipfs.resolve_timeout_secs,
        1..=300,
        "must be between 1 and 300 seconds",
    ),
    // Records live 48 h: republishing must come well before that.
    range(
        "ipfs.republish_interval_secs",
        |c| c.ipfs.republish_interval_secs,
        60..=24 * 3600,
        "must be between 60 and 86400 seconds",
    ),
    range(
        "backup.keep_versions",
        |c| u64::from(c.backup.keep_versions),
        1..=1000,
        "must be between 1 and 1000",
    ),
    range(
        "backup.max_bundle_bytes",
        |c| c.backup.max_bundle_bytes,
        1024..=u64::MAX,
        "must be at least 1024 bytes",
    ),
    other("backup.max_bundle_bytes", check_bundle_fits),
    range(
        "pairing.startup_window_secs",
        |c| c.pairing.startup_window_secs,
        0..=86_400,
        "must be at most 86400 seconds (0 turns it off)",
    ),
    range(
        "pairing.link_code_secs",
        |c| c.pairing.link_code_secs,
        1..=3600,
        "must be between 1 and 3600 seconds",
    ),
    range(
        "pairing.window_secs",
        |c| c.pairing.window_secs,
        1..=86_400,
        "must be between 1 and 86400 seconds",
    ),
    range(
        "pairing.max_failures",
        |c| u64::from(c.pairing.max_failures),
        1..=1000,
        "must be between 1 and 1000",
    ),
    range(
        "quota.identities_per_device",
        |c| u64::from(c.quota.identities_per_device),
        1..=10_000,
        "must be between 1 and 10000",
    ),
    range(
        "quota.backups_per_device",
        |c| u64::from(c.quota.backups_per_device),
        1..=100,
        "must be between 1 and 100",
    ),
    range(
        "quota.devices",
        |c| u64::from(c.quota.devices),
        1..=1000,
        "must be between 1 and 1000",
    ),
    range(
        "quota.pending_devices",
        |c| u64::from(c.quota.pending_devices),
        1..=100,
        "must be between 1 and 100",
    ),
    range(
        "http.shutdown_grace_secs",
        |c| c.http.shutdown_grace_secs,
        0..=600,
        "must be at most 600 seconds",
    ),
];

fn check_name(c: &Config) -> Result<(), String> {
    let name = c.name.trim();
    if name.is_empty() || name.chars().count() > 63 || name.chars().any(char::is_control) {
        return Err("must be 1 to 63 printable characters, e.g. \"Identity Box\"".to_owned());
    }
    Ok(())
}

fn check_log_level(c: &Config) -> Result<(), String> {
    log::LevelFilter::from_str(&c.log_level)
        .map(|_| ())
        .map_err(|_| "must be one of off, error, warn, info, debug, trace".to_owned())
}

fn check_host_names(c: &Config) -> Result<(), String> {
    let dns_name = |host: &String| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    if !c.host_names.iter().all(dns_name) {
        return Err("each entry must be a DNS name such as \"identity-box.local\"".to_owned());
    }
    Ok(())
}

/// The longest a body may take cannot be shorter than the time it gets to start.
fn check_request_body_max(c: &Config) -> Result<(), String> {
    let max = c.http.request_body_max_secs;
    if max < c.http.body_timeout_secs || max > 86_400 {
        return Err(format!(
            "must be between http.body_timeout_secs ({}) and 86400 seconds",
            c.http.body_timeout_secs
        ));
    }
    Ok(())
}

/// A bundle travels as base64 inside `backup.put`'s params, inside the channel's JSON, inside a
/// crypto_box: the largest one allowed must fit in the largest request body, and in the params
/// limit of `backup.put` (protocol §3). Saturating: a value from the environment may be as large
/// as `u64::MAX`.
fn check_bundle_fits(c: &Config) -> Result<(), String> {
    /// Room for the rest of the params (the backup id, the identities' DIDs).
    const PARAMS_ROOM: u64 = 4 * 1024;
    let base64 = c.backup.max_bundle_bytes.div_ceil(3).saturating_mul(4);
    let wire = base64.saturating_add(64 * 1024);
    if wire > c.http.max_body_bytes {
        return Err(format!(
            "a bundle this large does not fit in a request: raise http.max_body_bytes \
             to at least {wire}, or lower backup.max_bundle_bytes"
        ));
    }
    let params_limit = crate::protocol::BULK_PARAMS_BYTES as u64;
    if base64.saturating_add(PARAMS_ROOM) > params_limit {
        let largest = (params_limit - PARAMS_ROOM) / 4 * 3;
        return Err(format!(
            "a bundle this large does not fit in the params of backup.put: \
             backup.max_bundle_bytes can be at most {largest}"
        ));
    }
    Ok(())
}

/// Figment's error as one line that names the key in its configuration spelling and the exact
/// place its value came from (the file, or the environment variable).
fn parse_error(error: &figment::Error) -> ConfigError {
    let path: Vec<String> = error.path.iter().map(|p| p.to_ascii_lowercase()).collect();
    let origin = origin_name(error.metadata.as_ref(), &path);
    let what = error.kind.to_string().replace('\n', " ");
    if path.is_empty() {
        ConfigError::Parse(format!("{what} (in {origin})"))
    } else {
        ConfigError::Parse(format!("key `{}` (from {origin}): {what}", path.join(".")))
    }
}

/// Names where a key's value came from: the defaults, the file, or the exact variable.
fn source_of(figment: &Figment, key: &str) -> String {
    let path: Vec<String> = key.split('.').map(str::to_owned).collect();
    match figment.find_metadata(key) {
        Some(m) => origin_name(Some(m), &path),
        None => "the defaults".to_owned(),
    }
}

fn origin_name(metadata: Option<&figment::Metadata>, path: &[String]) -> String {
    match metadata {
        Some(m) if m.name.contains("environment") && !path.is_empty() => format!(
            "environment variable {ENV_PREFIX}{}",
            path.join("__").to_ascii_uppercase()
        ),
        Some(m) => match &m.source {
            Some(source) => format!("{} {}", m.name, source),
            None => m.name.to_string(),
        },
        None => "the command line".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    // figment's Jail returns its large error type by design.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]
    use super::*;
    use figment::Jail;

    fn load_in_jail(
        jail: &Jail,
        file: Option<&str>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let path = file.map(|text| {
            jail.create_file("config.toml", text).unwrap();
            jail.directory().join("config.toml")
        });
        Config::load(path.as_deref(), overrides)
    }

    #[test]
    fn the_largest_bundle_must_fit_the_body_and_the_params_limit() {
        Jail::expect_with(|jail| {
            let bad = |jail: &Jail| match load_in_jail(jail, None, &Overrides::default()) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("accepted"),
            };
            // From the environment a value can be as large as u64::MAX: an error, not a panic
            // or a wrapped sum.
            jail.set_env(
                "IDENTITY_BOX_BACKUP__MAX_BUNDLE_BYTES",
                u64::MAX.to_string(),
            );
            assert!(bad(jail).contains("http.max_body_bytes"), "{}", bad(jail));
            // A body large enough, but a bundle beyond what backup.put's params carry.
            jail.set_env(
                "IDENTITY_BOX_HTTP__MAX_BODY_BYTES",
                (64u64 << 20).to_string(),
            );
            jail.set_env(
                "IDENTITY_BOX_BACKUP__MAX_BUNDLE_BYTES",
                (9u64 << 20).to_string(),
            );
            let e = bad(jail);
            assert!(e.contains("at most 8647680"), "{e}");
            jail.set_env("IDENTITY_BOX_BACKUP__MAX_BUNDLE_BYTES", "8647680");
            assert!(load_in_jail(jail, None, &Overrides::default()).is_ok());
            Ok(())
        });
    }

    #[test]
    fn defaults_are_documented_values() {
        Jail::expect_with(|jail| {
            let c = load_in_jail(jail, None, &Overrides::default()).unwrap();
            assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
            assert_eq!(c.name, "Identity Box");
            assert_eq!(c.http.max_body_bytes, 16 * 1024 * 1024);
            assert_eq!(c.log_level, "info");
            Ok(())
        });
    }

    #[test]
    fn file_then_env_then_flags() {
        Jail::expect_with(|jail| {
            let file = "name = \"Kitchen box\"\nlisten = \"127.0.0.1:9000\"\n[http]\nmax_connections = 7\n";
            let c = load_in_jail(jail, Some(file), &Overrides::default()).unwrap();
            assert_eq!(c.name, "Kitchen box");
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.http.max_connections, 7);

            jail.set_env("IDENTITY_BOX_LISTEN", "127.0.0.1:9001");
            jail.set_env("IDENTITY_BOX_HTTP__MAX_CONNECTIONS", "9");
            let c = load_in_jail(jail, Some(file), &Overrides::default()).unwrap();
            assert_eq!(c.listen.port(), 9001);
            assert_eq!(c.http.max_connections, 9);

            let flags = Overrides {
                listen: Some("127.0.0.1:9002".parse().unwrap()),
                data_dir: Some("/tmp/box".into()),
            };
            let c = load_in_jail(jail, Some(file), &flags).unwrap();
            assert_eq!(c.listen.port(), 9002);
            assert_eq!(c.data_dir(None).unwrap(), PathBuf::from("/tmp/box"));
            Ok(())
        });
    }

    #[test]
    fn wrong_type_names_the_key_and_file_on_one_line() {
        Jail::expect_with(|jail| {
            let err = load_in_jail(
                jail,
                Some("[http]\nmax_connections = \"many\"\n"),
                &Overrides::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("`http.max_connections`"), "{err}");
            assert!(err.contains("config.toml"), "{err}");
            assert!(!err.contains('\n'), "{err}");
            jail.set_env("IDENTITY_BOX_HTTP__IDLE_TIMEOUT_SECS", "soon");
            let err = load_in_jail(jail, None, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("`http.idle_timeout_secs`"), "{err}");
            assert!(
                err.contains("IDENTITY_BOX_HTTP__IDLE_TIMEOUT_SECS"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        Jail::expect_with(|jail| {
            let err = load_in_jail(
                jail,
                Some("lissen = \"0.0.0.0:80\"\n"),
                &Overrides::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("lissen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_env_value_names_the_key_and_the_variables() {
        Jail::expect_with(|jail| {
            jail.set_env("IDENTITY_BOX_LISTEN", "not-an-address");
            let err = load_in_jail(jail, None, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("`listen`"), "{err}");
            assert!(err.contains("IDENTITY_BOX_LISTEN"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn ipfs_addresses_are_checked_and_read_from_the_environment() {
        Jail::expect_with(|jail| {
            let c = load_in_jail(jail, None, &Overrides::default()).unwrap();
            assert_eq!(c.ipfs.listen, vec!["/ip4/0.0.0.0/tcp/4001".to_owned()]);
            assert!(c.ipfs.bootstrap.is_empty() && c.ipfs.mdns);

            jail.set_env("IDENTITY_BOX_IPFS__LISTEN", r#"["/ip4/127.0.0.1/tcp/0"]"#);
            let c = load_in_jail(jail, None, &Overrides::default()).unwrap();
            assert_eq!(c.ipfs.listen, vec!["/ip4/127.0.0.1/tcp/0".to_owned()]);

            let err = load_in_jail(
                jail,
                Some("[ipfs]\nbootstrap = [\"192.168.1.2:4001\"]\n"),
                &Overrides::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("`ipfs.bootstrap`"), "{err}");
            assert!(err.contains("config.toml"), "{err}");
            assert!(err.contains("/ip4/0.0.0.0/tcp/4001"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_network_is_lan_unless_configured_public() {
        Jail::expect_with(|jail| {
            let c = load_in_jail(jail, None, &Overrides::default()).unwrap();
            assert_eq!(c.ipfs.network, crate::ipfs::Network::Lan);
            let c = load_in_jail(
                jail,
                Some("[ipfs]\nnetwork = \"public\"\n"),
                &Overrides::default(),
            )
            .unwrap();
            assert_eq!(c.ipfs.network, crate::ipfs::Network::Public);
            jail.set_env("IDENTITY_BOX_IPFS__NETWORK", "lan");
            let c = load_in_jail(
                jail,
                Some("[ipfs]\nnetwork = \"public\"\n"),
                &Overrides::default(),
            )
            .unwrap();
            assert_eq!(c.ipfs.network, crate::ipfs::Network::Lan);
            jail.set_env("IDENTITY_BOX_IPFS__NETWORK", "internet");
            let err = load_in_jail(jail, None, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("ipfs.network"), "{err}");
            assert!(err.contains("lan") && err.contains("public"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_the_key_and_source() {
        Jail::expect_with(|jail| {
            let err = load_in_jail(
                jail,
                Some("[http]\nmax_connections = 0\n"),
                &Overrides::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("`http.max_connections`"), "{err}");
            assert!(err.contains("config.toml"), "{err}");

            jail.set_env("IDENTITY_BOX_LOG_LEVEL", "loud");
            let err = load_in_jail(jail, None, &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("`log_level`"), "{err}");
            assert!(err.contains("IDENTITY_BOX_LOG_LEVEL"), "{err}");
            Ok(())
        });
    }

    /// A row's key is what the error names and where `source_of` looks: a misspelt one would
    /// blame "the defaults" for a value the user set.
    #[test]
    fn every_rule_names_a_configuration_key() {
        let defaults = Figment::from(Serialized::defaults(Config::default()));
        for rule in RULES {
            assert!(defaults.find_value(rule.key).is_ok(), "{}", rule.key);
        }
    }

    #[test]
    fn missing_named_file_is_an_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/identity-box.toml")),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/identity-box.toml"), "{err}");
    }

    /// The shipped, commented configuration file documents the true defaults: it sets only
    /// the public network with its bootstrap peer, and uncommenting every other setting (but
    /// the paths, which have no fixed default) changes nothing.
    #[test]
    fn shipped_config_documents_the_defaults() {
        let shipped = include_str!("../packaging/config.toml");
        Jail::expect_with(|jail| {
            let mut expected = Config::default();
            expected.ipfs.network = crate::ipfs::Network::Public;
            expected.ipfs.bootstrap = [
                "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
                "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
                "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
                "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
                "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
                "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
            ]
            .map(str::to_owned)
            .to_vec();
            let c = load_in_jail(jail, Some(shipped), &Overrides::default()).unwrap();
            assert_eq!(c, expected);
            let uncommented: String = shipped
                .lines()
                .filter(|l| !l.starts_with("##"))
                .filter(|l| !l.contains("data_dir") && !l.contains("runtime_dir"))
                .map(|l| l.strip_prefix("# ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n");
            assert!(uncommented.contains("[http]"));
            let c = load_in_jail(jail, Some(&uncommented), &Overrides::default()).unwrap();
            assert_eq!(c, expected);
            Ok(())
        });
    }

    #[test]
    fn a_body_may_not_take_less_in_all_than_it_gets_to_start() {
        let c = Config::parse_toml("[http]\nbody_timeout_secs = 30\nrequest_body_max_secs = 30\n")
            .unwrap();
        let pace = c.http.body_pace();
        assert_eq!(pace.initial, Duration::from_secs(30));
        assert_eq!(pace.max, Duration::from_secs(30));
        assert_eq!(pace.min_rate, 16 * 1024);
        let err =
            Config::parse_toml("[http]\nbody_timeout_secs = 30\nrequest_body_max_secs = 29\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("`http.request_body_max_secs`"), "{err}");
        assert!(err.contains("http.body_timeout_secs (30)"), "{err}");
        let err = Config::parse_toml("[http]\nbody_min_bytes_per_sec = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`http.body_min_bytes_per_sec`"), "{err}");
    }

    #[test]
    fn delegated_routing_endpoints_are_http_urls() {
        let c = Config::parse_toml(
            "[ipfs]\ndelegated_routing = [\"https://delegated-ipfs.dev\", \"http://127.0.0.1:8080/api/\"]\n",
        )
        .unwrap();
        assert_eq!(c.ipfs.delegated_routing.len(), 2);
        assert!(Config::default().ipfs.delegated_routing.is_empty());
        for bad in [
            "delegated-ipfs.dev",
            "ftp://delegated-ipfs.dev",
            "https://delegated-ipfs.dev/?x=1",
            "https://user:secret@delegated-ipfs.dev",
            "file:///etc/passwd",
        ] {
            let err = Config::parse_toml(&format!("[ipfs]\ndelegated_routing = [\"{bad}\"]\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("`ipfs.delegated_routing`"), "{bad}: {err}");
            assert!(err.contains("https://delegated-ipfs.dev"), "{bad}: {err}");
        }
    }

    #[test]
    fn toml_text_parses_like_a_file() {
        let c = Config::parse_toml("name = \"Hall\"\n[http]\nmax_connections = 3\n").unwrap();
        assert_eq!((c.name.as_str(), c.http.max_connections), ("Hall", 3));
        let err = Config::parse_toml("name = \"\"").unwrap_err().to_string();
        assert!(err.contains("`name`"), "{err}");
        assert!(Config::parse_toml("[http").is_err());
    }

    #[test]
    fn data_dir_order() {
        let mut c = Config::default();
        assert_eq!(
            c.data_dir(Some("/var/lib/identity-box")).unwrap(),
            PathBuf::from("/var/lib/identity-box")
        );
        c.data_dir = Some("/srv/box".into());
        assert_eq!(
            c.data_dir(Some("/var/lib/identity-box")).unwrap(),
            PathBuf::from("/srv/box")
        );
        assert_eq!(
            c.runtime_dir(Some("/run/identity-box"), Path::new("/srv/box")),
            PathBuf::from("/run/identity-box")
        );
        assert_eq!(
            c.runtime_dir(None, Path::new("/srv/box")),
            PathBuf::from("/srv/box")
        );
    }
}
