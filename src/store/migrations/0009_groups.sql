-- 0009: one person, several devices (protocol §2, "Groups"). Every device belongs to one group
-- (a person); identities and backups belong to a group, not a device. A device paired before
-- this migration is a group of one whose id is its device id; a device paired after gets a
-- random group id. `identities.device_id` and `backups.device_id` held the owner; they are
-- renamed, and keep their values (each old owner's group has the old owner's id).
ALTER TABLE devices ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
UPDATE devices SET group_id = device_id;
CREATE INDEX devices_group ON devices (group_id);
ALTER TABLE removed_devices ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
UPDATE removed_devices SET group_id = device_id;
ALTER TABLE identities RENAME COLUMN device_id TO group_id;
ALTER TABLE backups RENAME COLUMN device_id TO group_id;

-- A group's key, as the box knows it: only its id (the first 16 bytes of HKDF(group key,
-- "group-key-id"), hex), never the key. `key_id` is NULL before the group's first v2 bundle and
-- after a device left the group (then the next version must be under a new key). Keys once
-- replaced are retired: no version is accepted under them again.
CREATE TABLE groups (
    group_id TEXT PRIMARY KEY NOT NULL,
    key_id   TEXT CHECK (key_id IS NULL OR length(key_id) = 32)
) STRICT;
CREATE TABLE retired_group_keys (
    group_id TEXT NOT NULL,
    key_id   TEXT NOT NULL CHECK (length(key_id) = 32),
    at       INTEGER NOT NULL,
    PRIMARY KEY (group_id, key_id)
) STRICT, WITHOUT ROWID;

-- What a device of a group sealed for a device it linked (`devices.link`), for the linked
-- device to fetch (`devices.link_fetch`, again if it must) for a day. The box cannot open it.
CREATE TABLE link_deliveries (
    device_id TEXT PRIMARY KEY NOT NULL,   -- the linked device
    group_id  TEXT NOT NULL,
    by_device TEXT NOT NULL,
    by_key    BLOB NOT NULL CHECK (length(by_key) = 32),
    sealed    BLOB NOT NULL,
    at        INTEGER NOT NULL
) STRICT;

-- The group key id a v2 version is under (NULL for a v1 bundle).
ALTER TABLE backup_versions ADD COLUMN group_key_id TEXT;

-- A version's identity keys sealed to each device of the group (as `sealed_keys` is to the
-- recipient), so that any of them can give a new box the keys back without the words.
CREATE TABLE backup_device_keys (
    backup_id TEXT NOT NULL,
    version   INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    sealed    BLOB NOT NULL,
    PRIMARY KEY (backup_id, version, device_id),
    FOREIGN KEY (backup_id, version) REFERENCES backup_versions (backup_id, version)
        ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
