//! Paired devices, removed devices and security events (protocol §2): their rows and statements.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Store, StoreError};
use crate::protocol::Role;
use crate::protocol::devices::Removal;

/// A paired device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub device_id: String,
    pub device_key: [u8; 32],
    pub name: String,
    pub role: Role,
    pub paired_at: i64,
    pub last_seen: Option<i64>,
    /// A pending device is removed after this time (box clock).
    pub pending_until: Option<i64>,
    /// The person (group of devices) it belongs to (protocol §2, "Groups").
    pub group_id: String,
}

/// A revoked or superseded device (its key never pairs again): the row is the protocol's
/// `devices.list` entry itself.
pub use crate::protocol::devices::RemovedDevice;

/// A security event (pairing, revocation, lockout…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub kind: String,
    pub device_id: Option<String>,
    pub detail: String,
}

/// The role a pairing gives a device that is new to the box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewRole {
    Owner,
    Member,
    /// Pending until an owner approves it, or until this time passes.
    Pending {
        until: i64,
    },
}

/// What a pairing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paired {
    /// The device is paired (new, or again with its role and a new name).
    Device(Device),
    /// The key was revoked or superseded: it never pairs again.
    Removed,
    /// The box has as many devices as it may (`pending`: as many pending ones).
    Full { pending: bool },
}

/// How many devices a box may have (`quota.devices`, `quota.pending_devices`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceLimits {
    pub devices: u64,
    pub pending: u64,
}

impl Default for DeviceLimits {
    /// No limit to speak of (tests of other things).
    fn default() -> Self {
        Self {
            devices: u64::MAX,
            pending: u64::MAX,
        }
    }
}

/// What a change of a device's role or presence did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Done,
    /// No paired device has this id.
    NotPaired,
    /// It would leave the box without an owner.
    LastOwner,
}

/// What a hand-over of a removed device's identities and backups did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reassign {
    Done {
        identities: u64,
        backups: u64,
    },
    /// `from` is a paired device: revoke it first.
    FromPaired,
    /// `from` was never on this box.
    FromUnknown,
    /// `to` is not a paired device, or is pending.
    ToNotMember,
    /// Other devices of `from`'s person are paired: they hold its identities and backups.
    GroupLives,
}

pub(super) const DEVICE_COLUMNS: &str =
    "device_id, device_key, name, role, paired_at, last_seen, pending_until, group_id";

fn role_from(column: usize, name: &str) -> rusqlite::Result<Role> {
    Role::from_name(name).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            format!("unknown role {name:?}").into(),
        )
    })
}

pub(super) fn device_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
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
        role: role_from(3, &role)?,
        paired_at: row.get(4)?,
        last_seen: row.get(5)?,
        pending_until: row.get(6)?,
        group_id: row.get(7)?,
    })
}

pub(super) fn insert_event(
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

pub(super) fn device_in(tx: &Connection, device_id: &str) -> rusqlite::Result<Option<Device>> {
    tx.query_row(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE device_id = ?1"),
        [device_id],
        device_from_row,
    )
    .optional()
}

fn key_removed_in(conn: &Connection, device_key: &[u8; 32]) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM removed_devices WHERE device_key = ?1)",
        [&device_key[..]],
        |r| r.get(0),
    )
}

fn owners_in(tx: &Connection) -> rusqlite::Result<u64> {
    tx.query_row(
        "SELECT count(*) FROM devices WHERE role = 'owner'",
        [],
        |r| r.get(0),
    )
}

/// `name`, or `name (2)`, `name (3)`… : the first that no other device of the box has
/// (compared without case).
fn unique_name(tx: &Connection, device_id: &str, name: &str) -> rusqlite::Result<String> {
    let taken = |candidate: &str| -> rusqlite::Result<bool> {
        tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM devices WHERE device_id != ?1 AND lower(name) = lower(?2))",
            params![device_id, candidate],
            |r| r.get(0),
        )
    };
    if !taken(name)? {
        return Ok(name.to_owned());
    }
    for n in 2u32.. {
        let suffix = format!(" ({n})");
        // Keep within the name's limit: shorten the name, not the suffix.
        let room = super::super::pairing::MAX_DEVICE_NAME.saturating_sub(suffix.len());
        let base: String = name.chars().take(room).collect();
        let candidate = format!("{}{suffix}", base.trim_end());
        if !taken(&candidate)? {
            return Ok(candidate);
        }
    }
    unreachable!("a box has fewer devices than u32 numbers")
}

