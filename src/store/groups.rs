//! Groups (protocol §2, "Groups"): the devices of one person, the id of their group key, and
//! what a device sealed for a device it linked.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::devices::{Device, device_in, insert_event};
use super::{Store, StoreError};
use crate::protocol::Role;

/// How long the box keeps what a device sealed for a device it linked.
pub const DELIVERY_SECS: i64 = 24 * 3600;

/// What the box knows of a group's key: only ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupKey {
    /// The id of the key the group's versions are under; `None` before the first v2 bundle,
    /// and after a device left (then `retired` is not empty and the next version must be
    /// under a new key).
    pub current: Option<String>,
    pub retired: Vec<String>,
}

impl GroupKey {
    /// A device left the group since its key was last replaced.
    pub fn rotation_due(&self) -> bool {
        self.current.is_none() && !self.retired.is_empty()
    }
}

/// What [`Store::accept_group_key`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The group's current key.
    Current,
    /// A new key: it is the group's from now on, and the one before is retired.
    New,
    /// A key the group used before: refused.
    Retired,
}

/// What a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linked {
    /// The device is in the linking device's group now (its role is the second field).
    Done(Role),
    /// No paired device has this id.
    NotPaired,
    /// The group has as many devices as it may.
    GroupFull,
    /// The device is pending and the linking device is not an owner.
    NeedsOwner,
}

/// What a device sealed for a device it linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub group_id: String,
    pub by_device: String,
    pub by_key: [u8; 32],
    pub sealed: Vec<u8>,
    pub at: i64,
}

/// Retires a group's current key (a device left the group, knowing it).
pub(super) fn retire_key_in(conn: &Connection, group_id: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO retired_group_keys (group_id, key_id, at)
         SELECT group_id, key_id, ?2 FROM groups WHERE group_id = ?1 AND key_id IS NOT NULL",
        params![group_id, now],
    )?;
    conn.execute(
        "UPDATE groups SET key_id = NULL WHERE group_id = ?1",
        [group_id],
    )?;
    Ok(())
}

/// [`Store::accept_group_key`] inside a transaction of the caller's (the version's own, so
/// that a version that fails changes no key).
pub(super) fn accept_key_in(
    conn: &Connection,
    group_id: &str,
    key_id: &str,
    now: i64,
) -> rusqlite::Result<KeyCheck> {
    let key = group_key_in(conn, group_id)?;
    if key.retired.iter().any(|k| k == key_id) {
        return Ok(KeyCheck::Retired);
    }
    if key.current.as_deref() == Some(key_id) {
        return Ok(KeyCheck::Current);
    }
    retire_key_in(conn, group_id, now)?;
    conn.execute(
        "INSERT INTO groups (group_id, key_id) VALUES (?1, ?2)
         ON CONFLICT (group_id) DO UPDATE SET key_id = excluded.key_id",
        params![group_id, key_id],
    )?;
    insert_event(
        conn,
        now,
        "group_key",
        None,
        &format!("group {group_id} is under key {key_id} now"),
    )?;
    Ok(KeyCheck::New)
}

