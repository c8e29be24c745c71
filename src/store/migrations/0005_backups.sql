-- 0005: backups (SPEC §5). The box keeps ciphertext only: the phone's bundle, opaque to it,
-- and the identity keys sealed to the owner's recipient key.
CREATE TABLE backups (
    backup_id  TEXT PRIMARY KEY NOT NULL CHECK (length(backup_id) = 32),  -- hex, from the mnemonic
    device_id  TEXT NOT NULL,                      -- the device the backup belongs to
    recipient  BLOB NOT NULL CHECK (length(recipient) = 32),  -- X25519 public key
    created    INTEGER NOT NULL,                   -- Unix seconds, box clock
    next_version INTEGER NOT NULL DEFAULT 1 CHECK (next_version >= 1),  -- never reused
    enabled    INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1))  -- 0: turned off, kept
) STRICT;
CREATE INDEX backups_device ON backups (device_id);

-- One row per version; a version is written in one transaction, so every row is complete.
CREATE TABLE backup_versions (
    backup_id   TEXT NOT NULL REFERENCES backups (backup_id) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version >= 1),
    created     INTEGER NOT NULL,
    bundle      BLOB NOT NULL,                     -- nonce ‖ tag ‖ ciphertext, from the phone
    bundle_sha256 BLOB NOT NULL CHECK (length(bundle_sha256) = 32),
    sealed_keys BLOB NOT NULL,                     -- crypto_box_seal to the recipient
    sealed_sha256 BLOB NOT NULL CHECK (length(sealed_sha256) = 32),
    identities  TEXT NOT NULL,                     -- JSON [{did, cid, seq}] of the sealed keys
    complete    INTEGER NOT NULL DEFAULT 1 CHECK (complete IN (0, 1)),
    PRIMARY KEY (backup_id, version)
) STRICT;
