-- What the data plane needs: each zone's per-name-server sync status, and the serial of each pool's
-- catalog zone (RFC 9432), bumped whenever a zone joins or leaves the pool.

ALTER TABLE zones ADD COLUMN sync jsonb NOT NULL DEFAULT '[]';

CREATE TABLE pool_catalogs (
    pool_id  uuid PRIMARY KEY,
    serial   bigint NOT NULL
);

-- Every serial step gets a '=' row (seq 0), so the journal shows an unbroken chain of serials even for
-- steps that changed no record (an SOA-only change); IXFR refuses to bridge a gap.
ALTER TABLE zone_journal DROP CONSTRAINT zone_journal_op_check;
ALTER TABLE zone_journal ADD CONSTRAINT zone_journal_op_check CHECK (op IN ('+', '-', '='));
