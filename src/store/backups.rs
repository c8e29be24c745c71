//! Backups (protocol §5): who owns each backup, and its versions of ciphertext.
//!
//! A version is one transaction: the bundle (or the newest one's, for a version the box makes
//! by itself), the sealed identity keys, their hashes, and retention. `secure_delete` (set at
//! open) overwrites what retention and `backup.disable` remove.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};

/// A backup: its owner and the public key its identity keys are sealed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRow {
    pub backup_id: String,
    pub group_id: String,
    pub recipient: [u8; 32],
    pub created: i64,
    /// Turned off (`backup.disable` without `delete`): versions are kept, none are added.
    pub enabled: bool,
}

/// One stored version, with its ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub backup_id: String,
    pub version: u64,
    pub created: i64,
    pub bundle: Vec<u8>,
    pub bundle_sha256: [u8; 32],
    pub sealed_keys: Vec<u8>,
    pub sealed_sha256: [u8; 32],
    /// JSON `[{did, cid, seq}]`.
    pub identities: String,
}

/// A version as an archive needs it: everything but the bundle's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta {
    pub version: u64,
    pub created: i64,
    pub bundle_len: u64,
    pub bundle_sha256: [u8; 32],
    pub sealed_keys: Vec<u8>,
    /// JSON `[{did, cid, seq}]`.
    pub identities: String,
}

/// What a new version holds. `bundle: None` copies the newest version's bundle (a version
/// the box makes by itself when an identity changes).
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub bundle: Option<(Vec<u8>, [u8; 32])>,
    pub sealed_keys: Vec<u8>,
    pub sealed_sha256: [u8; 32],
    pub identities: String,
    pub created: i64,
    /// The group key id a v2 bundle is under (`None` for v1; copied with the bundle).
    pub group_key_id: Option<String>,
    /// The identity keys sealed to each device of the group: `(device_id, sealed)`.
    pub device_keys: Vec<(String, Vec<u8>)>,
}

/// A backup as `backup.status` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSummary {
    pub backup_id: String,
    pub versions: u64,
    pub latest_version: Option<u64>,
    pub latest_created: Option<i64>,
    /// Bytes of the newest version (bundle and sealed keys).
    pub size: u64,
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn hash32(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = row.get(i)?;
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, "length".into())
    })
}

fn backup_row(conn: &Connection, backup_id: &str) -> Result<Option<BackupRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT backup_id, group_id, recipient, created, enabled FROM backups \
             WHERE backup_id = ?1",
            params![backup_id],
            |row| {
                Ok(BackupRow {
                    backup_id: row.get(0)?,
                    group_id: row.get(1)?,
                    recipient: hash32(row, 2)?,
                    created: row.get(3)?,
                    enabled: row.get(4)?,
                })
            },
        )
        .optional()?)
}

/// What [`Store::rebind_backup`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebound {
    /// The caller is in the backup's group; `superseded` is the device it replaced, if any.
    Done { superseded: Option<String> },
    /// The backup (or the caller) is gone.
    NoBackup,
    /// The backup's group has as many devices as it may.
    GroupFull,
}

/// What [`Store::insert_backup`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewBackup {
    Inserted,
    /// A backup with this id exists (another request made it first).
    Exists,
    /// The device holds as many backups as it may.
    Quota,
}

