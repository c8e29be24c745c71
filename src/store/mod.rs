//! The box's SQLite database: schema, migrations and every SQL statement, on a thread of its own.
//!
//! The connection lives on one dedicated thread (an actor fed by a channel, answering on a
//! oneshot), so SQL never runs on an async worker. Callers get plain row structs and
//! [`StoreError`]; nothing outside this module knows rusqlite.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

mod backups;
mod devices;
mod groups;
mod identities;
mod nonces;

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::crypto::KeyVault;
use rusqlite_migration::{M, Migrations};
use tokio::sync::oneshot;

/// The schema, one numbered file per step. Only ever append; never edit a shipped migration.
/// The schema's steps. The last one seals the identity keys stored in the clear with `vault`.
fn migrations(vault: &KeyVault) -> Vec<M<'static>> {
    vec![
        M::up(include_str!("migrations/0001_meta.sql")),
        M::up(include_str!("migrations/0002_devices.sql")),
        M::up(include_str!("migrations/0003_replay.sql")),
        M::up(include_str!("migrations/0004_identities.sql")),
        M::up(include_str!("migrations/0005_backups.sql")),
        M::up(include_str!("migrations/0006_backup_versions_complete.sql")),
        M::up(include_str!("migrations/0007_household.sql")),
        M::up_with_hook(
            include_str!("migrations/0008_sealed_keys.sql"),
            identities::seal_keys_hook(vault.clone()),
        ),
        M::up(include_str!("migrations/0009_groups.sql")),
    ]
}

/// At most this many devices in one group (one person, protocol §2).
pub const MAX_GROUP_DEVICES: u64 = 10;

/// The number of migrations this build knows.
const SCHEMA_VERSION: usize = 9;

pub use backups::{
    BackupRow, NewBackup, NewVersion, Rebound, VersionMeta, VersionRow, VersionSummary,
};
pub use devices::{
    Change, Device, DeviceLimits, Event, NewRole, Paired, Reassign, RemovedDevice, Renamed,
};
pub use groups::{DELIVERY_SECS, Delivery, GroupKey, KeyCheck, Linked};
pub use identities::{IdentityRow, Publication};

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a database or fails SQLite's integrity check.
    #[error(
        "the database {path} is damaged ({detail}); the box cannot start with it. Move the file \
         aside to start with an empty box, or put back a copy of the data directory"
    )]
    Damaged { path: String, detail: String },
    /// The file could not be opened (permissions, missing directory, full disk…).
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// The database file could not be made readable by the box alone.
    #[error("cannot make the database {path} private: {source}")]
    Private {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Bringing the schema up to date failed.
    #[error("cannot update the database schema: {0}")]
    Migration(String),
    /// A statement failed.
    #[error("database error: {0}")]
    Query(#[from] rusqlite::Error),
    /// A thread of the store (the database's own, or a reader's) could not be started.
    #[error("cannot start a database thread: {0}")]
    Thread(std::io::Error),
    /// An identity key does not open with the box's seed.
    #[error(
        "the key of {did} does not open with this box's seed file: the database and box-seed \
         come from different boxes. Put back the box-seed file that belongs with this database"
    )]
    KeyDoesNotOpen { did: String },
    /// A stored value is not what the code wrote there.
    #[error("a stored value is not valid: {0}")]
    BadValue(String),
    /// The store has been closed (the box is shutting down).
    #[error("the database is closed because the box is shutting down")]
    Closed,
}

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    Job(Job),
    Close,
}

/// A handle to the database thread; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The database file (`None` in memory): long sequential reads open their own connection.
    path: Option<PathBuf>,
    /// Seals the identity keys before they are written, opens them when read.
    vault: KeyVault,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Job(_) => "Job",
            Message::Close => "Close",
        })
    }
}

impl Store {
    /// Opens (or creates) the database at `path`: sets the pragmas, runs `PRAGMA quick_check`,
    /// applies pending migrations, records the first start at `now_unix`, and seals with
    /// `vault` any identity key an older version stored in the clear.
    pub async fn open(path: &Path, now_unix: i64, vault: KeyVault) -> Result<Store, StoreError> {
        let file = path.to_owned();
        let sealer = vault.clone();
        let mut store = Self::start(move || open_file(&file, now_unix, &sealer), vault).await?;
        if let Some(inner) = Arc::get_mut(&mut store.inner) {
            inner.path = Some(path.to_owned());
        }
        Ok(store)
    }

    /// An in-memory database with the full schema and a vault key of its own, for tests.
    pub async fn open_in_memory(now_unix: i64) -> Result<Store, StoreError> {
        let vault = KeyVault::new(
            crate::crypto::Secret32::random().map_err(|e| StoreError::BadValue(e.to_string()))?,
        );
        let sealer = vault.clone();
        Self::start(
            move || {
                let mut conn = Connection::open_in_memory()?;
                init(&mut conn, now_unix, &sealer)?;
                Ok(conn)
            },
            vault,
        )
        .await
    }

