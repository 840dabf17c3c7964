-- What the data plane needs: each zone's per-name-server sync status, and the serial of each pool's
-- catalog zone (RFC 9432), bumped whenever a zone joins or leaves the pool.

ALTER TABLE zones ADD COLUMN sync jsonb NOT NULL DEFAULT '[]';

CREATE TABLE pool_catalogs (
    pool_id  uuid PRIMARY KEY,
    serial   bigint NOT NULL
);
