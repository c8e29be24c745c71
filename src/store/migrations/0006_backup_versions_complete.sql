-- 0006: an index that answers "the newest complete version" without reading any row.
-- `complete` is stored after the bundle, so without it every such query walked the overflow
-- pages of every kept bundle (about 11 MiB read per `backup.put` of 1 MiB bundles).
CREATE INDEX backup_versions_complete ON backup_versions (backup_id, complete, version);
