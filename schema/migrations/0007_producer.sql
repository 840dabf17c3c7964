-- The producer's recovery scan: zones waiting for the data plane (PENDING or ERROR), by id so that a
-- producer reads only its shards (a shard is the first 12 bits of the id).
CREATE INDEX zones_waiting ON zones (id) WHERE status IN ('PENDING', 'ERROR');
