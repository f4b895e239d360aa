-- Denied-party screening (issue 17). The store does not know the screening crate: a list's
-- entries are the JSON text its caller serialised, kept as given.
--
-- `screening_lists`: one row per imported version of a list (OFAC SDN, BIS DPL, CSL), never
-- changed once written. `seq` numbers the versions in the order the store took them: the
-- current version of a source is its highest `seq` (not its `imported_at`, which is the
-- importer's clock). A version and the principals screened against it are written in one
-- transaction, which also bumps the `screening` and `principals` change versions.
CREATE TABLE screening_lists (
    version_id   TEXT PRIMARY KEY,
    seq          INTEGER NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    published    TEXT,
    sha256       TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    alias_count  INTEGER NOT NULL,
    imported_at  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    entries      TEXT NOT NULL
);
CREATE INDEX screening_lists_source ON screening_lists (source, seq);

-- Every review of a possible match, appended, never changed: who decided (`actor`) that
-- `subject` (a principal id, or `org:<name>`) is (`confirm`) or is not (`clear`) the list
-- entry `entity_id` of `list_source`, on the entry and the subject's facts as they were then
-- (their fingerprints: a review no longer applies once either changes).
CREATE TABLE screening_reviews (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    subject      TEXT NOT NULL,
    list_source  TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    entry_hash   TEXT NOT NULL,
    subject_hash TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('confirm', 'clear')),
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    at           TEXT NOT NULL
);
CREATE INDEX screening_reviews_subject ON screening_reviews (subject, id);
INSERT OR IGNORE INTO change_versions (kind, version) VALUES ('screening', 0);
