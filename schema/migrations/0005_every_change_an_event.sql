-- Read models of the aggregates that became events: the operator's naming rules, each project's quota
-- overrides, and the pools of the committed pool configuration.

CREATE TABLE IF NOT EXISTS tlds (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    description  text,
    created_at   timestamp NOT NULL,
    updated_at   timestamp
);

CREATE TABLE IF NOT EXISTS blacklists (
    id           uuid PRIMARY KEY,
    pattern      text NOT NULL UNIQUE,
    description  text,
    created_at   timestamp NOT NULL,
    updated_at   timestamp
);

CREATE TABLE IF NOT EXISTS quota_overrides (
    project_id   text NOT NULL,
    resource     text NOT NULL,
    hard_limit   bigint NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- One row per pool of the current configuration, replaced whole when the configuration changes.
CREATE TABLE IF NOT EXISTS pools (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    description  text,
    attributes   jsonb NOT NULL,
    ns_records   jsonb NOT NULL,
    updated_at   timestamp NOT NULL
);