impl Store {
    /// One backup, by id.
    pub async fn backup(&self, backup_id: &str) -> Result<Option<BackupRow>, StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| backup_row(conn, &backup_id)).await
    }

    /// Stores a new backup, unless the id exists or its device holds `max` backups already
    /// (checked in the same transaction).
    pub async fn insert_backup(&self, row: BackupRow, max: u64) -> Result<NewBackup, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let held: u64 = tx.query_row(
                "SELECT count(*) FROM backups WHERE group_id = ?1",
                [&row.group_id],
                |r| r.get(0),
            )?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM backups WHERE backup_id = ?1)",
                [&row.backup_id],
                |r| r.get(0),
            )?;
            if exists {
                return Ok(NewBackup::Exists);
            }
            if held >= max {
                return Ok(NewBackup::Quota);
            }
            tx.execute(
                "INSERT INTO backups (backup_id, group_id, recipient, created, enabled) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.backup_id,
                    row.group_id,
                    row.recipient.as_slice(),
                    row.created,
                    row.enabled
                ],
            )?;
            tx.commit()?;
            Ok(NewBackup::Inserted)
        })
        .await
    }

    /// Turns a backup on or off.
    pub async fn set_backup_enabled(&self, backup_id: &str, on: bool) -> Result<(), StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| {
            conn.execute(
                "UPDATE backups SET enabled = ?2 WHERE backup_id = ?1",
                params![backup_id, on],
            )?;
            Ok(())
        })
        .await
    }

    /// A restored phone takes its backup over with the words (protocol §2, §5): `device_id`
    /// joins the backup's group (with what its own group of one owned), the live identities
    /// the newest version lists come back to the group, and backups are turned on. When the
    /// group had exactly one other paired device, that device is superseded (its role passes
    /// to the caller if it was higher, and it is removed); with several, they stay, and the
    /// person revokes the lost one. A pending device taking a backup over becomes a member at
    /// least. One transaction.
    pub async fn rebind_backup(
        &self,
        backup_id: &str,
        device_id: &str,
        dids: Vec<String>,
        now: i64,
    ) -> Result<Rebound, StoreError> {
        let (backup_id, device_id) = (backup_id.to_owned(), device_id.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let Some(group) = tx
                .query_row(
                    "SELECT group_id FROM backups WHERE backup_id = ?1",
                    [&backup_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
            else {
                return Ok(Rebound::NoBackup);
            };
            let Some(caller) = super::devices::device_in(&tx, &device_id)? else {
                return Ok(Rebound::NoBackup);
            };
            let others: Vec<String> = {
                let mut stmt = tx.prepare(
                    "SELECT device_id FROM devices WHERE group_id = ?1 AND device_id != ?2",
                )?;
                stmt.query_map(params![group, device_id], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            if caller.group_id != group && others.len() >= super::MAX_GROUP_DEVICES as usize {
                return Ok(Rebound::GroupFull);
            }
            super::groups::join_group_in(&tx, &caller, &group, now)?;
            tx.execute(
                "UPDATE backups SET enabled = 1 WHERE backup_id = ?1",
                [&backup_id],
            )?;
            for did in dids {
                tx.execute(
                    "UPDATE identities SET group_id = ?2 WHERE did = ?1 AND deactivated = 0",
                    params![did, group],
                )?;
            }
            let mut superseded = None;
            if let [old] = others.as_slice()
                && let Some(old) = super::devices::device_in(&tx, old)?
            {
                let caller = super::devices::device_in(&tx, &device_id)?
                    .unwrap_or_else(|| unreachable!("read in this transaction"));
                super::devices::supersede_in(&tx, &old, &caller, now)?;
                superseded = Some(old.device_id);
            }
            // The backup's words are proof enough to be in the household: a pending device
            // that took a backup over is a member at least.
            tx.execute(
                "UPDATE devices SET role = 'member', pending_until = NULL
                 WHERE device_id = ?1 AND role = 'pending'",
                [&device_id],
            )?;
            tx.commit()?;
            Ok(Rebound::Done { superseded })
        })
        .await
    }

    /// Stores version n+1 of a backup and applies retention (keep the newest `keep`, and
    /// never the newest complete one). Durable when this returns; `None` when the backup is
    /// gone or a bundle to copy is missing.
    pub async fn add_backup_version(
        &self,
        backup_id: &str,
        v: NewVersion,
        keep: u32,
    ) -> Result<Option<u64>, StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let Some((version, group_id)) = tx
                .query_row(
                    "SELECT next_version, group_id FROM backups WHERE backup_id = ?1",
                    params![backup_id],
                    |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            // A v2 bundle's group key, judged in this transaction: a version that fails
            // changes no key, and a key retired meanwhile stores nothing.
            if v.bundle.is_some()
                && let Some(key_id) = &v.group_key_id
                && super::groups::accept_key_in(&tx, &group_id, key_id, v.created)?
                    == super::KeyCheck::Retired
            {
                return Ok(None);
            }
            // Retention first, then again after the insert: the pages of the version that
            // goes (zeroed by `secure_delete`) are reused by the new one within this
            // transaction, so each is written to the WAL once, not twice (zeros, then data).
            apply_retention(&tx, &backup_id, keep.saturating_sub(1))?;
            let inserted = match &v.bundle {
                Some((bundle, hash)) => tx.execute(
                    "INSERT INTO backup_versions (backup_id, version, created, bundle, \
                     bundle_sha256, sealed_keys, sealed_sha256, identities, group_key_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        backup_id,
                        version,
                        v.created,
                        bundle,
                        hash.as_slice(),
                        v.sealed_keys,
                        v.sealed_sha256.as_slice(),
                        v.identities,
                        v.group_key_id
                    ],
                )?,
                None => tx.execute(
                    "INSERT INTO backup_versions (backup_id, version, created, bundle, \
                     bundle_sha256, sealed_keys, sealed_sha256, identities, group_key_id) \
                     SELECT ?1, ?2, ?3, bundle, bundle_sha256, ?4, ?5, ?6, group_key_id \
                     FROM backup_versions \
                     WHERE backup_id = ?1 AND complete = 1 ORDER BY version DESC LIMIT 1",
                    params![
                        backup_id,
                        version,
                        v.created,
                        v.sealed_keys,
                        v.sealed_sha256.as_slice(),
                        v.identities
                    ],
                )?,
            };
            if inserted != 1 {
                return Ok(None);
            }
            for (device_id, sealed) in &v.device_keys {
                tx.execute(
                    "INSERT INTO backup_device_keys (backup_id, version, device_id, sealed) \
                     VALUES (?1, ?2, ?3, ?4)",
                    params![backup_id, version, device_id, sealed],
                )?;
            }
            tx.execute(
                "UPDATE backups SET next_version = ?2 WHERE backup_id = ?1",
                params![backup_id, version + 1],
            )?;
            apply_retention(&tx, &backup_id, keep)?;
            tx.commit()?;
            Ok(Some(u64_of(version)))
        })
        .await
    }

    /// A version (the newest complete one when `version` is `None`).
    pub async fn backup_version(
        &self,
        backup_id: &str,
        version: Option<u64>,
    ) -> Result<Option<VersionRow>, StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| {
            find_version(
                conn,
                &backup_id,
                version,
                "backup_id, version, created, bundle, bundle_sha256, sealed_keys, \
                 sealed_sha256, identities",
                |row| {
                    Ok(VersionRow {
                        backup_id: row.get(0)?,
                        version: u64_of(row.get(1)?),
                        created: row.get(2)?,
                        bundle: row.get(3)?,
                        bundle_sha256: hash32(row, 4)?,
                        sealed_keys: row.get(5)?,
                        sealed_sha256: hash32(row, 6)?,
                        identities: row.get(7)?,
                    })
                },
            )
        })
        .await
    }

    /// A version's identity keys sealed to the device `device_id`, if it has a copy.
    pub async fn version_device_keys(
        &self,
        backup_id: &str,
        version: u64,
        device_id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let (backup_id, device_id) = (backup_id.to_owned(), device_id.to_owned());
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT sealed FROM backup_device_keys \
                     WHERE backup_id = ?1 AND version = ?2 AND device_id = ?3",
                    params![backup_id, i64_of(version), device_id],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    /// The newest complete version's number, time and size (bundle and sealed keys), without
    /// reading the bundle.
    pub async fn latest_version(
        &self,
        backup_id: &str,
    ) -> Result<Option<(u64, i64, u64)>, StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| {
            find_version(
                conn,
                &backup_id,
                None,
                "version, created, length(bundle) + length(sealed_keys)",
                |row| Ok((u64_of(row.get(0)?), row.get(1)?, u64_of(row.get(2)?))),
            )
        })
        .await
    }

    /// A version without its bundle's bytes (only their length): what an archive is planned
    /// from, whatever the bundle's size.
    pub async fn backup_version_meta(
        &self,
        backup_id: &str,
        version: Option<u64>,
    ) -> Result<Option<VersionMeta>, StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| {
            find_version(
                conn,
                &backup_id,
                version,
                "version, created, length(bundle), bundle_sha256, sealed_keys, identities",
                |row| {
                    Ok(VersionMeta {
                        version: u64_of(row.get(0)?),
                        created: row.get(1)?,
                        bundle_len: u64_of(row.get(2)?),
                        bundle_sha256: hash32(row, 3)?,
                        sealed_keys: row.get(4)?,
                        identities: row.get(5)?,
                    })
                },
            )
        })
        .await
    }

    /// Streams bytes `offset..offset + len` of a version's bundle in pieces of `chunk` bytes,
    /// read on a thread of its own through a read-only connection of its own: one read
    /// transaction and one open blob, so the bundle is read once, in order (reopening a blob
    /// walks its overflow pages from the start every time). At most two pieces wait in the
    /// channel; the thread ends when the receiver is dropped. In memory, pieces are read
    /// through the database thread instead.
    pub fn stream_bundle(
        &self,
        backup_id: &str,
        version: u64,
        offset: u64,
        len: u64,
        chunk: usize,
    ) -> tokio::sync::mpsc::Receiver<Result<Vec<u8>, StoreError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let backup_id = backup_id.to_owned();
        let chunk = chunk.max(1) as u64;
        let Some(path) = self.inner.path.clone() else {
            let store = self.clone();
            tokio::spawn(async move {
                let mut at = offset;
                while at < offset + len {
                    let n = chunk.min(offset + len - at);
                    let piece = match store.read_bundle(&backup_id, version, at, n as usize).await {
                        Ok(Some(b)) => Ok(b),
                        Ok(None) => Err(StoreError::Closed),
                        Err(e) => Err(e),
                    };
                    let failed = piece.is_err();
                    if tx.send(piece).await.is_err() || failed {
                        return;
                    }
                    at += n;
                }
            });
            return rx;
        };
        let spawned = std::thread::Builder::new()
            .name("bundle-reader".into())
            .spawn({
                let tx = tx.clone();
                move || {
                    let run = || -> Result<(), StoreError> {
                        let conn = Connection::open_with_flags(
                            &path,
                            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        )?;
                        conn.busy_timeout(std::time::Duration::from_secs(5))?;
                        let blob = open_bundle(&conn, &backup_id, version)?.ok_or_else(|| {
                            StoreError::from(rusqlite::Error::QueryReturnedNoRows)
                        })?;
                        let mut at = offset;
                        while at < offset + len {
                            let n = chunk.min(offset + len - at);
                            let mut buf = vec![0; n as usize];
                            blob.read_at_exact(
                                &mut buf,
                                usize::try_from(at).unwrap_or(usize::MAX),
                            )?;
                            if tx.blocking_send(Ok(buf)).is_err() {
                                return Ok(()); // the download was dropped
                            }
                            at += n;
                        }
                        Ok(())
                    };
                    if let Err(e) = run() {
                        let _ = tx.blocking_send(Err(e));
                    }
                }
            });
        if let Err(e) = spawned {
            let _ = tx.try_send(Err(StoreError::Thread(e)));
        }
        rx
    }

    /// Up to `len` bytes of a version's bundle from `offset` (incremental blob I/O: only those
    /// bytes are read). `None` when the version is gone.
    pub async fn read_bundle(
        &self,
        backup_id: &str,
        version: u64,
        offset: u64,
        len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| {
            let Some(blob) = open_bundle(conn, &backup_id, version)? else {
                return Ok(None);
            };
            let size = u64::try_from(blob.len()).unwrap_or(0);
            let want = (size.saturating_sub(offset)).min(len as u64) as usize;
            let mut buf = vec![0; want];
            let at = usize::try_from(offset).unwrap_or(usize::MAX);
            if want > 0 {
                blob.read_at_exact(&mut buf, at)?;
            }
            Ok(Some(buf))
        })
        .await
    }

    /// A device's backups with their newest version.
    pub async fn backups_of(&self, group_id: &str) -> Result<Vec<VersionSummary>, StoreError> {
        let group_id = group_id.to_owned();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT b.backup_id, \
                   (SELECT count(*) FROM backup_versions v WHERE v.backup_id = b.backup_id), \
                   n.version, n.created, \
                   coalesce(length(n.bundle) + length(n.sealed_keys), 0) \
                 FROM backups b LEFT JOIN backup_versions n ON n.backup_id = b.backup_id \
                   AND n.version = (SELECT max(version) FROM backup_versions m \
                                    WHERE m.backup_id = b.backup_id) \
                 WHERE b.group_id = ?1 ORDER BY b.created, b.backup_id",
            )?;
            let rows = stmt.query_map(params![group_id], |row| {
                Ok(VersionSummary {
                    backup_id: row.get(0)?,
                    versions: u64_of(row.get(1)?),
                    latest_version: row.get::<_, Option<i64>>(2)?.map(u64_of),
                    latest_created: row.get(3)?,
                    size: u64_of(row.get(4)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// When the newest complete version of any backup was made (Unix seconds): the one fact
    /// about backups the web page shows to anyone on the network.
    pub async fn last_backup_at(&self) -> Result<Option<i64>, StoreError> {
        self.call(|conn| {
            // The newest complete version of each backup through the index on (backup_id,
            // complete, version), then `created` by primary key: `complete` is stored after the
            // bundle, and reading it row by row would walk every bundle's overflow pages.
            Ok(conn.query_row(
                "SELECT max(v.created) FROM backups b
                 JOIN backup_versions v ON v.backup_id = b.backup_id
                  AND v.version = (SELECT max(w.version) FROM backup_versions w
                                   WHERE w.backup_id = b.backup_id AND w.complete = 1)",
                [],
                |row| row.get(0),
            )?)
        })
        .await
    }

    /// How many backups the box holds, of any device.
    pub async fn backup_count(&self) -> Result<u64, StoreError> {
        self.call(|conn| {
            let n: i64 = conn.query_row("SELECT count(*) FROM backups", [], |row| row.get(0))?;
            Ok(u64_of(n))
        })
        .await
    }

    /// The enabled backups whose newest version lists `did`, with their owners.
    pub async fn backups_listing(&self, did: &str) -> Result<Vec<BackupRow>, StoreError> {
        let did = did.to_owned();
        self.call(move |conn| {
            let ids: Vec<String> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT DISTINCT v.backup_id FROM backup_versions v, json_each(v.identities) j \
                     WHERE v.version = (SELECT max(version) FROM backup_versions m \
                                        WHERE m.backup_id = v.backup_id) \
                       AND json_extract(j.value, '$.did') = ?1",
                )?;
                let rows = stmt.query_map(params![did], |row| row.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = Vec::new();
            for id in ids {
                out.extend(backup_row(conn, &id)?.filter(|b| b.enabled));
            }
            Ok(out)
        })
        .await
    }

    /// Erases a backup and every version, then checkpoints the WAL so that no copy of the
    /// ciphertext stays behind in it (`secure_delete` zeroes the freed pages).
    pub async fn delete_backup(&self, backup_id: &str) -> Result<bool, StoreError> {
        let backup_id = backup_id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM backup_versions WHERE backup_id = ?1",
                params![backup_id],
            )?;
            let n = tx.execute(
                "DELETE FROM backups WHERE backup_id = ?1",
                params![backup_id],
            )?;
            tx.commit()?;
            checkpoint(conn)?;
            Ok(n == 1)
        })
        .await
    }
}

/// Deletes all but the newest `keep` versions, never the newest complete one. (Every version
/// this box writes is complete, being one transaction; the rule guards against a version
/// ever marked incomplete, so that retention can never leave a backup without one.)
/// A version's bundle, opened read-only for incremental reads; `None` when the version is gone.
fn open_bundle<'c>(
    conn: &'c Connection,
    backup_id: &str,
    version: u64,
) -> rusqlite::Result<Option<rusqlite::blob::Blob<'c>>> {
    let Some(rowid) = conn
        .query_row(
            "SELECT rowid FROM backup_versions WHERE backup_id = ?1 AND version = ?2",
            params![backup_id, i64_of(version)],
            |row| row.get::<_, i64>(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    conn.blob_open(rusqlite::MAIN_DB, "backup_versions", "bundle", rowid, true)
        .map(Some)
}

/// The row of a version (the newest complete one when `version` is `None`), as `map` reads
/// the columns `cols`.
fn find_version<T>(
    conn: &Connection,
    backup_id: &str,
    version: Option<u64>,
    cols: &str,
    map: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>, StoreError> {
    Ok(match version {
        Some(n) => conn
            .query_row(
                &format!(
                    "SELECT {cols} FROM backup_versions WHERE backup_id = ?1 AND version = ?2"
                ),
                params![backup_id, i64_of(n)],
                map,
            )
            .optional()?,
        None => conn
            .query_row(
                &format!(
                    "SELECT {cols} FROM backup_versions WHERE backup_id = ?1 AND complete = 1 \
                     ORDER BY version DESC LIMIT 1"
                ),
                params![backup_id],
                map,
            )
            .optional()?,
    })
}

fn apply_retention(conn: &Connection, backup_id: &str, keep: u32) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM backup_versions WHERE backup_id = ?1 \
         AND version NOT IN (SELECT version FROM backup_versions WHERE backup_id = ?1 \
                             ORDER BY version DESC LIMIT ?2) \
         AND version IS NOT (SELECT max(version) FROM backup_versions \
                             WHERE backup_id = ?1 AND complete = 1)",
        params![backup_id, i64::from(keep.max(1))],
    )?)
}

