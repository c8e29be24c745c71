-- 0003: the channel's recent nonces, saved at a clean shutdown so that a request captured before
-- a restart cannot be replayed after it (SPEC §3). Emptied again at start.
CREATE TABLE replay_nonces (
    nonce BLOB PRIMARY KEY NOT NULL CHECK (length(nonce) = 24),
    ts    INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
