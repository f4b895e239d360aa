-- Denied-party screening (issue 17), as SQLite's migration 0009: list versions with their
-- entries as the caller's JSON text (never jsonb: kept exactly as given), numbered by `seq` in
-- the order the store took them (the current version of a source is its highest `seq`;
-- writers take it under the `screening` change version's row lock), and the append-only
-- reviews of possible matches.
CREATE TABLE screening_lists (
    version_id   text COLLATE "C" PRIMARY KEY,
    seq          bigint NOT NULL UNIQUE,
    source       text COLLATE "C" NOT NULL,
    published    text,
    sha256       text NOT NULL,
    record_count bigint NOT NULL,
    alias_count  bigint NOT NULL,
    imported_at  text NOT NULL,
    actor        text NOT NULL,
    entries      text NOT NULL
);
CREATE INDEX screening_lists_source ON screening_lists (source, seq);

CREATE TABLE screening_reviews (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject      text COLLATE "C" NOT NULL,
    list_source  text NOT NULL,
    entity_id    text NOT NULL,
    entry_hash   text NOT NULL,
    subject_hash text NOT NULL,
    decision     text NOT NULL CHECK (decision IN ('confirm', 'clear')),
    reason       text NOT NULL,
    actor        text NOT NULL,
    at           text NOT NULL
);
CREATE INDEX screening_reviews_subject ON screening_reviews (subject, id);
INSERT INTO change_versions (kind, version) VALUES ('screening', 0) ON CONFLICT DO NOTHING;
