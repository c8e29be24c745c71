//! The end-to-end tests, in one test binary: each file is a module. One binary links the crate
//! and its dependencies once instead of once per file, which saves minutes of linking and
//! gigabytes of disk in CI (a CI run once failed for want of disk with eleven of them).
//! Run one file's tests with a filter: `cargo test --test e2e archive::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod archive;
mod backups;
mod browser;
mod channel;
mod daemon;
mod dht;
mod discovery;
mod gateway;
mod groups;
mod helia;
mod homes;
mod hostile;
mod household;
mod identities;
mod interop;
mod pairing;
mod power_cut;
mod protocol;
mod public;
mod reset;
mod resolver_driver;
mod server;
mod smoke;
mod vectors;
mod web;
