-- Skyline schema, version 3: each license keeps its seat count and the day
-- of its oldest binding, updated with every binding and release in the same
-- transaction, so binding a device never counts the key's devices.
-- (The license index secret moves into `settings` when the database is
-- first opened by this version; see `license_index::settle`.)

ALTER TABLE licenses ADD COLUMN devices_bound INTEGER NOT NULL DEFAULT 0;
ALTER TABLE licenses ADD COLUMN first_bound_on TEXT;

UPDATE licenses SET
    devices_bound = (SELECT count(*) FROM devices d WHERE d.license_id = licenses.id),
    first_bound_on = (SELECT min(bound_on) FROM devices d WHERE d.license_id = licenses.id);

-- The oldest binding of a key, found without reading its other bindings.
CREATE INDEX devices_by_bound_on ON devices (license_id, bound_on);
