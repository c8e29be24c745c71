-- 0004: the household's DIDs (SPEC §4). One row per identity, kept after deletion as a
-- tombstone (key erased, deactivated document kept) so the DID keeps resolving as deactivated
-- and a restore can publish above every sequence number ever used.
CREATE TABLE identities (
    did           TEXT PRIMARY KEY NOT NULL,          -- did:ipid:<ipns name>
    ipns_name     TEXT NOT NULL UNIQUE,               -- k51… base36
    name          TEXT NOT NULL,                      -- the owner's label
    device_id     TEXT NOT NULL,                      -- the owning device (no foreign key: an
                                                      -- identity outlives a revoked phone)
    secret_key    BLOB CHECK (secret_key IS NULL OR length(secret_key) = 32),  -- ed25519 seed;
                                                      -- NULL once deleted
    signing_key   BLOB NOT NULL CHECK (length(signing_key) = 32),    -- the phone's ed25519 key
    agreement_key BLOB NOT NULL CHECK (length(agreement_key) = 32),  -- the phone's X25519 key
    services      TEXT NOT NULL DEFAULT '[]',         -- JSON array, as in the document
    document      TEXT NOT NULL,                      -- JSON, as published
    cid           TEXT NOT NULL,                      -- DAG-JSON CID of the document
    seq           INTEGER NOT NULL CHECK (seq >= 0),  -- IPNS sequence of the current value
    record        BLOB NOT NULL,                      -- the latest signed IPNS record
    created       INTEGER NOT NULL,                   -- Unix seconds, box clock
    updated       INTEGER NOT NULL,
    deactivated   INTEGER NOT NULL DEFAULT 0 CHECK (deactivated IN (0, 1))
) STRICT;
CREATE INDEX identities_device ON identities (device_id);
