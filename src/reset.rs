//! A factory reset is an erase that survives a power cut (protocol §3 `box.factory_reset`, §9
//! "At rest"). The order:
//!
//! 1. [`mark`]: a marker file is written and made durable, *before* anyone is told "erased";
//! 2. the box stops serving, then [`erase`]: the seed first (overwritten, synced, removed),
//!    which makes every identity key in the database unreadable, since they are sealed under a
//!    key derived from it; then the database and the IPFS repository (nothing else in the
//!    directory is the box's, and nothing else is touched); the marker last;
//! 3. at start, a marker still there ([`pending`]) means an erase was cut short: the daemon
//!    finishes it before it reads anything else.
//!
//! The same marker is how a household with no phone left resets the box from its memory card
//! (`identity-box factory-reset --at-next-start`, run at boot by the image's
//! `identity-box-card-reset.service` when the FAT partition holds `identity-box-factory-reset`).

use std::io;
use std::path::Path;

use crate::fsutil;

/// The marker in the data directory: while it exists, the box's data is to be erased.
pub const MARKER_FILE: &str = "factory-reset-pending";

/// The box seed's file in the data directory.
pub const SEED_FILE: &str = "box-seed";

/// Writes the marker and makes it durable: from now on the erase happens, even if the power is
/// cut before it starts.
pub fn mark(data_dir: &Path) -> io::Result<()> {
    fsutil::write_atomic(
        &data_dir.join(MARKER_FILE),
        b"This box's data is being erased (a factory reset); it finishes when the box starts.\n",
        0o600,
    )
}

/// Whether an erase was asked for and is not finished.
pub fn pending(data_dir: &Path) -> io::Result<bool> {
    match std::fs::symlink_metadata(data_dir.join(MARKER_FILE)) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `name` is one of the box's own entries in its data directory: the seed and its
/// temporary files, the database and its WAL, shared memory and journal, the IPFS repository.
/// Nothing else is touched, so a data directory set to a folder that holds other files loses
/// only the box's.
fn is_the_boxs(name: &str) -> bool {
    name == SEED_FILE
        || name.starts_with(&format!("{SEED_FILE}.tmp-"))
        || name.starts_with(crate::store::DATABASE_FILE)
        || name == IPFS_DIR
}

/// The IPFS repository's directory in the data directory.
pub const IPFS_DIR: &str = "ipfs";

/// Erases the box's data in `data_dir`: the seed first, then the database and the IPFS
/// repository, the marker last. The lock and anything that is not the box's stay. It may be
/// run again on what an interrupted run left.
pub fn erase(data_dir: &Path) -> io::Result<()> {
    erase_seed(&data_dir.join(SEED_FILE))?;
    fsutil::sync_dir(data_dir)?;
    for entry in std::fs::read_dir(data_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_the_boxs) {
            continue;
        }
        let path = entry.path();
        let result = if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    fsutil::sync_dir(data_dir)?;
    match std::fs::remove_file(data_dir.join(MARKER_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fsutil::sync_dir(data_dir)
}

/// Overwrites the seed in place (not a new file renamed over it), syncs, then removes it.
fn erase_seed(path: &Path) -> io::Result<()> {
    use std::io::Write;
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(mut file) => {
            let len = file.metadata()?.len().max(32);
            let zeros = vec![0u8; usize::try_from(len).unwrap_or(32)];
            file.write_all(&zeros)?;
            file.sync_all()?;
            drop(file);
            std::fs::remove_file(path)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_erase_leaves_only_what_it_keeps() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SEED_FILE), [7u8; 32]).unwrap();
        std::fs::write(dir.path().join("identity-box.sqlite3"), b"db").unwrap();
        std::fs::write(dir.path().join("identity-box.sqlite3-wal"), b"wal").unwrap();
        std::fs::create_dir_all(dir.path().join("ipfs/blocks")).unwrap();
        std::fs::write(dir.path().join("ipfs/blocks/a"), b"block").unwrap();
        std::fs::write(dir.path().join("identity-box.sqlite3-shm"), b"shm").unwrap();
        std::fs::write(dir.path().join("box-seed.tmp-77"), [7u8; 32]).unwrap();
        std::fs::write(dir.path().join("lock"), b"").unwrap();
        // Someone's own file in a data directory they chose: not the box's to erase.
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        assert!(!pending(dir.path()).unwrap());
        mark(dir.path()).unwrap();
        assert!(pending(dir.path()).unwrap());
        erase(dir.path()).unwrap();
        assert_eq!(names(dir.path()), ["lock", "notes.txt"]);
        assert!(!pending(dir.path()).unwrap());
    }

    #[test]
    fn an_interrupted_erase_can_be_run_again() {
        let dir = tempfile::tempdir().unwrap();
        // What a kill after the seed's removal leaves: the marker and the rest.
        mark(dir.path()).unwrap();
        std::fs::write(dir.path().join("identity-box.sqlite3"), b"db").unwrap();
        erase(dir.path()).unwrap();
        assert!(names(dir.path()).is_empty());
        // And on an empty directory it has nothing to do.
        erase(dir.path()).unwrap();
    }

    #[test]
    fn the_seed_is_overwritten_before_it_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join(SEED_FILE);
        std::fs::write(&seed, [7u8; 32]).unwrap();
        // A second name for the same inode shows what was written into it.
        let witness = dir.path().join("witness");
        std::fs::hard_link(&seed, &witness).unwrap();
        erase_seed(&seed).unwrap();
        assert!(!seed.exists());
        assert_eq!(std::fs::read(&witness).unwrap(), [0u8; 32]);
    }
}
