-- 0008: identity keys sealed at rest (protocol §9). The key column holds
-- 0x01 ‖ nonce ‖ secretbox(HKDF(vault key, "identity-key " ‖ did), seed): 73 bytes. SQLite cannot
-- change a CHECK in place, so the table is made anew; the migration's Rust hook
-- (store/identities.rs, `seal_keys_hook`) copies the rows into it, sealing each key, and then
-- replaces the old table.
CREATE TABLE identities_sealed (
    did           TEXT PRIMARY KEY NOT NULL,
    ipns_name     TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    secret_key    BLOB CHECK (secret_key IS NULL OR length(secret_key) = 73),  -- sealed ed25519
                                                                               -- seed; NULL once
                                                                               -- deleted
    signing_key   BLOB NOT NULL CHECK (length(signing_key) = 32),
    agreement_key BLOB NOT NULL CHECK (length(agreement_key) = 32),
    services      TEXT NOT NULL DEFAULT '[]',
    document      TEXT NOT NULL,
    cid           TEXT NOT NULL,
    seq           INTEGER NOT NULL CHECK (seq >= 0),
    record        BLOB NOT NULL,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL,
    deactivated   INTEGER NOT NULL DEFAULT 0 CHECK (deactivated IN (0, 1))
) STRICT;
