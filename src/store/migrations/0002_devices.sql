-- 0002: paired devices (SPEC §2) and the security events kept for the household.
CREATE TABLE devices (
    device_id  TEXT PRIMARY KEY NOT NULL,           -- hex of the first 16 bytes of H(device_key)
    device_key BLOB NOT NULL CHECK (length(device_key) = 32),  -- X25519 public key
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'member')),
    paired_at  INTEGER NOT NULL,                    -- Unix seconds, box clock
    last_seen  INTEGER                              -- Unix seconds, box clock
) STRICT;

CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,                     -- Unix seconds, box clock
    kind      TEXT NOT NULL,                        -- paired, revoked, renamed, lockout, …
    device_id TEXT,
    detail    TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX events_at ON events (at);
