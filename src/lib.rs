//! Identity Box: the firmware service of a home appliance that keeps a household's DIDs and
//! their encrypted backups.
//!
//! Module map (arrows point to what a module may use; `docs/architecture.md` has the invariants):
//! - [`cli`] → [`daemon`], [`client`], [`admin`]: the subcommands of the one binary, and all
//!   terminal output (the banner, QR codes, results through their `Display`).
//! - [`daemon`] → everything below: start-up (`daemon::start`) and running
//!   (`daemon::Running::run`) with one stop path, tasks, sd_notify, logging.
//! - [`api`] → the services, [`protocol`]: warp routes and guards (`api/mod.rs`), the JSON-RPC
//!   method table (`api/rpc/mod.rs`) and one handler file per area (`api/rpc/*.rs`), error
//!   mappings (`api/error.rs`), the box's facts (`api/facts.rs`), the server.
//! - [`protocol`]: every JSON-RPC method's params and result types, shared by [`api`],
//!   [`client`] and [`cli`]; depends on nothing but serde.
//! - [`client`] → [`protocol`], [`crypto`]: the reference phone (typed calls, backups, restore).
//! - [`pairing`] → [`store`], [`crypto`]: windows, tokens, the channel, and the devices service
//!   (who may revoke or rename whom).
//! - [`identity`] → [`store`], [`ipfs`], [`crypto`]: DIDs, documents, publishing, resolution.
//! - [`backup`] → [`identity`], [`store`], [`crypto`]: versions, sealed keys, the archive.
//! - [`extract`]: desktop extraction sessions and download tickets.
//! - [`ipfs`]: the embedded IPFS node (the only module that knows rust-ipfs and libp2p).
//! - [`store`] → [`crypto`]: SQLite on its own thread; every SQL statement lives there, and
//!   identity keys are sealed with the vault on the way in.
//! - [`crypto`] → [`fsutil`]: secret newtypes, HKDF, the box keys and their seed file.
//! - [`config`]: typed configuration from defaults, file, environment and flags.
//! - [`admin`]: the admin socket's protocol and its client; [`discovery`]: mDNS.
//! - [`clock`], [`fsutil`]: time behind a trait; power-cut-safe file writes.
//! - [`storage`]: the disk guard (how full the data directory's file system is).
//! - [`reset`] → [`fsutil`], [`store`]: the factory reset's marker and erase, safe across a power cut.

pub mod admin;
pub mod api;
pub mod backup;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod discovery;
pub mod extract;
pub mod fsutil;
pub mod identity;
pub mod ipfs;
pub mod pairing;
pub mod protocol;
pub mod reset;
pub mod storage;
pub mod store;

/// The version of this build, as `--version` and `/health` report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
