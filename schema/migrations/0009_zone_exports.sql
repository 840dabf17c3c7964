-- Zone exports (one zoneexport aggregate each): the zone and the serial it was exported at. The file
-- itself is rendered from the zone's history on request.
CREATE TABLE zone_exports (
    id uuid PRIMARY KEY,
    zone_id uuid NOT NULL,
    project_id text NOT NULL,
    serial bigint NOT NULL,
    created_at timestamp NOT NULL
);
CREATE INDEX zone_exports_project ON zone_exports (project_id, created_at);
