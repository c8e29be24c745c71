//! The disk guard (protocol §9): a write that would leave the data directory's file system
//! nearly full is refused before it starts, so that the database, its WAL and the IPFS
//! repository always have room to finish what they acknowledged.

use std::path::{Path, PathBuf};

/// The most the guard keeps free: 256 MiB.
pub const RESERVE_CAP_BYTES: u64 = 256 * 1024 * 1024;
/// The share of the file system the guard keeps free, in percent (at most the cap above).
pub const RESERVE_PERCENT: u64 = 5;

/// How full the file system is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
    pub total: u64,
}

impl Space {
    /// What the guard keeps free: 5% of the file system, and never more than 256 MiB.
    pub fn reserve(&self) -> u64 {
        (self.total / 100)
            .saturating_mul(RESERVE_PERCENT)
            .min(RESERVE_CAP_BYTES)
    }

    /// Whether `bytes` more would leave less than the reserve free.
    pub fn refuses(&self, bytes: u64) -> bool {
        self.free < bytes.saturating_add(self.reserve())
    }

    /// Whether the household should be told: less than twice the reserve is free.
    pub fn nearly_full(&self) -> bool {
        self.free < self.reserve().saturating_mul(2)
    }
}

/// A write was refused: it would have left the card nearly full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the box's memory card is nearly full ({} MiB free); nothing was stored. Delete backups or \
     identities you no longer need, or move the box's data to a larger card",
    .free / (1024 * 1024)
)]
pub struct StorageFull {
    pub free: u64,
}

/// The guard of one data directory.
#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

impl Storage {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    /// How full the data directory's file system is now (`None` if it cannot be told).
    pub fn space(&self) -> Option<Space> {
        match rustix::fs::statvfs(&self.dir) {
            Ok(s) => Some(Space {
                free: s.f_bavail.saturating_mul(s.f_frsize),
                total: s.f_blocks.saturating_mul(s.f_frsize),
            }),
            Err(e) => {
                log::warn!("cannot tell how full {} is: {e}", self.dir.display());
                None
            }
        }
    }

    /// Refuses a write of about `bytes` that would leave the card nearly full. When the space
    /// cannot be told, the write goes ahead (SQLite refuses cleanly on a full disk anyway).
    pub fn check(&self, bytes: u64) -> Result<(), StorageFull> {
        match self.space() {
            Some(space) if space.refuses(bytes) => {
                log::warn!(
                    "refused a write of {bytes} bytes: {} bytes free, {} kept free",
                    space.free,
                    space.reserve()
                );
                Err(StorageFull { free: space.free })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn the_reserve_is_five_percent_and_at_most_256_mib() {
        let small = Space {
            free: 60 * MIB,
            total: 64 * MIB,
        };
        assert_eq!(small.reserve(), 64 * MIB / 100 * 5);
        let card = Space {
            free: 10_000 * MIB,
            total: 32_000 * MIB,
        };
        assert_eq!(card.reserve(), RESERVE_CAP_BYTES);
        assert!(!card.refuses(9_000 * MIB));
        assert!(card.refuses(9_800 * MIB));
        assert!(card.refuses(u64::MAX), "no overflow");
        assert!(!card.nearly_full());
        assert!(
            Space {
                free: 500 * MIB,
                total: 32_000 * MIB
            }
            .nearly_full()
        );
    }

    #[test]
    fn the_space_of_a_real_directory_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let space = Storage::new(dir.path()).space().unwrap();
        assert!(space.total > 0 && space.free <= space.total);
        assert!(Storage::new(dir.path()).check(u64::MAX / 2).is_err());
    }
}
