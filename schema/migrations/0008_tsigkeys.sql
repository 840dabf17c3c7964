-- TSIG keys (the tsigkey aggregate): one row per key. The secret is here because mdns verifies and signs
-- with it; the API shows it to admins only, as Designate does.
CREATE TABLE tsigkeys (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    algorithm text NOT NULL,
    secret text NOT NULL,
    scope text NOT NULL,
    resource_id uuid NOT NULL,
    created_at timestamp NOT NULL,
    updated_at timestamp
);
