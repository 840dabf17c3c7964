-- Designate's zone attributes (key/value strings).
ALTER TABLE zones ADD COLUMN IF NOT EXISTS attributes jsonb NOT NULL DEFAULT '{}'::jsonb;
