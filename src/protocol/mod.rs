//! The box's JSON-RPC methods as types (protocol §3), shared by every side: the box's dispatch
//! (`api::rpc`), the reference client (`client`) and the command line (`cli`).
//!
//! Each method is its params type, which implements [`Method`]: the method's name, its params
//! size limit and its result type are tied to it, so `Client::call(IdentityGet { did })`
//! returns an [`identity::IdentityView`] and nothing else compiles. Results implement
//! `Display`: the command line prints them for a person through it. The table below is the
//! whole protocol surface; `docs/protocol.md` documents each method with an example that a test
//! of this module reads back.
//!
//! This module depends on nothing but serde: it holds data, not behaviour.

pub mod backup;
pub mod devices;
pub mod extract;
pub mod identity;
pub mod info;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use devices::Role;

/// The params limit of most methods: they carry names, ids and keys.
pub const SMALL_PARAMS_BYTES: usize = 64 * 1024;
/// The params limit of the two methods that carry a backup bundle (at most
/// `backup.max_bundle_bytes`, 8 MiB by default, and a third more as base64) or sealed keys with
/// documents.
pub const BULK_PARAMS_BYTES: usize = 11 * 1024 * 1024;

/// The params limit of `devices.link`: a person's address book and document keys, sealed.
pub const LINK_PARAMS_BYTES: usize = 4 * 1024 * 1024;

/// A JSON-RPC method: implemented by its params type.
pub trait Method: Serialize + DeserializeOwned + Send + Sync {
    /// The method's name on the wire, such as `"identity.create"`.
    const NAME: &'static str;
    /// The largest params the box reads for this method (bytes of JSON); above it the method
    /// answers `too_large` without parsing them.
    const MAX_PARAMS_BYTES: usize = SMALL_PARAMS_BYTES;
    /// What the method answers.
    type Result: Serialize + DeserializeOwned + std::fmt::Display + Send;
}

/// One row per method: params type, name, result type, and the limit when it is not the small
/// one. `METHODS` lists every name, for the box's method table test and the document test.
macro_rules! methods {
    ($($params:ty => $name:literal, $result:ty $(, limit = $limit:expr)?;)*) => {
        $(
            impl Method for $params {
                const NAME: &'static str = $name;
                $(const MAX_PARAMS_BYTES: usize = $limit;)?
                type Result = $result;
            }
        )*
        /// Every method's name, in the order of the table.
        pub const METHODS: &[&str] = &[$($name),*];

        /// Reads `params` into the type of `method`'s params, as the box does (`None` for an
        /// unknown method): for the fuzz target of the channel, which reaches every type.
        pub fn read_params(method: &str, params: &str) -> Option<Result<(), serde_json::Error>> {
            match method {
                $($name => Some(serde_json::from_str::<$params>(params).map(drop)),)*
                _ => None,
            }
        }

        /// Reads a method's params and result examples into their types and back (the test of
        /// `docs/protocol.md`'s examples).
        #[cfg(test)]
        fn round_trip(method: &str, params: &[String], result: &[String]) -> Result<(), String> {
            match method {
                $($name => tests::round_trip::<$params>(params, result),)*
                other => Err(format!("there is no method {other}")),
            }
        }
    };
}

methods! {
    info::BoxInfo => "box.info", info::BoxFacts;
    info::FactoryReset => "box.factory_reset", info::Erased;
    devices::PairingOpen => "pairing.open", devices::PairingOpened;
    devices::DevicesList => "devices.list", devices::DeviceList;
    devices::DevicesRevoke => "devices.revoke", devices::Revoked;
    devices::DevicesRename => "devices.rename", devices::Renamed;
    devices::DevicesSetRole => "devices.set_role", devices::RoleSet;
    devices::DevicesApprove => "devices.approve", devices::RoleSet;
    devices::DevicesReassign => "devices.reassign", devices::Reassigned;
    devices::DevicesLinkStart => "devices.link_start", devices::LinkStarted;
    devices::DevicesLinkClaim => "devices.link_claim", devices::LinkClaimed;
    devices::DevicesLink => "devices.link", devices::LinkDone, limit = LINK_PARAMS_BYTES;
    devices::DevicesLinkFetch => "devices.link_fetch", devices::LinkFetched;
    identity::IdentityCreate => "identity.create", identity::IdentityView;
    identity::IdentityList => "identity.list", identity::IdentityListing;
    identity::IdentityGet => "identity.get", identity::IdentityView;
    identity::IdentityUpdate => "identity.update", identity::IdentityView;
    identity::IdentityDelete => "identity.delete", identity::Deleted;
    identity::DidResolve => "did.resolve", identity::Resolution;
    backup::BackupEnable => "backup.enable", backup::Enabled;
    backup::BackupPut => "backup.put", backup::Stored, limit = BULK_PARAMS_BYTES;
    backup::BackupStatus => "backup.status", backup::StatusList;
    backup::BackupExists => "backup.exists", backup::Exists;
    backup::BackupFetch => "backup.fetch", backup::Fetched;
    backup::BackupArchiveTicket => "backup.archive_ticket", backup::ArchiveTicket;
    backup::BackupRestoreKeys => "backup.restore_keys", backup::RestoredKeys, limit = BULK_PARAMS_BYTES;
    backup::BackupDisable => "backup.disable", backup::Disabled;
    backup::BackupLatest => "backup.latest", backup::Latest;
    extract::ExtractApprove => "extract.approve", extract::Approved;
}

/// Declares a method without params: it accepts `{}` (or no params at all) and sends `{}`.
macro_rules! no_params {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $name {}
        )*
    };
}
pub(crate) use no_params;

#[cfg(test)]
mod tests;