/// Removes a device and remembers its key (`by`: who did it).
fn remove_in(
    tx: &Transaction<'_>,
    device: &Device,
    reason: Removal,
    by: Option<&str>,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM devices WHERE device_id = ?1",
        [&device.device_id],
    )?;
    let reason_name = match reason {
        Removal::Revoked => "revoked",
        Removal::Superseded => "superseded",
    };
    tx.execute(
        "INSERT OR REPLACE INTO removed_devices (device_key, device_id, name, role, reason, by_device, at, group_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            &device.device_key[..],
            device.device_id,
            device.name,
            device.role.as_str(),
            reason_name,
            by,
            now,
            device.group_id
        ],
    )?;
    tx.execute(
        "DELETE FROM link_deliveries WHERE device_id = ?1",
        [&device.device_id],
    )?;
    // The device knew the group's key: the next version must be under a new one.
    super::groups::retire_key_in(tx, &device.group_id, now)?;
    let detail = match by {
        Some(by) => format!("{} ({}) by {by}", device.name, device.role),
        None => format!("{} ({}) by the box", device.name, device.role),
    };
    insert_event(tx, now, reason_name, Some(&device.device_id), &detail)
}

/// Supersedes `old` (a device of the group whose backup `by` took over with the words,
/// protocol §2, §5): its role passes to `by` if it was higher, and it is removed.
pub(super) fn supersede_in(
    tx: &Transaction<'_>,
    old: &Device,
    by: &Device,
    now: i64,
) -> rusqlite::Result<()> {
    if old.role > by.role {
        tx.execute(
            "UPDATE devices SET role = ?2, pending_until = NULL WHERE device_id = ?1",
            params![by.device_id, old.role.as_str()],
        )?;
    }
    remove_in(tx, old, Removal::Superseded, Some(&by.device_id), now)
}

