-- 0007: the household's trust (protocol §2). Roles owner, member and pending; a pending device's
-- deadline; device names unique per box (compared without case, in code); and the keys of
-- revoked and superseded devices, which never pair again.
CREATE TABLE devices_new (
    device_id     TEXT PRIMARY KEY NOT NULL,         -- hex of the first 16 bytes of H(device_key)
    device_key    BLOB NOT NULL UNIQUE CHECK (length(device_key) = 32),  -- X25519 public key
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'member', 'pending')),
    paired_at     INTEGER NOT NULL,                  -- Unix seconds, box clock
    last_seen     INTEGER,                           -- Unix seconds, box clock
    pending_until INTEGER,                           -- a pending device is removed after this
    CHECK ((role = 'pending') = (pending_until IS NOT NULL))
) STRICT;
INSERT INTO devices_new (device_id, device_key, name, role, paired_at, last_seen)
    SELECT device_id, device_key, name, role, paired_at, last_seen FROM devices;
DROP TABLE devices;
ALTER TABLE devices_new RENAME TO devices;

-- An owner could revoke itself before: such a household's oldest device becomes its owner, so
-- that every box with devices has one.
UPDATE devices SET role = 'owner'
 WHERE NOT EXISTS (SELECT 1 FROM devices WHERE role = 'owner')
   AND device_id = (SELECT device_id FROM devices ORDER BY paired_at, device_id LIMIT 1);

CREATE TABLE removed_devices (
    device_key BLOB PRIMARY KEY NOT NULL CHECK (length(device_key) = 32),
    device_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member', 'pending')),  -- the role it had
    reason     TEXT NOT NULL CHECK (reason IN ('revoked', 'superseded')),
    by_device  TEXT,                                 -- who revoked or superseded it; NULL: the box
    at         INTEGER NOT NULL                      -- Unix seconds, box clock
) STRICT;
CREATE INDEX removed_devices_id ON removed_devices (device_id);
