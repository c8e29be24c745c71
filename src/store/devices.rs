//! Paired devices and security events (protocol §2): their rows and statements.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError};
use crate::protocol::Role;

/// A paired device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub device_id: String,
    pub device_key: [u8; 32],
    pub name: String,
    pub role: Role,
    pub paired_at: i64,
    pub last_seen: Option<i64>,
}

/// A security event (pairing, revocation, lockout…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub kind: String,
    pub device_id: Option<String>,
    pub detail: String,
}

const DEVICE_COLUMNS: &str = "device_id, device_key, name, role, paired_at, last_seen";

fn device_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    let key: Vec<u8> = row.get(1)?;
    let role: String = row.get(3)?;
    Ok(Device {
        device_id: row.get(0)?,
        device_key: key.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Blob,
                "key length".into(),
            )
        })?,
        name: row.get(2)?,
        role: if role == "owner" {
            Role::Owner
        } else {
            Role::Member
        },
        paired_at: row.get(4)?,
        last_seen: row.get(5)?,
    })
}

fn insert_event(
    conn: &Connection,
    at: i64,
    kind: &str,
    device_id: Option<&str>,
    detail: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO events (at, kind, device_id, detail) VALUES (?1, ?2, ?3, ?4)",
        params![at, kind, device_id, detail],
    )?;
    Ok(())
}

impl Store {
    /// Registers a paired device in one transaction: the owner if no owner is paired, else a
    /// member. A device that pairs again keeps its role and takes the new name.
    pub async fn pair_device(
        &self,
        device_id: String,
        device_key: [u8; 32],
        name: String,
        now: i64,
    ) -> Result<Device, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let existing = tx
                .query_row(
                    &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?1"),
                    [&device_id],
                    device_from_row,
                )
                .optional()?;
            let device = match existing {
                Some(mut d) => {
                    tx.execute(
                        "UPDATE devices SET name = ?2, last_seen = ?3 WHERE device_id = ?1",
                        params![device_id, name, now],
                    )?;
                    d.name = name;
                    d.last_seen = Some(now);
                    d
                }
                None => {
                    let has_owner: bool = tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM devices WHERE role = 'owner')",
                        [],
                        |r| r.get(0),
                    )?;
                    let role = if has_owner { Role::Member } else { Role::Owner };
                    tx.execute(
                        "INSERT INTO devices (device_id, device_key, name, role, paired_at, last_seen)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                        params![device_id, &device_key[..], name, role.as_str(), now],
                    )?;
                    Device {
                        device_id,
                        device_key,
                        name,
                        role,
                        paired_at: now,
                        last_seen: Some(now),
                    }
                }
            };
            insert_event(
                &tx,
                now,
                "paired",
                Some(&device.device_id),
                &format!("{} ({})", device.name, device.role.as_str()),
            )?;
            tx.commit()?;
            Ok(device)
        })
        .await
    }

    /// One device by id.
    pub async fn device(&self, device_id: &str) -> Result<Option<Device>, StoreError> {
        let device_id = device_id.to_owned();
        self.call(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?1"),
                    [device_id],
                    device_from_row,
                )
                .optional()?)
        })
        .await
    }

    /// Every paired device, oldest first.
    pub async fn devices(&self) -> Result<Vec<Device>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY paired_at, device_id"
            ))?;
            let rows = stmt.query_map([], device_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// How many devices are paired.
    pub async fn device_count(&self) -> Result<u64, StoreError> {
        self.call(|conn| Ok(conn.query_row("SELECT count(*) FROM devices", [], |r| r.get(0))?))
            .await
    }

    /// Removes a device; `false` when it was not paired. `by` is recorded in the event.
    pub async fn revoke_device(
        &self,
        device_id: &str,
        by: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (device_id, by) = (device_id.to_owned(), by.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let n = tx.execute("DELETE FROM devices WHERE device_id = ?1", [&device_id])?;
            if n > 0 {
                insert_event(&tx, now, "revoked", Some(&device_id), &format!("by {by}"))?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
        .await
    }

    /// Renames a device; `false` when it is not paired.
    pub async fn rename_device(&self, device_id: &str, name: &str) -> Result<bool, StoreError> {
        let (device_id, name) = (device_id.to_owned(), name.to_owned());
        self.call(move |conn| {
            Ok(conn.execute(
                "UPDATE devices SET name = ?2 WHERE device_id = ?1",
                params![device_id, name],
            )? > 0)
        })
        .await
    }

    /// Records when devices were last seen (batched by the caller to spare the SD card).
    pub async fn touch_devices(&self, seen: Vec<(String, i64)>) -> Result<(), StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare(
                    "UPDATE devices SET last_seen = max(coalesce(last_seen, 0), ?2) WHERE device_id = ?1",
                )?;
                for (id, at) in &seen {
                    stmt.execute(params![id, at])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Keeps a security event.
    pub async fn add_event(
        &self,
        kind: &'static str,
        device_id: Option<String>,
        detail: String,
        now: i64,
    ) -> Result<(), StoreError> {
        self.call(move |conn| {
            Ok(insert_event(
                conn,
                now,
                kind,
                device_id.as_deref(),
                &detail,
            )?)
        })
        .await
    }

    /// The newest events, newest first.
    pub async fn events(&self, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT at, kind, device_id, detail FROM events ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], |r| {
                Ok(Event {
                    at: r.get(0)?,
                    kind: r.get(1)?,
                    device_id: r.get(2)?,
                    detail: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_device_is_owner_then_members() {
        let store = Store::open_in_memory(1).await.unwrap();
        let a = store
            .pair_device("aa".into(), [1; 32], "Phone A".into(), 10)
            .await
            .unwrap();
        let b = store
            .pair_device("bb".into(), [2; 32], "Phone B".into(), 11)
            .await
            .unwrap();
        assert_eq!((a.role, b.role), (Role::Owner, Role::Member));
        // Pairing again keeps the role and takes the new name.
        let a2 = store
            .pair_device("aa".into(), [1; 32], "Phone A2".into(), 12)
            .await
            .unwrap();
        assert_eq!(
            (a2.role, a2.name.as_str(), a2.paired_at),
            (Role::Owner, "Phone A2", 10)
        );
        assert_eq!(store.device_count().await.unwrap(), 2);
        assert!(store.rename_device("bb", "Tablet").await.unwrap());
        assert!(!store.rename_device("zz", "x").await.unwrap());
        store
            .touch_devices(vec![("bb".into(), 50), ("bb".into(), 40)])
            .await
            .unwrap();
        let b = store.device("bb").await.unwrap().unwrap();
        assert_eq!((b.name.as_str(), b.last_seen), ("Tablet", Some(50)));
        assert!(store.revoke_device("bb", "aa", 60).await.unwrap());
        assert!(!store.revoke_device("bb", "aa", 61).await.unwrap());
        assert!(store.device("bb").await.unwrap().is_none());
        let kinds: Vec<_> = store
            .events(10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["revoked", "paired", "paired", "paired"]);
    }
}
