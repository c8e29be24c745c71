//! Identity Box: the firmware service of a home appliance that keeps a household's DIDs and
//! their encrypted backups.
//!
//! Module map (arrows point to what a module may use; see ARCHITECTURE.md):
//! - [`cli`] → [`daemon`], [`admin`]: the subcommands of the one binary.
//! - [`daemon`] → everything: start-up and shutdown order, tasks, sd_notify, logging.
//! - [`api`] → [`store`], [`crypto`], [`clock`]: warp routes, guards, JSON errors, the server.
//! - [`identity`] → [`store`], [`ipfs`], [`crypto`]: DIDs, documents, publishing, resolution.
//! - [`ipfs`]: the embedded IPFS node (the only module that knows rust-ipfs and libp2p).
//! - [`store`]: SQLite on its own thread; every SQL statement lives there.
//! - [`crypto`] → [`fsutil`]: secret newtypes, HKDF, the box keys and their seed file.
//! - [`config`]: typed configuration from defaults, file, environment and flags.
//! - [`admin`]: the admin socket's protocol and its client.
//! - [`clock`], [`fsutil`]: time behind a trait; power-cut-safe file writes.

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
pub mod store;

/// The version of this build, as `--version` and `/health` report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
