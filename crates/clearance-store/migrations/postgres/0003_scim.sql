-- SCIM 2.0 provisioning, as SQLite's migration 0008: Users and Groups with a version each
-- (ETags), `name_key` (lower-cased userName / displayName) unique per kind, and the `scim`
-- change version every SCIM write checks and bumps (under FOR UPDATE) in the transaction that
-- also upserts the principals it affects.
CREATE TABLE scim_resources (
    kind          text COLLATE "C" NOT NULL,
    id            text COLLATE "C" NOT NULL,
    name_key      text COLLATE "C" NOT NULL,
    external_id   text,
    body          text NOT NULL,
    version       bigint NOT NULL,
    created       text NOT NULL,
    last_modified text NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE UNIQUE INDEX scim_resources_name ON scim_resources (kind, name_key);
INSERT INTO change_versions (kind, version) VALUES ('scim', 0) ON CONFLICT DO NOTHING;
