//! The household's identities (protocol §4): keys, current documents and IPNS records.

use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use super::{Store, StoreError};
use crate::crypto::KeyVault;

/// One identity as stored. The secret key is the 32-byte ed25519 seed that signs the DID's
/// IPNS records; it zeroizes when the row is dropped and never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityRow {
    pub did: String,
    pub ipns_name: String,
    pub name: String,
    pub group_id: String,
    /// `None` once the identity is deleted.
    pub secret_key: Option<Zeroizing<[u8; 32]>>,
    pub signing_key: [u8; 32],
    pub agreement_key: [u8; 32],
    /// JSON array of the document's services.
    pub services: String,
    /// JSON of the published document.
    pub document: String,
    pub cid: String,
    pub seq: u64,
    pub record: Vec<u8>,
    pub created: i64,
    pub updated: i64,
    pub deactivated: bool,
}

impl std::fmt::Debug for IdentityRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRow")
            .field("did", &self.did)
            .field("name", &self.name)
            .field("group_id", &self.group_id)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("cid", &self.cid)
            .field("seq", &self.seq)
            .field("deactivated", &self.deactivated)
            .finish_non_exhaustive()
    }
}

/// A new value of an identity: what `publish_identity` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    pub signing_key: [u8; 32],
    pub agreement_key: [u8; 32],
    pub services: String,
    pub document: String,
    pub cid: String,
    pub seq: u64,
    pub record: Vec<u8>,
    pub updated: i64,
    /// A deactivation also erases the secret key.
    pub deactivated: bool,
}

const COLUMNS: &str = "did, ipns_name, name, group_id, secret_key, signing_key, agreement_key, \
                       services, document, cid, seq, record, created, updated, deactivated";

fn key32(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<[u8; 32]> {
    let bytes: Vec<u8> = row.get(i)?;
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Blob, "length".into())
    })
}

/// A row as read: the identity with its key still sealed.
type Sealed = (IdentityRow, Option<Vec<u8>>);

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Sealed> {
    let seq: i64 = row.get(10)?;
    let identity = IdentityRow {
        did: row.get(0)?,
        ipns_name: row.get(1)?,
        name: row.get(2)?,
        group_id: row.get(3)?,
        secret_key: None,
        signing_key: key32(row, 5)?,
        agreement_key: key32(row, 6)?,
        services: row.get(7)?,
        document: row.get(8)?,
        cid: row.get(9)?,
        seq: u64::try_from(seq).unwrap_or(0),
        record: row.get(11)?,
        created: row.get(12)?,
        updated: row.get(13)?,
        deactivated: row.get(14)?,
    };
    Ok((identity, row.get(4)?))
}

/// Opens the row's key with the box's vault.
fn open_key(vault: &KeyVault, (mut identity, sealed): Sealed) -> Result<IdentityRow, StoreError> {
    if let Some(sealed) = sealed {
        let key = vault
            .open(&identity.did, &sealed)
            .ok_or_else(|| StoreError::KeyDoesNotOpen {
                did: identity.did.clone(),
            })?;
        identity.secret_key = Some(key);
    }
    Ok(identity)
}

/// The Rust half of migration 0008: copies every identity into the new table, sealing the
/// keys an older version stored in the clear, then puts the new table in the old one's place.
/// (`secure_delete` zeroes the old table's pages; the store checkpoints after an upgrade.)
pub(super) fn seal_keys_hook(
    vault: KeyVault,
) -> impl Fn(&rusqlite::Transaction<'_>) -> rusqlite_migration::HookResult + Clone + Send + Sync {
    move |tx| {
        let plain: Vec<(String, Option<Zeroizing<Vec<u8>>>)> = {
            let mut stmt = tx.prepare("SELECT did, secret_key FROM identities")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<Vec<u8>>>(1)?.map(Zeroizing::new),
                ))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute_batch(
            "INSERT INTO identities_sealed SELECT did, ipns_name, name, device_id, NULL, \
             signing_key, agreement_key, services, document, cid, seq, record, created, updated, \
             deactivated FROM identities",
        )?;
        for (did, key) in plain {
            let Some(key) = key else { continue };
            let key: &[u8; 32] = key.as_slice().try_into().map_err(|_| {
                rusqlite_migration::HookError::Hook(format!("the key of {did} is not 32 bytes"))
            })?;
            tx.execute(
                "UPDATE identities_sealed SET secret_key = ?2 WHERE did = ?1",
                params![did, vault.seal(&did, key)],
            )?;
        }
        tx.execute_batch(
            "DROP TABLE identities;
             ALTER TABLE identities_sealed RENAME TO identities;
             CREATE INDEX identities_device ON identities (device_id);",
        )?;
        Ok(())
    }
}

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn select(
    conn: &Connection,
    vault: &KeyVault,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<IdentityRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM identities {filter}"))?;
    let rows = stmt.query_map(args, from_row)?;
    rows.map(|row| open_key(vault, row?)).collect()
}

