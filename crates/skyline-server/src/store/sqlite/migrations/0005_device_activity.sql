-- Skyline schema, version 5: each bound device remembers the app version of
-- its last OK start-session and when the server saw it (UNIX seconds, the
-- server's clock), for the customer's cabinet and release adoption.

ALTER TABLE devices ADD COLUMN last_version TEXT;
ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;

-- Adoption counts devices seen since a moment.
CREATE INDEX devices_by_last_seen ON devices (last_seen_at);
