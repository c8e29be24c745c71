-- 0001: facts about the box itself (first start, …), one row per key.
-- Migrations are only ever added, never edited: add 0002_….sql and list it in store/mod.rs.
CREATE TABLE box_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
