-- Read models of zones and record sets, the audit trail, the per-serial journal for IXFR,
-- and the per-aggregate version that makes projection idempotent.

CREATE TABLE projection_versions (
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    version        bigint NOT NULL,
    stream_seq     bigint NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE TABLE zones (
    id           uuid PRIMARY KEY,
    project_id   text NOT NULL,
    pool_id      uuid NOT NULL,
    name         text NOT NULL,
    email        text NOT NULL,
    mname        text NOT NULL,
    ttl          integer NOT NULL,
    serial       bigint NOT NULL,
    refresh      integer NOT NULL,
    retry        integer NOT NULL,
    expire       integer NOT NULL,
    minimum      integer NOT NULL,
    description  text,
    type         text NOT NULL DEFAULT 'PRIMARY',
    status       text NOT NULL,
    action       text NOT NULL,
    version      bigint NOT NULL,
    created_at   timestamp NOT NULL,
    updated_at   timestamp
);
CREATE INDEX zones_project_created ON zones (project_id, created_at, id);
CREATE INDEX zones_name ON zones (name);

CREATE TABLE recordsets (
    id           uuid PRIMARY KEY,
    zone_id      uuid NOT NULL REFERENCES zones (id) ON DELETE CASCADE,
    project_id   text NOT NULL,
    name         text NOT NULL,
    type         text NOT NULL,
    records      text[] NOT NULL,
    ttl          integer,
    description  text,
    managed      boolean NOT NULL DEFAULT false,
    status       text NOT NULL,
    action       text NOT NULL,
    serial       bigint NOT NULL,
    version      bigint NOT NULL,
    created_at   timestamp NOT NULL,
    updated_at   timestamp
);
CREATE INDEX recordsets_zone ON recordsets (zone_id, created_at, id);
CREATE INDEX recordsets_zone_name_type ON recordsets (zone_id, name, type);
CREATE INDEX recordsets_project_created ON recordsets (project_id, created_at, id);

-- One row per event, with the metadata of the commit that carried it.
CREATE TABLE audit_events (
    stream_seq     bigint NOT NULL,
    event_idx      integer NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    version        bigint NOT NULL,
    event_type     text NOT NULL,
    event_version  integer NOT NULL,
    payload        jsonb NOT NULL,
    project_id     text NOT NULL,
    user_id        text NOT NULL,
    roles          text[] NOT NULL,
    request_id     text NOT NULL,
    source_role    text NOT NULL,
    command        text NOT NULL,
    occurred_at    timestamp NOT NULL,
    -- When central wrote the row: projected_at - occurred_at is the projection lag.
    projected_at   timestamp NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'utc'),
    PRIMARY KEY (aggregate_type, aggregate_id, version, event_idx)
);
CREATE INDEX audit_events_request ON audit_events (request_id);
CREATE INDEX audit_events_project_time ON audit_events (project_id, occurred_at);

-- Record-level changes per serial: what IXFR (RFC 1995) sends to go from prev_serial to serial.
-- op is '-' (removed) or '+' (added); SOA rows are not stored, they are rendered from the serials.
CREATE TABLE zone_journal (
    zone_id      uuid NOT NULL,
    serial       bigint NOT NULL,
    prev_serial  bigint NOT NULL,
    seq          integer NOT NULL,
    op           char(1) NOT NULL CHECK (op IN ('+', '-')),
    name         text NOT NULL,
    type         text NOT NULL,
    ttl          integer NOT NULL,
    data         text NOT NULL,
    PRIMARY KEY (zone_id, serial, seq)
);
