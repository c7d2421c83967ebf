-- Skyline schema for PostgreSQL, version 3, as SQLite's: each license keeps
-- its seat count and the day of its oldest binding, updated with every
-- binding and release in the same transaction, so binding a device never
-- counts the key's devices. (The license index secret moves into `settings`
-- when the database is first opened by this version.)

ALTER TABLE licenses ADD COLUMN devices_bound INTEGER NOT NULL DEFAULT 0
    CHECK (devices_bound >= 0);
ALTER TABLE licenses ADD COLUMN first_bound_on DATE;

UPDATE licenses l SET
    devices_bound = d.n,
    first_bound_on = d.first
FROM (SELECT license_id, count(*) AS n, min(bound_on) AS first
      FROM devices GROUP BY license_id) d
WHERE d.license_id = l.id;

-- The oldest binding of a key, found without reading its other bindings.
CREATE INDEX devices_by_bound_on ON devices (license_id, bound_on);