impl Store {
    /// Registers a paired device in one transaction. A device new to the box gets `role`,
    /// within `limits`; one that pairs again keeps its role and takes the new name; a removed
    /// key is refused. A name another device has gets a number (`Phone (2)`).
    pub async fn pair_device(
        &self,
        device_id: String,
        device_key: [u8; 32],
        name: String,
        role: NewRole,
        limits: DeviceLimits,
        now: i64,
    ) -> Result<Paired, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            if key_removed_in(&tx, &device_key)? {
                insert_event(
                    &tx,
                    now,
                    "refused",
                    Some(&device_id),
                    "a removed device tried to pair again",
                )?;
                tx.commit()?;
                return Ok(Paired::Removed);
            }
            let name = unique_name(&tx, &device_id, &name)?;
            let device = match device_in(&tx, &device_id)? {
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
                    let count = |sql: &str| -> rusqlite::Result<u64> {
                        tx.query_row(sql, [], |r| r.get(0))
                    };
                    if count("SELECT count(*) FROM devices")? >= limits.devices {
                        return Ok(Paired::Full { pending: false });
                    }
                    if matches!(role, NewRole::Pending { .. })
                        && count("SELECT count(*) FROM devices WHERE role = 'pending'")?
                            >= limits.pending
                    {
                        return Ok(Paired::Full { pending: true });
                    }
                    let (role, pending_until) = match role {
                        NewRole::Owner => (Role::Owner, None),
                        NewRole::Member => (Role::Member, None),
                        NewRole::Pending { until } => (Role::Pending, Some(until)),
                    };
                    // A device new to the box is a person of its own until a device of a
                    // group links it (protocol §2, "Groups").
                    let group_id = crate::crypto::random_id();
                    tx.execute(
                        "INSERT INTO devices (device_id, device_key, name, role, paired_at, last_seen, pending_until, group_id)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
                        params![device_id, &device_key[..], name, role.as_str(), now, pending_until, group_id],
                    )?;
                    Device {
                        group_id,
                        device_id,
                        device_key,
                        name,
                        role,
                        paired_at: now,
                        last_seen: Some(now),
                        pending_until,
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
            Ok(Paired::Device(device))
        })
        .await
    }

    /// Whether `device_key` belongs to a revoked or superseded device.
    pub async fn is_removed_key(&self, device_key: &[u8; 32]) -> Result<bool, StoreError> {
        let key = *device_key;
        self.call(move |conn| Ok(key_removed_in(conn, &key)?)).await
    }

    /// One device by id.
    pub async fn device(&self, device_id: &str) -> Result<Option<Device>, StoreError> {
        let device_id = device_id.to_owned();
        self.call(move |conn| Ok(device_in(conn, &device_id)?))
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

    /// Every revoked or superseded device, newest first.
    pub async fn removed_devices(&self) -> Result<Vec<RemovedDevice>, StoreError> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT device_id, name, role, reason, by_device, at FROM removed_devices
                 ORDER BY at DESC, device_id",
            )?;
            let rows = stmt.query_map([], |r| {
                let role: String = r.get(2)?;
                let reason: String = r.get(3)?;
                Ok(RemovedDevice {
                    device_id: r.get(0)?,
                    name: r.get(1)?,
                    role: role_from(2, &role)?,
                    reason: if reason == "superseded" {
                        Removal::Superseded
                    } else {
                        Removal::Revoked
                    },
                    by: r.get(4)?,
                    at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// How many devices are paired.
    pub async fn device_count(&self) -> Result<u64, StoreError> {
        self.call(|conn| Ok(conn.query_row("SELECT count(*) FROM devices", [], |r| r.get(0))?))
            .await
    }

    /// Revokes a device: removes it and remembers its key. `by` is recorded. The last owner is
    /// never revoked.
    pub async fn revoke_device(
        &self,
        device_id: &str,
        by: &str,
        now: i64,
    ) -> Result<Change, StoreError> {
        let (device_id, by) = (device_id.to_owned(), by.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let Some(device) = device_in(&tx, &device_id)? else {
                return Ok(Change::NotPaired);
            };
            if device.role == Role::Owner && owners_in(&tx)? <= 1 {
                return Ok(Change::LastOwner);
            }
            remove_in(&tx, &device, Removal::Revoked, Some(&by), now)?;
            tx.commit()?;
            Ok(Change::Done)
        })
        .await
    }

    /// Sets a device's role (an approval too: a pending device stops being pending). The last
    /// owner never stops being one.
    pub async fn set_device_role(
        &self,
        device_id: &str,
        role: Role,
        by: &str,
        now: i64,
    ) -> Result<Change, StoreError> {
        let (device_id, by) = (device_id.to_owned(), by.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let Some(device) = device_in(&tx, &device_id)? else {
                return Ok(Change::NotPaired);
            };
            if device.role == Role::Owner && role != Role::Owner && owners_in(&tx)? <= 1 {
                return Ok(Change::LastOwner);
            }
            if device.role != role {
                tx.execute(
                    "UPDATE devices SET role = ?2, pending_until = NULL WHERE device_id = ?1",
                    params![device_id, role.as_str()],
                )?;
                insert_event(
                    &tx,
                    now,
                    "role",
                    Some(&device_id),
                    &format!("{} → {role} by {by}", device.role),
                )?;
            }
            tx.commit()?;
            Ok(Change::Done)
        })
        .await
    }

    /// Removes the pending devices whose time ran out (without approval or a take-over);
    /// returns their ids.
    pub async fn expire_pending(&self, now: i64) -> Result<Vec<String>, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let expired: Vec<String> = {
                let mut stmt = tx.prepare(
                    "SELECT device_id FROM devices WHERE role = 'pending' AND pending_until <= ?1",
                )?;
                stmt.query_map([now], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            for id in &expired {
                tx.execute("DELETE FROM devices WHERE device_id = ?1", [id])?;
                insert_event(
                    &tx,
                    now,
                    "expired",
                    Some(id),
                    "pending device removed: not approved in time",
                )?;
            }
            tx.commit()?;
            Ok(expired)
        })
        .await
    }

    /// Hands the identities and backups of a removed device to a paired, non-pending one.
    pub async fn reassign_device_data(
        &self,
        from: &str,
        to: &str,
        by: &str,
        now: i64,
    ) -> Result<Reassign, StoreError> {
        let (from, to, by) = (from.to_owned(), to.to_owned(), by.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            if device_in(&tx, &from)?.is_some() {
                return Ok(Reassign::FromPaired);
            }
            let from_group: Option<String> = tx
                .query_row(
                    "SELECT group_id FROM removed_devices WHERE device_id = ?1
                     ORDER BY at DESC LIMIT 1",
                    [&from],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(from_group) = from_group else {
                return Ok(Reassign::FromUnknown);
            };
            let target = match device_in(&tx, &to)? {
                Some(d) if d.role != Role::Pending => d,
                _ => return Ok(Reassign::ToNotMember),
            };
            let group_lives: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE group_id = ?1)",
                [&from_group],
                |r| r.get(0),
            )?;
            if group_lives {
                return Ok(Reassign::GroupLives);
            }
            let identities = tx.execute(
                "UPDATE identities SET group_id = ?2 WHERE group_id = ?1",
                params![from_group, target.group_id],
            )? as u64;
            let backups = tx.execute(
                "UPDATE backups SET group_id = ?2 WHERE group_id = ?1",
                params![from_group, target.group_id],
            )? as u64;
            insert_event(
                &tx,
                now,
                "reassigned",
                Some(&from),
                &format!("{identities} identities and {backups} backups to {to} by {by}"),
            )?;
            tx.commit()?;
            Ok(Reassign::Done {
                identities,
                backups,
            })
        })
        .await
    }

    /// Renames a device; the name must be free (compared without case).
    pub async fn rename_device(&self, device_id: &str, name: &str) -> Result<Renamed, StoreError> {
        let (device_id, name) = (device_id.to_owned(), name.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            if device_in(&tx, &device_id)?.is_none() {
                return Ok(Renamed::NotPaired);
            }
            if unique_name(&tx, &device_id, &name)? != name {
                return Ok(Renamed::Taken);
            }
            tx.execute(
                "UPDATE devices SET name = ?2 WHERE device_id = ?1",
                params![device_id, name],
            )?;
            tx.commit()?;
            Ok(Renamed::Done)
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

/// What a rename did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renamed {
    Done,
    NotPaired,
    /// Another device of the box has this name.
    Taken,
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(store: &Store, id: &str, key: u8, name: &str, role: NewRole, now: i64) -> Device {
        match store
            .pair_device(
                id.into(),
                [key; 32],
                name.into(),
                role,
                DeviceLimits::default(),
                now,
            )
            .await
            .unwrap()
        {
            Paired::Device(d) => d,
            other => panic!("{id} was refused: {other:?}"),
        }
    }

    #[tokio::test]
    async fn devices_pair_are_renamed_revoked_and_never_come_back() {
        let store = Store::open_in_memory(1).await.unwrap();
        let a = pair(&store, "aa", 1, "Phone A", NewRole::Owner, 10).await;
        let b = pair(&store, "bb", 2, "Phone B", NewRole::Member, 11).await;
        assert_eq!((a.role, b.role), (Role::Owner, Role::Member));
        // Pairing again keeps the role and takes the new name.
        let a2 = pair(&store, "aa", 1, "Phone A2", NewRole::Member, 12).await;
        assert_eq!(
            (a2.role, a2.name.as_str(), a2.paired_at),
            (Role::Owner, "Phone A2", 10)
        );
        assert_eq!(store.device_count().await.unwrap(), 2);
        assert_eq!(
            store.rename_device("bb", "Tablet").await.unwrap(),
            Renamed::Done
        );
        assert_eq!(
            store.rename_device("zz", "x").await.unwrap(),
            Renamed::NotPaired
        );
        // Names are unique, without case.
        assert_eq!(
            store.rename_device("bb", "phone a2").await.unwrap(),
            Renamed::Taken
        );
        let c = pair(&store, "cc", 3, "TABLET", NewRole::Member, 13).await;
        assert_eq!(c.name, "TABLET (2)");
        store
            .touch_devices(vec![("bb".into(), 50), ("bb".into(), 40)])
            .await
            .unwrap();
        let b = store.device("bb").await.unwrap().unwrap();
        assert_eq!((b.name.as_str(), b.last_seen), ("Tablet", Some(50)));
        assert_eq!(
            store.revoke_device("bb", "aa", 60).await.unwrap(),
            Change::Done
        );
        assert_eq!(
            store.revoke_device("bb", "aa", 61).await.unwrap(),
            Change::NotPaired
        );
        assert!(store.device("bb").await.unwrap().is_none());
        // The revoked key never pairs again, whatever the window.
        assert_eq!(
            store
                .pair_device(
                    "bb".into(),
                    [2; 32],
                    "Phone B".into(),
                    NewRole::Owner,
                    DeviceLimits::default(),
                    62
                )
                .await
                .unwrap(),
            Paired::Removed
        );
        let removed = store.removed_devices().await.unwrap();
        assert_eq!(
            removed,
            [RemovedDevice {
                device_id: "bb".into(),
                name: "Tablet".into(),
                role: Role::Member,
                reason: Removal::Revoked,
                by: Some("aa".into()),
                at: 60,
            }]
        );
        let kinds: Vec<_> = store
            .events(10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["refused", "revoked", "paired", "paired", "paired", "paired"]
        );
    }

    #[tokio::test]
    async fn a_full_box_pairs_nobody_new_but_its_devices_again() {
        let store = Store::open_in_memory(1).await.unwrap();
        let limits = DeviceLimits {
            devices: 3,
            pending: 1,
        };
        let paired = |id: &'static str, key: u8, role: NewRole| {
            let store = store.clone();
            async move {
                store
                    .pair_device(id.into(), [key; 32], id.into(), role, limits, 10)
                    .await
                    .unwrap()
            }
        };
        assert!(matches!(
            paired("aa", 1, NewRole::Owner).await,
            Paired::Device(_)
        ));
        let pending = NewRole::Pending { until: 99 };
        assert!(matches!(paired("pp", 2, pending).await, Paired::Device(_)));
        assert_eq!(
            paired("qq", 3, pending).await,
            Paired::Full { pending: true }
        );
        assert!(matches!(
            paired("bb", 4, NewRole::Member).await,
            Paired::Device(_)
        ));
        assert_eq!(
            paired("cc", 5, NewRole::Member).await,
            Paired::Full { pending: false }
        );
        // A device of the box pairs again whatever the count.
        assert!(matches!(
            paired("bb", 4, NewRole::Member).await,
            Paired::Device(_)
        ));
    }

    #[tokio::test]
    async fn the_last_owner_stays_an_owner() {
        let store = Store::open_in_memory(1).await.unwrap();
        pair(&store, "aa", 1, "A", NewRole::Owner, 10).await;
        pair(&store, "bb", 2, "B", NewRole::Member, 11).await;
        assert_eq!(
            store.revoke_device("aa", "aa", 12).await.unwrap(),
            Change::LastOwner
        );
        assert_eq!(
            store
                .set_device_role("aa", Role::Member, "aa", 12)
                .await
                .unwrap(),
            Change::LastOwner
        );
        // With a second owner, either may step down or go.
        assert_eq!(
            store
                .set_device_role("bb", Role::Owner, "aa", 13)
                .await
                .unwrap(),
            Change::Done
        );
        assert_eq!(
            store
                .set_device_role("aa", Role::Member, "aa", 14)
                .await
                .unwrap(),
            Change::Done
        );
        assert_eq!(
            store.revoke_device("bb", "bb", 15).await.unwrap(),
            Change::LastOwner
        );
        assert_eq!(
            store.device("aa").await.unwrap().unwrap().role,
            Role::Member
        );
    }

    #[tokio::test]
    async fn pending_devices_expire_unless_approved() {
        let store = Store::open_in_memory(1).await.unwrap();
        pair(&store, "aa", 1, "A", NewRole::Owner, 10).await;
        let p = pair(&store, "pp", 2, "P", NewRole::Pending { until: 100 }, 11).await;
        assert_eq!((p.role, p.pending_until), (Role::Pending, Some(100)));
        pair(&store, "qq", 3, "Q", NewRole::Pending { until: 100 }, 12).await;
        assert_eq!(
            store
                .set_device_role("qq", Role::Member, "aa", 50)
                .await
                .unwrap(),
            Change::Done
        );
        assert_eq!(
            store.expire_pending(99).await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(store.expire_pending(100).await.unwrap(), ["pp"]);
        let q = store.device("qq").await.unwrap().unwrap();
        assert_eq!((q.role, q.pending_until), (Role::Member, None));
        // An expired pending device was not revoked: it may pair again in a next window.
        pair(&store, "pp", 2, "P", NewRole::Pending { until: 300 }, 200).await;
    }

    #[tokio::test]
    async fn a_removed_devices_data_can_be_handed_over() {
        let store = Store::open_in_memory(1).await.unwrap();
        pair(&store, "aa", 1, "A", NewRole::Owner, 10).await;
        pair(&store, "bb", 2, "B", NewRole::Member, 11).await;
        pair(&store, "pp", 3, "P", NewRole::Pending { until: 99 }, 12).await;
        store
            .call(|conn| {
                conn.execute_batch(
                    "INSERT INTO backups (backup_id, group_id, recipient, created)
                     VALUES ('00000000000000000000000000000000',
                             (SELECT group_id FROM devices WHERE device_id = 'bb'), zeroblob(32), 1);",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            store
                .reassign_device_data("bb", "aa", "aa", 20)
                .await
                .unwrap(),
            Reassign::FromPaired
        );
        assert_eq!(
            store
                .reassign_device_data("zz", "aa", "aa", 20)
                .await
                .unwrap(),
            Reassign::FromUnknown
        );
        store.revoke_device("bb", "aa", 21).await.unwrap();
        assert_eq!(
            store
                .reassign_device_data("bb", "pp", "aa", 22)
                .await
                .unwrap(),
            Reassign::ToNotMember
        );
        assert_eq!(
            store
                .reassign_device_data("bb", "aa", "aa", 22)
                .await
                .unwrap(),
            Reassign::Done {
                identities: 0,
                backups: 1
            }
        );
        let backup = store
            .backup("00000000000000000000000000000000")
            .await
            .unwrap()
            .unwrap();
        let a = store.device("aa").await.unwrap().unwrap();
        assert_eq!(backup.group_id, a.group_id);
    }

    #[tokio::test]
    async fn a_take_over_supersedes_the_holder_and_passes_its_role() {
        let store = Store::open_in_memory(1).await.unwrap();
        pair(&store, "aa", 1, "Lost phone", NewRole::Owner, 10).await;
        pair(
            &store,
            "nn",
            2,
            "New phone",
            NewRole::Pending { until: 99 },
            11,
        )
        .await;
        let id = "11111111111111111111111111111111";
        store
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO backups (backup_id, group_id, recipient, created)
                     VALUES (?1, (SELECT group_id FROM devices WHERE device_id = 'aa'),
                             zeroblob(32), 1)",
                    [id],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            store.rebind_backup(id, "nn", vec![], 20).await.unwrap(),
            crate::store::Rebound::Done {
                superseded: Some("aa".into())
            }
        );
        let n = store.device("nn").await.unwrap().unwrap();
        assert_eq!((n.role, n.pending_until), (Role::Owner, None));
        assert!(store.device("aa").await.unwrap().is_none());
        let removed = store.removed_devices().await.unwrap();
        assert_eq!(
            (removed[0].reason, removed[0].by.as_deref(), removed[0].role),
            (Removal::Superseded, Some("nn"), Role::Owner)
        );
        // Taking it over again on the same device supersedes nobody.
        assert_eq!(
            store.rebind_backup(id, "nn", vec![], 21).await.unwrap(),
            crate::store::Rebound::Done { superseded: None }
        );
    }
}
