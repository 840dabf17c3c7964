-- Zone imports (one zoneimport aggregate each): status PENDING, COMPLETE or ERROR. The file itself stays
-- in the event stream. The producer's recovery reads the pending ones by id (shards are id prefixes).
CREATE TABLE zone_imports (
    id uuid PRIMARY KEY,
    project_id text NOT NULL,
    status text NOT NULL,
    message text,
    zone_id uuid,
    created_at timestamp NOT NULL,
    updated_at timestamp
);
CREATE INDEX zone_imports_project ON zone_imports (project_id, created_at);
CREATE INDEX zone_imports_pending ON zone_imports (id) WHERE status = 'PENDING';