/// Copies the WAL into the database and truncates it to zero bytes.
pub(super) fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    // In-memory databases have no WAL; the pragma answers a row either way.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::sha256;

    fn version(bundle: Option<&[u8]>, created: i64) -> NewVersion {
        NewVersion {
            bundle: bundle.map(|b| (b.to_vec(), sha256(b))),
            sealed_keys: vec![created as u8; 10],
            sealed_sha256: sha256(&[created as u8; 10]),
            identities: "[]".into(),
            created,
            group_key_id: None,
            device_keys: vec![],
        }
    }

    fn backup_row(id: &str) -> BackupRow {
        BackupRow {
            backup_id: id.into(),
            group_id: "dev".into(),
            recipient: [9; 32],
            created: 1,
            enabled: true,
        }
    }

    async fn with_backup() -> Store {
        let store = Store::open_in_memory(1).await.unwrap();
        assert_eq!(
            store
                .insert_backup(backup_row(&"ab".repeat(16)), 4)
                .await
                .unwrap(),
            NewBackup::Inserted
        );
        store
    }

    #[tokio::test]
    async fn a_device_holds_at_most_its_quota_of_backups() {
        let store = with_backup().await;
        let (a, b, c) = ("ab".repeat(16), "cd".repeat(16), "ef".repeat(16));
        assert_eq!(
            store.insert_backup(backup_row(&a), 2).await.unwrap(),
            NewBackup::Exists
        );
        assert_eq!(
            store.insert_backup(backup_row(&b), 2).await.unwrap(),
            NewBackup::Inserted
        );
        assert_eq!(
            store.insert_backup(backup_row(&c), 2).await.unwrap(),
            NewBackup::Quota
        );
        assert!(store.backup(&c).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn versions_number_up_and_retention_keeps_the_newest() {
        let store = with_backup().await;
        let id = "ab".repeat(16);
        assert_eq!(store.last_backup_at().await.unwrap(), None);
        for i in 1..=5u8 {
            let n = store
                .add_backup_version(&id, version(Some(&[i; 3]), i64::from(i)), 3)
                .await
                .unwrap();
            assert_eq!(n, Some(u64::from(i)));
        }
        let status = store.backups_of("dev").await.unwrap();
        assert_eq!(status[0].versions, 3);
        assert_eq!(status[0].latest_version, Some(5));
        assert_eq!(store.last_backup_at().await.unwrap(), Some(5));
        assert!(store.backup_version(&id, Some(2)).await.unwrap().is_none());
        // A version the box makes itself copies the newest bundle.
        let n = store
            .add_backup_version(&id, version(None, 6), 3)
            .await
            .unwrap();
        assert_eq!(n, Some(6));
        let newest = store.backup_version(&id, None).await.unwrap().unwrap();
        assert_eq!((newest.version, newest.bundle), (6, vec![5; 3]));
        assert_eq!(newest.bundle_sha256, sha256(&[5; 3]));
        assert_eq!(store.last_backup_at().await.unwrap(), Some(6));
    }

    #[tokio::test]
    async fn the_newest_complete_version_is_never_deleted() {
        let store = with_backup().await;
        let id = "ab".repeat(16);
        store
            .add_backup_version(&id, version(Some(b"a"), 1), 10)
            .await
            .unwrap();
        let left = store
            .call(move |conn| {
                for n in [2, 3] {
                    conn.execute(
                        "INSERT INTO backup_versions SELECT backup_id, ?1, created, bundle, \
                         bundle_sha256, sealed_keys, sealed_sha256, identities, 0, NULL \
                         FROM backup_versions WHERE version = 1",
                        params![n],
                    )?;
                }
                apply_retention(conn, &id, 1)?;
                let mut stmt = conn.prepare("SELECT version FROM backup_versions ORDER BY 1")?;
                let rows = stmt.query_map([], |row| row.get::<_, i64>(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await
            .unwrap();
        // Keep 1: the newest (3, incomplete) and the newest complete (1) stay.
        assert_eq!(left, vec![1, 3]);
    }

    /// "The newest complete version" (retention and box-made versions ask it on every put)
    /// must come from the index: `complete` is stored after the bundle, so reading it from the
    /// table walks each bundle's overflow pages.
    #[tokio::test]
    async fn the_newest_complete_version_is_found_without_reading_bundles() {
        let store = with_backup().await;
        let plan = store
            .call(|conn| {
                let mut stmt = conn.prepare(
                    "EXPLAIN QUERY PLAN SELECT max(version) FROM backup_versions \
                     WHERE backup_id = 'x' AND complete = 1",
                )?;
                let rows = stmt.query_map([], |row| row.get::<_, String>(3))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?.join("; "))
            })
            .await
            .unwrap();
        assert!(
            plan.contains("COVERING INDEX backup_versions_complete"),
            "{plan}"
        );
    }

    #[tokio::test]
    async fn a_bundle_is_read_in_pieces_and_its_meta_without_it() {
        let store = with_backup().await;
        let id = "ab".repeat(16);
        let bundle: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        store
            .add_backup_version(&id, version(Some(&bundle), 5), 10)
            .await
            .unwrap();
        let meta = store.backup_version_meta(&id, None).await.unwrap().unwrap();
        assert_eq!(
            (meta.version, meta.created, meta.bundle_len),
            (1, 5, 10_000)
        );
        assert_eq!(meta.bundle_sha256, sha256(&bundle));
        let mut read = Vec::new();
        let mut at = 0;
        while let Some(piece) = store.read_bundle(&id, 1, at, 3000).await.unwrap() {
            if piece.is_empty() {
                break;
            }
            at += piece.len() as u64;
            read.extend(piece);
        }
        assert_eq!(read, bundle);
        assert_eq!(store.read_bundle(&id, 2, 0, 10).await.unwrap(), None);
        assert!(
            store
                .backup_version_meta(&id, Some(2))
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn unknown_backups_and_deletion() {
        let store = with_backup().await;
        assert_eq!(
            store
                .add_backup_version("cd", version(Some(b"x"), 1), 10)
                .await
                .unwrap(),
            None
        );
        assert_eq!(store.backup_count().await.unwrap(), 1);
        assert!(store.delete_backup(&"ab".repeat(16)).await.unwrap());
        assert_eq!(store.backup_count().await.unwrap(), 0);
        assert!(!store.delete_backup(&"ab".repeat(16)).await.unwrap());
    }
}
