-- Audit queries: entries in stream order (paging), a record set's history by its id (its name and type
-- from its creation, its values before a change from the change before), and zones and record sets by
-- the name they were created with.
CREATE INDEX IF NOT EXISTS audit_events_position ON audit_events (stream_seq, event_idx);
CREATE INDEX IF NOT EXISTS audit_events_recordset ON audit_events ((payload->>'recordset_id'), stream_seq, event_idx)
    WHERE payload ? 'recordset_id';
CREATE INDEX IF NOT EXISTS audit_events_created_name ON audit_events (event_type, (payload->>'name'))
    WHERE event_type IN ('ZoneCreated', 'RecordsetCreated');
