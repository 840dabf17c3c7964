-- Designate's shared zones: another project may see the zone and manage record sets in it.
CREATE TABLE IF NOT EXISTS zone_shares (
    id                uuid PRIMARY KEY,
    zone_id           uuid NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    project_id        text NOT NULL,
    target_project_id text NOT NULL,
    created_at        timestamp NOT NULL,
    UNIQUE (zone_id, target_project_id)
);
CREATE INDEX IF NOT EXISTS zone_shares_target ON zone_shares (target_project_id, zone_id);
