-- Skyline schema, version 4: telemetry event ids (PROTOCOL.md 1.1). An
-- event sent with an `eventId` is stored once per license: the id is claimed
-- in `telemetry_event_ids` in the same transaction as the event, and a
-- repeat finds it claimed.

ALTER TABLE telemetry ADD COLUMN event_id TEXT;

CREATE TABLE telemetry_event_ids (
    license_id INTEGER NOT NULL REFERENCES licenses (id),
    event_id   TEXT NOT NULL,
    -- when the first event with the id was received, UNIX seconds
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (license_id, event_id)
) WITHOUT ROWID;
CREATE INDEX telemetry_event_ids_by_time ON telemetry_event_ids (seen_at);