    async fn start(
        open: impl FnOnce() -> Result<Connection, StoreError> + Send + 'static,
        vault: KeyVault,
    ) -> Result<Store, StoreError> {
        let (tx, rx) = mpsc::channel::<Message>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let mut conn = match open() {
                    Ok(conn) => {
                        let _ = ready_tx.send(Ok(()));
                        conn
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                while let Ok(Message::Job(job)) = rx.recv() {
                    job(&mut conn);
                }
                // Leave the planner statistics fresh; the WAL is checkpointed when the last
                // connection closes.
                let _ = conn.execute_batch("PRAGMA optimize;");
                if let Err((_, e)) = conn.close() {
                    log::warn!("closing the database: {e}");
                }
            })
            .map_err(StoreError::Thread)?;
        ready_rx.await.map_err(|_| StoreError::Closed)??;
        Ok(Store {
            inner: Arc::new(Inner {
                tx,
                thread: Mutex::new(Some(thread)),
                path: None,
                vault,
            }),
        })
    }

    /// The vault that seals identity keys.
    fn vault(&self) -> KeyVault {
        self.inner.vault.clone()
    }

    /// Runs `f` on the database thread and waits for its answer.
    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.inner
            .tx
            .send(Message::Job(job))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Finishes the queued work, closes the connection and waits for the thread to end.
    /// Later calls on any clone answer [`StoreError::Closed`].
    pub async fn close(&self) {
        let _ = self.inner.tx.send(Message::Close);
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// When this box was first started (Unix seconds).
    pub async fn first_started_at(&self) -> Result<i64, StoreError> {
        self.call(|conn| {
            let value: String = conn.query_row(
                "SELECT value FROM box_meta WHERE key = 'first_start'",
                [],
                |row| row.get(0),
            )?;
            value
                .parse()
                .map_err(|_| StoreError::BadValue(format!("first_start is {value:?}")))
        })
        .await
    }

    /// Records `boot_id` as the boot of this start and returns the one recorded by the start
    /// before (`None` the first time): a different one means the machine was power-cycled.
    pub async fn swap_boot_id(&self, boot_id: &str) -> Result<Option<String>, StoreError> {
        let boot_id = boot_id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let previous = tx
                .query_row(
                    "SELECT value FROM box_meta WHERE key = 'boot_id'",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT OR REPLACE INTO box_meta (key, value) VALUES ('boot_id', ?1)",
                [&boot_id],
            )?;
            tx.commit()?;
            Ok(previous)
        })
        .await
    }

    /// The schema version (the number of migrations applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.call(|conn| Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?))
            .await
    }

    /// The number of migrations this build knows.
    pub fn latest_schema_version() -> i64 {
        SCHEMA_VERSION as i64
    }
}

fn open_file(path: &Path, now_unix: i64, vault: &KeyVault) -> Result<Connection, StoreError> {
    let damaged = |detail: String| StoreError::Damaged {
        path: path.display().to_string(),
        detail,
    };
    let classify = |e: rusqlite::Error| -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => damaged(e.to_string()),
            _ => StoreError::Open {
                path: path.display().to_string(),
                source: e,
            },
        }
    };
    make_private(path).map_err(|source| StoreError::Private {
        path: path.display().to_string(),
        source,
    })?;
    let mut conn = Connection::open(path).map_err(classify)?;
    match init(&mut conn, now_unix, vault) {
        Err(StoreError::Query(e) | StoreError::Open { source: e, .. }) => Err(classify(e)),
        Err(StoreError::Damaged { detail, .. }) => Err(damaged(detail)),
        other => other.map(|()| conn),
    }
}

/// Creates the database file readable only by the box's user (0600), or narrows an existing
/// one to that: SQLite gives its `-wal` and `-shm` files the database file's mode, and would
/// otherwise create it 0644 (less the umask) outside systemd.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Err(e) => Err(e),
    }
}