impl Store {
    /// Stores a new identity (durable when this returns), unless its device holds `max` live
    /// identities already (`false`; checked in the same transaction).
    pub async fn insert_identity(&self, row: IdentityRow, max: u64) -> Result<bool, StoreError> {
        let sealed = row
            .secret_key
            .as_ref()
            .map(|k| self.vault().seal(&row.did, k));
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let held: u64 = tx.query_row(
                "SELECT count(*) FROM identities WHERE group_id = ?1 AND deactivated = 0",
                [&row.group_id],
                |r| r.get(0),
            )?;
            if held >= max {
                return Ok(false);
            }
            tx.execute(
                &format!(
                    "INSERT INTO identities ({COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    row.did,
                    row.ipns_name,
                    row.name,
                    row.group_id,
                    sealed,
                    row.signing_key.as_slice(),
                    row.agreement_key.as_slice(),
                    row.services,
                    row.document,
                    row.cid,
                    seq_param(row.seq),
                    row.record,
                    row.created,
                    row.updated,
                    row.deactivated,
                ],
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// One identity, deleted ones included.
    pub async fn identity(&self, did: &str) -> Result<Option<IdentityRow>, StoreError> {
        let did = did.to_owned();
        let vault = self.vault();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM identities WHERE did = ?1"),
                params![did],
                from_row,
            )
            .optional()?
            .map(|row| open_key(&vault, row))
            .transpose()
        })
        .await
    }

    /// The live identities a device owns, oldest first.
    pub async fn identities_of(&self, group_id: &str) -> Result<Vec<IdentityRow>, StoreError> {
        let group_id = group_id.to_owned();
        let vault = self.vault();
        self.call(move |conn| {
            select(
                conn,
                &vault,
                "WHERE group_id = ?1 AND deactivated = 0 ORDER BY created, did",
                params![group_id],
            )
        })
        .await
    }

    /// Every live identity (they are the ones to republish).
    pub async fn live_identities(&self) -> Result<Vec<IdentityRow>, StoreError> {
        let vault = self.vault();
        self.call(move |conn| select(conn, &vault, "WHERE deactivated = 0 ORDER BY did", []))
            .await
    }

    /// Every deleted identity (a tombstone: its last record points at its deactivated document).
    pub async fn deleted_identities(&self) -> Result<Vec<IdentityRow>, StoreError> {
        let vault = self.vault();
        self.call(move |conn| select(conn, &vault, "WHERE deactivated = 1 ORDER BY did", []))
            .await
    }

    /// How many live identities the box holds.
    /// Whether `cid` is the current document of one of the box's identities (deleted ones
    /// included: their deactivated document): what the gateway serves (protocol §7).
    pub async fn is_identity_document(&self, cid: &str) -> Result<bool, StoreError> {
        let cid = cid.to_owned();
        self.call(move |conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM identities WHERE cid = ?1",
                params![cid],
                |row| row.get(0),
            )?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn identity_count(&self) -> Result<u64, StoreError> {
        self.call(|conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM identities WHERE deactivated = 0",
                [],
                |row| row.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    /// Writes a new value of `did` if its sequence is still `expected_seq` (so two concurrent
    /// updates cannot both win). Returns false when someone else changed it first.
    pub async fn publish_identity(
        &self,
        did: &str,
        expected_seq: u64,
        p: Publication,
    ) -> Result<bool, StoreError> {
        let did = did.to_owned();
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE identities SET signing_key = ?3, agreement_key = ?4, services = ?5, \
                 document = ?6, cid = ?7, seq = ?8, record = ?9, updated = ?10, \
                 deactivated = ?11, \
                 secret_key = CASE WHEN ?11 THEN NULL ELSE secret_key END \
                 WHERE did = ?1 AND seq = ?2 AND deactivated = 0",
                params![
                    did,
                    seq_param(expected_seq),
                    p.signing_key.as_slice(),
                    p.agreement_key.as_slice(),
                    p.services,
                    p.document,
                    p.cid,
                    seq_param(p.seq),
                    p.record,
                    p.updated,
                    p.deactivated,
                ],
            )?;
            if n == 1 && p.deactivated {
                // The key is gone from the table (secure_delete zeroes its page); its old page
                // must leave the WAL too, where it would stay until the next checkpoint.
                super::backups::checkpoint(conn)?;
            }
            Ok(n == 1)
        })
        .await
    }

    /// Gives a live identity to `group_id` with its key and a new signed value (a restore).
    /// `false` when another request changed it first or it has been deleted.
    pub async fn adopt_identity(
        &self,
        did: &str,
        expected_seq: u64,
        group_id: &str,
        secret_key: Zeroizing<[u8; 32]>,
        p: Publication,
    ) -> Result<bool, StoreError> {
        let (did, group_id) = (did.to_owned(), group_id.to_owned());
        let sealed = self.vault().seal(&did, &secret_key);
        drop(secret_key);
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE identities SET group_id = ?3, secret_key = ?4, document = ?5, cid = ?6, \
                 seq = ?7, record = ?8, updated = ?9 \
                 WHERE did = ?1 AND seq = ?2 AND deactivated = 0",
                params![
                    did,
                    seq_param(expected_seq),
                    group_id,
                    sealed,
                    p.document,
                    p.cid,
                    seq_param(p.seq),
                    p.record,
                    p.updated,
                ],
            )?;
            Ok(n == 1)
        })
        .await
    }

    /// Replaces the signed record of an unchanged value (a republish with a later end of life).
    pub async fn refresh_identity_record(
        &self,
        did: &str,
        seq: u64,
        record: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let did = did.to_owned();
        self.call(move |conn| {
            let n = conn.execute(
                "UPDATE identities SET record = ?3 WHERE did = ?1 AND seq = ?2 AND deactivated = 0",
                params![did, seq_param(seq), record],
            )?;
            Ok(n == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn row(did: &str, device: &str) -> IdentityRow {
        IdentityRow {
            did: did.into(),
            ipns_name: did.trim_start_matches("did:ipid:").into(),
            name: "Alice".into(),
            group_id: device.into(),
            secret_key: Some(Zeroizing::new([9; 32])),
            signing_key: [1; 32],
            agreement_key: [2; 32],
            services: "[]".into(),
            document: "{}".into(),
            cid: "bafy1".into(),
            seq: 0,
            record: vec![1, 2, 3],
            created: 10,
            updated: 10,
            deactivated: false,
        }
    }

    fn publication(seq: u64, deactivated: bool) -> Publication {
        Publication {
            signing_key: [3; 32],
            agreement_key: [4; 32],
            services: "[]".into(),
            document: format!("{{\"v\":{seq}}}"),
            cid: format!("bafy{seq}"),
            seq,
            record: vec![seq as u8],
            updated: 20,
            deactivated,
        }
    }

    #[tokio::test]
    async fn identities_round_trip_and_belong_to_their_device() {
        let store = Store::open_in_memory(1).await.unwrap();
        assert!(
            store
                .insert_identity(row("did:ipid:k1", "dev-a"), 1)
                .await
                .unwrap()
        );
        assert!(
            store
                .insert_identity(row("did:ipid:k2", "dev-b"), 1)
                .await
                .unwrap()
        );
        // One identity per device: dev-a is full.
        assert!(
            !store
                .insert_identity(row("did:ipid:k3", "dev-a"), 1)
                .await
                .unwrap()
        );
        assert_eq!(store.identity("did:ipid:k3").await.unwrap(), None);
        assert_eq!(
            store.identity("did:ipid:k1").await.unwrap(),
            Some(row("did:ipid:k1", "dev-a"))
        );
        assert_eq!(store.identity("did:ipid:nope").await.unwrap(), None);
        let mine = store.identities_of("dev-a").await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].did, "did:ipid:k1");
        assert_eq!(store.identity_count().await.unwrap(), 2);
        assert!(!format!("{:?}", mine[0]).contains("9, 9"));
    }

    #[tokio::test]
    async fn a_stale_sequence_does_not_overwrite_and_deletion_erases_the_key() {
        let store = Store::open_in_memory(1).await.unwrap();
        assert!(
            store
                .insert_identity(row("did:ipid:k1", "dev-a"), 9)
                .await
                .unwrap()
        );
        assert!(
            store
                .publish_identity("did:ipid:k1", 0, publication(1, false))
                .await
                .unwrap()
        );
        // A second writer that read seq 0 loses.
        assert!(
            !store
                .publish_identity("did:ipid:k1", 0, publication(1, false))
                .await
                .unwrap()
        );
        let got = store.identity("did:ipid:k1").await.unwrap().unwrap();
        assert_eq!((got.seq, got.cid.as_str()), (1, "bafy1"));
        assert!(got.secret_key.is_some());

        assert!(
            store
                .refresh_identity_record("did:ipid:k1", 1, vec![7])
                .await
                .unwrap()
        );
        assert!(
            !store
                .refresh_identity_record("did:ipid:k1", 0, vec![8])
                .await
                .unwrap()
        );

        assert!(
            store
                .publish_identity("did:ipid:k1", 1, publication(2, true))
                .await
                .unwrap()
        );
        let gone = store.identity("did:ipid:k1").await.unwrap().unwrap();
        assert!(gone.deactivated && gone.secret_key.is_none());
        assert_eq!(gone.seq, 2);
        assert_eq!(store.identity_count().await.unwrap(), 0);
        assert!(store.live_identities().await.unwrap().is_empty());
        // A deleted identity takes no new value.
        assert!(
            !store
                .publish_identity("did:ipid:k1", 2, publication(3, false))
                .await
                .unwrap()
        );
    }

    fn file_contains(path: &std::path::Path, needle: &[u8]) -> bool {
        std::fs::read(path)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    }

    fn files_contain(dir: &std::path::Path, needle: &[u8]) -> bool {
        std::fs::read_dir(dir)
            .unwrap()
            .any(|e| file_contains(&e.unwrap().path(), needle))
    }

    #[tokio::test]
    async fn keys_are_sealed_on_disk_and_open_only_with_their_vault() {
        let dir = tempfile::tempdir().unwrap();
        let path = super::super::database_path(dir.path());
        let vault = super::super::tests::test_vault();
        let store = Store::open(&path, 1, vault.clone()).await.unwrap();
        let mut alice = row("did:ipid:k1", "dev-a");
        let key = [0xA7u8; 32];
        alice.secret_key = Some(Zeroizing::new(key));
        assert!(store.insert_identity(alice.clone(), 9).await.unwrap());
        assert_eq!(store.identity("did:ipid:k1").await.unwrap(), Some(alice));
        // A restore re-seals the key it adopts.
        let restored = [0xB8u8; 32];
        assert!(
            store
                .adopt_identity(
                    "did:ipid:k1",
                    0,
                    "dev-b",
                    Zeroizing::new(restored),
                    publication(1, false)
                )
                .await
                .unwrap()
        );
        let got = store.identity("did:ipid:k1").await.unwrap().unwrap();
        assert_eq!(got.secret_key.as_deref(), Some(&restored));
        // The test can fail: the sealed value is in the files.
        let sealed: Vec<u8> = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT secret_key FROM identities", [], |r| r.get(0))
            .unwrap();
        assert!(files_contain(dir.path(), &sealed));
        assert!(!files_contain(dir.path(), &key));
        assert!(!files_contain(dir.path(), &restored));
        store.close().await;

        // Another seed's vault reads the rows but cannot open the key, and says so.
        let other = KeyVault::new(crate::crypto::Secret32::new([1; 32]));
        let store = Store::open(&path, 1, other).await.unwrap();
        let err = store.identity("did:ipid:k1").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::KeyDoesNotOpen { did } if did == "did:ipid:k1"),
            "{err}"
        );
        assert!(store.live_identities().await.is_err());
        store.close().await;
    }

    #[tokio::test]
    async fn a_key_an_older_version_stored_in_the_clear_is_sealed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = super::super::database_path(dir.path());
        let vault = super::super::tests::test_vault();
        // A database as version 7 of the schema left it, with a key in the clear.
        let clear = [0xC3u8; 32];
        {
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                .unwrap();
            let old: Vec<_> = super::super::migrations(&vault)
                .into_iter()
                .take(7)
                .collect();
            rusqlite_migration::Migrations::new(old)
                .to_latest(&mut conn)
                .unwrap();
            let alice = row("did:ipid:k1", "dev-a");
            conn.execute(
                &format!(
                    "INSERT INTO identities ({}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, 10, 10, 0)",
                    // The owner's column before migration 0009.
                    COLUMNS.replace("group_id", "device_id")
                ),
                params![
                    alice.did,
                    alice.ipns_name,
                    alice.name,
                    alice.group_id,
                    clear.as_slice(),
                    alice.signing_key.as_slice(),
                    alice.agreement_key.as_slice(),
                    alice.services,
                    alice.document,
                    alice.cid,
                    alice.record,
                ],
            )
            .unwrap();
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
        }
        // The test can fail: the key is in the file.
        assert!(files_contain(dir.path(), &clear));
        let store = Store::open(&path, 2, vault).await.unwrap();
        assert_eq!(store.schema_version().await.unwrap(), 9);
        let got = store.identity("did:ipid:k1").await.unwrap().unwrap();
        assert_eq!(got.secret_key.as_deref(), Some(&clear));
        // Migration 0009: the device's identities are its group of one's.
        assert_eq!(store.identities_of("dev-a").await.unwrap().len(), 1);
        assert!(!files_contain(dir.path(), &clear));
        store.close().await;
        assert!(!files_contain(dir.path(), &clear));
    }
}