fn group_key_in(conn: &Connection, group_id: &str) -> rusqlite::Result<GroupKey> {
    let current: Option<String> = conn
        .query_row(
            "SELECT key_id FROM groups WHERE group_id = ?1",
            [group_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let mut stmt = conn.prepare_cached(
        "SELECT key_id FROM retired_group_keys WHERE group_id = ?1 ORDER BY at, key_id",
    )?;
    let retired = stmt
        .query_map([group_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(GroupKey { current, retired })
}

pub(super) fn group_size_in(conn: &Connection, group_id: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT count(*) FROM devices WHERE group_id = ?1",
        [group_id],
        |r| r.get(0),
    )
}

/// Moves `device` into `group_id`. When it was the only device of its group, what that group
/// owned (identities, backups) moves with it; when others stay behind, their key is retired
/// (the device knew it).
pub(super) fn join_group_in(
    tx: &Transaction<'_>,
    device: &Device,
    group_id: &str,
    now: i64,
) -> rusqlite::Result<()> {
    if device.group_id == group_id {
        return Ok(());
    }
    if group_size_in(tx, &device.group_id)? <= 1 {
        for table in ["identities", "backups"] {
            tx.execute(
                &format!("UPDATE {table} SET group_id = ?2 WHERE group_id = ?1"),
                params![device.group_id, group_id],
            )?;
        }
    } else {
        retire_key_in(tx, &device.group_id, now)?;
    }
    tx.execute(
        "UPDATE devices SET group_id = ?2 WHERE device_id = ?1",
        params![device.device_id, group_id],
    )?;
    Ok(())
}

impl Store {
    /// The paired devices of a group, oldest first.
    pub async fn group_devices(&self, group_id: &str) -> Result<Vec<Device>, StoreError> {
        let group_id = group_id.to_owned();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {} FROM devices WHERE group_id = ?1 ORDER BY paired_at, device_id",
                super::devices::DEVICE_COLUMNS
            ))?;
            let rows = stmt.query_map([&group_id], super::devices::device_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// What the box knows of a group's key.
    pub async fn group_key(&self, group_id: &str) -> Result<GroupKey, StoreError> {
        let group_id = group_id.to_owned();
        self.call(move |conn| Ok(group_key_in(conn, &group_id)?))
            .await
    }

    /// Judges the key id of a new v2 version of `group_id`: its current key passes; a new
    /// one becomes current (the one before is retired); a retired one is refused.
    pub async fn accept_group_key(
        &self,
        group_id: &str,
        key_id: &str,
        now: i64,
    ) -> Result<KeyCheck, StoreError> {
        let (group_id, key_id) = (group_id.to_owned(), key_id.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let check = accept_key_in(&tx, &group_id, &key_id, now)?;
            tx.commit()?;
            Ok(check)
        })
        .await
    }

    /// Links the paired device `device_id` into `by`'s group (protocol §2, "Linking"), at most
    /// `max` devices in a group, and keeps `sealed` for it. The linked device takes `by`'s
    /// role if it is higher; a pending device is linked only by an owner. One transaction.
    pub async fn link_device(
        &self,
        device_id: &str,
        by: &Device,
        sealed: Vec<u8>,
        max: u64,
        now: i64,
    ) -> Result<Linked, StoreError> {
        let (device_id, by) = (device_id.to_owned(), by.clone());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let Some(device) = device_in(&tx, &device_id)? else {
                return Ok(Linked::NotPaired);
            };
            if device.group_id != by.group_id && group_size_in(&tx, &by.group_id)? >= max {
                return Ok(Linked::GroupFull);
            }
            if device.role == Role::Pending && by.role != Role::Owner {
                return Ok(Linked::NeedsOwner);
            }
            join_group_in(&tx, &device, &by.group_id, now)?;
            let role = device.role.max(by.role);
            if role != device.role {
                tx.execute(
                    "UPDATE devices SET role = ?2, pending_until = NULL WHERE device_id = ?1",
                    params![device_id, role.as_str()],
                )?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO link_deliveries (device_id, group_id, by_device, by_key, sealed, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![device_id, by.group_id, by.device_id, &by.device_key[..], sealed, now],
            )?;
            insert_event(
                &tx,
                now,
                "linked",
                Some(&device_id),
                &format!("{} ({role}) linked by {} ({})", device.name, by.name, by.device_id),
            )?;
            tx.commit()?;
            Ok(Linked::Done(role))
        })
        .await
    }

    /// What was sealed for `device_id` when it was linked, unless a day has passed.
    pub async fn link_delivery(
        &self,
        device_id: &str,
        now: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        let device_id = device_id.to_owned();
        self.call(move |conn| {
            conn.execute(
                "DELETE FROM link_deliveries WHERE at <= ?1",
                [now - DELIVERY_SECS],
            )?;
            Ok(conn
                .query_row(
                    "SELECT group_id, by_device, by_key, sealed, at FROM link_deliveries
                     WHERE device_id = ?1",
                    [&device_id],
                    |r| {
                        let key: Vec<u8> = r.get(2)?;
                        Ok(Delivery {
                            group_id: r.get(0)?,
                            by_device: r.get(1)?,
                            by_key: key.try_into().map_err(|_| {
                                rusqlite::Error::FromSqlConversionFailure(
                                    2,
                                    rusqlite::types::Type::Blob,
                                    "key length".into(),
                                )
                            })?,
                            sealed: r.get(3)?,
                            at: r.get(4)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::{DeviceLimits, NewRole, Paired};

    async fn pair(store: &Store, id: &str, key: u8, role: NewRole) -> Device {
        match store
            .pair_device(
                id.into(),
                [key; 32],
                id.into(),
                role,
                DeviceLimits::default(),
                10,
            )
            .await
            .unwrap()
        {
            Paired::Device(d) => d,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_linked_device_joins_the_group_with_what_it_owned() {
        let store = Store::open_in_memory(1).await.unwrap();
        let a = pair(&store, "aa", 1, NewRole::Owner).await;
        let b = pair(&store, "bb", 2, NewRole::Member).await;
        assert_ne!(a.group_id, b.group_id);
        let b_group = b.group_id.clone();
        store
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO backups (backup_id, group_id, recipient, created)
                     VALUES ('00000000000000000000000000000000', ?1, zeroblob(32), 1)",
                    [b_group],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            store
                .link_device("bb", &a, vec![1, 2], 10, 20)
                .await
                .unwrap(),
            Linked::Done(Role::Owner)
        );
        let b = store.device("bb").await.unwrap().unwrap();
        assert_eq!(
            (b.group_id.as_str(), b.role),
            (a.group_id.as_str(), Role::Owner)
        );
        let backup = store
            .backup("00000000000000000000000000000000")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(backup.group_id, a.group_id);
        let d = store.link_delivery("bb", 30).await.unwrap().unwrap();
        assert_eq!((d.by_device.as_str(), d.sealed), ("aa", vec![1, 2]));
        // A day later it is gone.
        assert_eq!(
            store.link_delivery("bb", 20 + DELIVERY_SECS).await.unwrap(),
            None
        );
        assert_eq!(store.group_devices(&a.group_id).await.unwrap().len(), 2);
        // A full group links nobody new; a device already in it may be linked again.
        let c = pair(&store, "cc", 3, NewRole::Member).await;
        assert_eq!(
            store.link_device("cc", &a, vec![], 2, 40).await.unwrap(),
            Linked::GroupFull
        );
        assert_eq!(
            store.link_device("bb", &a, vec![], 2, 40).await.unwrap(),
            Linked::Done(Role::Owner)
        );
        // A member cannot link a pending device in.
        let p = pair(&store, "pp", 4, NewRole::Pending { until: 99 }).await;
        assert_eq!(
            store.link_device("pp", &c, vec![], 10, 41).await.unwrap(),
            Linked::NeedsOwner
        );
        assert_eq!(
            store.link_device("zz", &a, vec![], 10, 41).await.unwrap(),
            Linked::NotPaired
        );
        assert_eq!(p.role, Role::Pending);
    }

    #[tokio::test]
    async fn a_key_is_retired_when_a_device_leaves_and_never_accepted_again() {
        let store = Store::open_in_memory(1).await.unwrap();
        let a = pair(&store, "aa", 1, NewRole::Owner).await;
        pair(&store, "bb", 2, NewRole::Owner).await;
        store.link_device("bb", &a, vec![], 10, 20).await.unwrap();
        let (k1, k2) = ("11".repeat(16), "22".repeat(16));
        let g = a.group_id.as_str();
        assert_eq!(
            store.accept_group_key(g, &k1, 21).await.unwrap(),
            KeyCheck::New
        );
        assert_eq!(
            store.accept_group_key(g, &k1, 22).await.unwrap(),
            KeyCheck::Current
        );
        assert!(!store.group_key(g).await.unwrap().rotation_due());
        store.revoke_device("bb", "aa", 23).await.unwrap();
        let key = store.group_key(g).await.unwrap();
        assert!(key.rotation_due());
        assert_eq!(key.retired, std::slice::from_ref(&k1));
        assert_eq!(
            store.accept_group_key(g, &k1, 24).await.unwrap(),
            KeyCheck::Retired
        );
        assert_eq!(
            store.accept_group_key(g, &k2, 25).await.unwrap(),
            KeyCheck::New
        );
        let key = store.group_key(g).await.unwrap();
        assert_eq!(
            (key.current.as_deref(), key.rotation_due()),
            (Some(k2.as_str()), false)
        );
    }
}
