-- Skyline schema, version 2: releases (signed update downloads) and admin
-- API tokens. Times are INTEGER UNIX seconds.

-- One row per published artifact. The file itself is stored elsewhere
-- (content-addressed by `sha256`); `platform` is '' for every platform, so
-- that the uniqueness below holds for it too.
CREATE TABLE releases (
    id           INTEGER PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products (id),
    version      TEXT NOT NULL,
    platform     TEXT NOT NULL DEFAULT '',
    channel      TEXT NOT NULL CHECK (channel IN ('stable', 'beta')),
    file_name    TEXT NOT NULL,
    size         INTEGER NOT NULL CHECK (size >= 0),
    sha256       BLOB NOT NULL CHECK (length(sha256) = 32),
    -- Ed25519 by the identity key over the 32-byte digest
    signature    BLOB NOT NULL CHECK (length(signature) = 64),
    yanked       INTEGER NOT NULL DEFAULT 0 CHECK (yanked IN (0, 1)),
    published_at INTEGER NOT NULL,
    UNIQUE (product_id, version, platform)
);
CREATE INDEX releases_by_sha256 ON releases (sha256);

-- Bearer tokens of the admin HTTP API. Only the SHA-256 of the secret part
-- is kept; `id` is the public part the token text starts with.
CREATE TABLE admin_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    read_only    INTEGER NOT NULL CHECK (read_only IN (0, 1)),
    secret_hash  BLOB NOT NULL CHECK (length(secret_hash) = 32),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