/// Pragmas, integrity check, migrations, first-start record.
fn init(conn: &mut Connection, now_unix: i64, vault: &KeyVault) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // 16 KiB pages for a new database (an existing one keeps its own): a bundle of 1 MiB is 64
    // overflow pages instead of 256, which made writing, erasing and checkpointing a version
    // about 40% cheaper (BENCHMARKS.md), and SD cards write in blocks at least that large.
    conn.execute_batch("PRAGMA page_size = 16384;")?;
    // Reading the journal mode is the first statement that touches the file: a file that is not
    // a database fails here with NotADatabase.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA secure_delete = ON;
         PRAGMA foreign_keys = ON;",
    )?;
    let problems: Vec<String> = {
        let mut stmt = conn.prepare("PRAGMA quick_check")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    if problems.first().map(String::as_str) != Some("ok") {
        return Err(StoreError::Damaged {
            path: String::new(),
            detail: format!("integrity check: {}", problems.join("; ")),
        });
    }
    let before: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    Migrations::new(migrations(vault))
        .to_latest(conn)
        .map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => StoreError::Query(err),
            other => StoreError::Migration(other.to_string()),
        })?;
    if (1..SCHEMA_VERSION as i64).contains(&before) {
        // An upgrade rewrote tables (0008 replaced clear keys by sealed ones): the old pages
        // leave the WAL now, not at some later checkpoint.
        backups::checkpoint(conn)?;
    }
    conn.execute(
        "INSERT OR IGNORE INTO box_meta (key, value) VALUES ('first_start', ?1)",
        params![now_unix.to_string()],
    )?;
    Ok(())
}

/// The database's file name (its WAL and shared memory add `-wal` and `-shm`).
pub const DATABASE_FILE: &str = "identity-box.sqlite3";

/// The database file inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE_FILE)
}

/// Reads a pragma's current value (tests use it to prove the settings hold).
#[cfg(test)]
async fn pragma(store: &Store, name: &'static str) -> Result<String, StoreError> {
    store
        .call(move |conn| {
            let value: Option<rusqlite::types::Value> = conn
                .query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
                .optional()?;
            Ok(match value {
                Some(rusqlite::types::Value::Integer(i)) => i.to_string(),
                Some(rusqlite::types::Value::Text(t)) => t,
                other => format!("{other:?}"),
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// The vault of the tests' databases on disk.
    pub(crate) fn test_vault() -> KeyVault {
        KeyVault::new(crate::crypto::Secret32::new([0x5a; 32]))
    }

    #[test]
    fn migrations_are_valid() {
        let all = migrations(&test_vault());
        assert_eq!(all.len(), SCHEMA_VERSION);
        Migrations::new(all).validate().unwrap();
    }

    #[tokio::test]
    async fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&database_path(dir.path()), 1, test_vault())
            .await
            .unwrap();
        assert_eq!(pragma(&store, "journal_mode").await.unwrap(), "wal");
        assert_eq!(pragma(&store, "synchronous").await.unwrap(), "2"); // FULL
        assert_eq!(pragma(&store, "secure_delete").await.unwrap(), "1");
        assert_eq!(pragma(&store, "foreign_keys").await.unwrap(), "1");
        assert_eq!(pragma(&store, "page_size").await.unwrap(), "16384");
        store.close().await;
    }

    #[tokio::test]
    async fn migrations_run_once_and_first_start_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let store = Store::open(&path, 1000, test_vault()).await.unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            Store::latest_schema_version()
        );
        store.close().await;
        // A second start applies nothing and keeps the first start's record.
        let store = Store::open(&path, 2000, test_vault()).await.unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            Store::latest_schema_version()
        );
        assert_eq!(store.first_started_at().await.unwrap(), 1000);
        store.close().await;
    }

    #[tokio::test]
    async fn closed_store_answers_closed() {
        let store = Store::open_in_memory(5).await.unwrap();
        let clone = store.clone();
        store.close().await;
        assert!(matches!(
            clone.first_started_at().await,
            Err(StoreError::Closed)
        ));
    }

    #[tokio::test]
    async fn the_database_and_its_wal_are_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let store = Store::open(&path, 1, test_vault()).await.unwrap();
        store.swap_boot_id("a").await.unwrap();
        assert_eq!(mode(&path), 0o600);
        let wal = dir.path().join("identity-box.sqlite3-wal");
        assert_eq!(mode(&wal), 0o600);
        store.close().await;
        // A database an older box left readable by all is narrowed at the next start.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = Store::open(&path, 1, test_vault()).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        store.close().await;
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        let err = Store::open(&path, 1, test_vault()).await.unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
        assert!(err.to_string().contains("identity-box.sqlite3"), "{err}");
    }

    #[tokio::test]
    async fn a_corrupted_page_is_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = database_path(dir.path());
        {
            // A database of several pages, checkpointed into the main file.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE t (x TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO t SELECT printf('%0100d', i) FROM n;",
            )
            .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let page = 4096;
        assert!(bytes.len() > 4 * page);
        // Scribble over the b-tree header of the third page.
        for b in &mut bytes[2 * page..2 * page + 64] {
            *b = 0xff;
        }
        std::fs::write(&path, bytes).unwrap();
        let err = Store::open(&path, 1, test_vault()).await.unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
    }
}
