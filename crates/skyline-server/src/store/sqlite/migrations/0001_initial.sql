-- Skyline schema, version 1.
-- Dates are TEXT `YYYY-MM-DD` (UTC); times are INTEGER UNIX seconds.
-- License keys are never stored: only their HMAC digest and last group.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    min_version TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1))
);

CREATE TABLE plans (
    id         TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    -- `months:N`, `days:N` or `perpetual`
    duration   TEXT NOT NULL,
    seats      INTEGER NOT NULL CHECK (seats >= 1)
);
CREATE INDEX plans_by_product ON plans (product_id);

CREATE TABLE licenses (
    id              INTEGER PRIMARY KEY,
    key_digest      BLOB NOT NULL UNIQUE CHECK (length(key_digest) = 32),
    key_last_group  TEXT NOT NULL,
    plan_id         TEXT NOT NULL REFERENCES plans (id),
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    activation_date TEXT,
    expiry_date     TEXT
);
CREATE INDEX licenses_by_plan ON licenses (plan_id);

-- One row per seat taken.
CREATE TABLE devices (
    license_id          INTEGER NOT NULL REFERENCES licenses (id),
    serial_number       TEXT NOT NULL,
    cs_product_uuid     TEXT NOT NULL,
    bound_on            TEXT NOT NULL,
    last_login          INTEGER,
    previous_last_login INTEGER,
    locked              INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
    PRIMARY KEY (license_id, serial_number, cs_product_uuid)
);

-- One value per (product, scope, name); scope `product`, `plan` or `license`.
CREATE TABLE toggles (
    id         INTEGER PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    scope      TEXT NOT NULL CHECK (scope IN ('product', 'plan', 'license')),
    plan_id    TEXT REFERENCES plans (id),
    license_id INTEGER REFERENCES licenses (id),
    name       TEXT NOT NULL,
    -- `int`, `float`, `bool` or `string`
    value_type TEXT NOT NULL CHECK (value_type IN ('int', 'float', 'bool', 'string')),
    value      TEXT NOT NULL,
    CHECK ((scope = 'product' AND plan_id IS NULL AND license_id IS NULL)
        OR (scope = 'plan' AND plan_id IS NOT NULL AND license_id IS NULL)
        OR (scope = 'license' AND plan_id IS NULL AND license_id IS NOT NULL))
);
CREATE UNIQUE INDEX toggles_unique
    ON toggles (product_id, scope, ifnull(plan_id, ''), ifnull(license_id, 0), name);

CREATE TABLE telemetry (
    id          INTEGER PRIMARY KEY,
    license_id  INTEGER NOT NULL REFERENCES licenses (id),
    product_id  TEXT NOT NULL,
    event       TEXT NOT NULL,
    -- JSON text, or NULL
    data        TEXT,
    client_time INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
-- Pages are read in id order per product (the rowid rides in the index).
CREATE INDEX telemetry_by_product ON telemetry (product_id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    product_id TEXT,
    license_id INTEGER REFERENCES licenses (id),
    detail     TEXT NOT NULL
);
CREATE INDEX audit_by_license ON audit_log (license_id);
CREATE INDEX audit_by_time ON audit_log (at);
