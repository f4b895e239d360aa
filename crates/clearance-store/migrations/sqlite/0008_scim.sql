-- SCIM 2.0 provisioning: Users and Groups as the identity provider sent them (the JSON body
-- as kept by clearance-scim), each with a version for its ETag. `name_key` is the userName
-- (User) or displayName (Group) lower-cased: unique per kind, as SCIM's `uniqueness: server`
-- with `caseExact: false` asks. Every change here is committed in the same transaction as the
-- principals it affects, and bumps the `scim` change version (a write that read an older one
-- is refused and retried: see Store::scim_commit).
CREATE TABLE scim_resources (
    kind          TEXT NOT NULL,
    id            TEXT NOT NULL,
    name_key      TEXT NOT NULL,
    external_id   TEXT,
    body          TEXT NOT NULL,
    version       INTEGER NOT NULL,
    created       TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX scim_resources_name ON scim_resources (kind, name_key);
INSERT OR IGNORE INTO change_versions (kind, version) VALUES ('scim', 0);
