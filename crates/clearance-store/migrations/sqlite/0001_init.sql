-- Principals: facts as JSON (the core's Principal), one row per registry id.
CREATE TABLE principals (
    id         TEXT PRIMARY KEY NOT NULL,
    facts      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Client keys: only the SHA-256 of the secret is kept.
CREATE TABLE keys (
    id           TEXT PRIMARY KEY NOT NULL,
    principal_id TEXT NOT NULL,
    name         TEXT,
    secret_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);

-- Bumped in the same transaction as every change, so gateways reload only what changed.
CREATE TABLE change_versions (
    kind    TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);
INSERT INTO change_versions (kind, version) VALUES ('keys', 0), ('principals', 0);

-- The audit log. `record` holds the exact hashed bytes; the other columns are derived from it
-- for queries and are not trusted by verification.
CREATE TABLE audit (
    seq             INTEGER PRIMARY KEY NOT NULL,
    id              TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL,
    record          TEXT NOT NULL,
    time            TEXT,
    principal_id    TEXT,
    requested_model TEXT
);
CREATE INDEX audit_time ON audit (time);
CREATE INDEX audit_principal ON audit (principal_id);
