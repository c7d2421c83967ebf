-- Skyline schema for PostgreSQL, version 4, as SQLite's: telemetry event ids
-- (PROTOCOL.md 1.1). An event sent with an `eventId` is stored once per
-- license: the id is claimed in `telemetry_event_ids` by the statement that
-- stores the event, and a repeat (on this node or another) finds it claimed.

ALTER TABLE telemetry ADD COLUMN event_id TEXT;

CREATE TABLE telemetry_event_ids (
    license_id BIGINT NOT NULL REFERENCES licenses (id),
    event_id   TEXT NOT NULL,
    -- when the first event with the id was received, UNIX seconds
    seen_at    BIGINT NOT NULL,
    PRIMARY KEY (license_id, event_id)
);
CREATE INDEX telemetry_event_ids_by_time ON telemetry_event_ids (seen_at);
