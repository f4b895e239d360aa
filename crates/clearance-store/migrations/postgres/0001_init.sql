-- The PostgreSQL schema, equal to the SQLite one after its migration 0006 (one table per
-- concept, the same columns), so both backends answer the contract tests alike.
--
-- Timestamps are RFC 3339 text, as in SQLite: the store gives back exactly the instant it was
-- given (nanoseconds included), and `audit.time` is the record's own text. Text columns that
-- are ordered or compared by range use the "C" collation: byte order, as in SQLite, whatever
-- the database's default collation (en_US and the like ignore punctuation, which would put
-- `10:00:00Z` and `10:00:00.5Z` in another order).

-- Principals: the core's Principal as JSON text. Text, not jsonb: principals are compared as
-- exact JSON, and jsonb would reorder and reformat it.
CREATE TABLE principals (
    id         text COLLATE "C" PRIMARY KEY,
    facts      text NOT NULL,
    updated_at text NOT NULL
);

-- Client keys: only the SHA-256 of the secret is kept.
CREATE TABLE keys (
    id           text COLLATE "C" PRIMARY KEY,
    principal_id text NOT NULL,
    name         text,
    secret_hash  text NOT NULL,
    created_at   text COLLATE "C" NOT NULL,
    revoked_at   text
);

-- Bumped in the same transaction as every change (with a NOTIFY clearance_changes), so
-- every replica reloads only what changed.
CREATE TABLE change_versions (
    kind    text PRIMARY KEY,
    version bigint NOT NULL
);
INSERT INTO change_versions (kind, version)
    VALUES ('keys', 0), ('principals', 0), ('model_switches', 0), ('directives', 0);

-- One hash chain per writer. `head_seq`/`head_hash` are the head the writer recorded with its
-- last batch (updated in the same transaction), so `verify` catches records deleted from the
-- end of a log.
CREATE TABLE audit_logs (
    log_id    text COLLATE "C" PRIMARY KEY,
    replica   text NOT NULL,
    opened_at text COLLATE "C" NOT NULL,
    closed_at text,
    head_seq  bigint NOT NULL DEFAULT 0,
    head_hash text NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000'
);

-- The audit trail. `record` holds the exact hashed bytes: text, never jsonb (jsonb reformats,
-- and the hash would no longer match). The other columns are derived from it by the store when
-- it writes (parsed in Rust) and are never trusted by `verify`. `time` is the record's `time`
-- text ('' for a record without one, which no audit record is), so it can be NOT NULL and the
-- time-ordered export walks its index with a row comparison.
CREATE TABLE audit (
    log_id          text COLLATE "C" NOT NULL,
    seq             bigint NOT NULL,
    id              text NOT NULL,
    prev_hash       text NOT NULL,
    hash            text NOT NULL,
    record          text NOT NULL,
    time            text COLLATE "C" NOT NULL,
    principal_id    text COLLATE "C",
    requested_model text COLLATE "C",
    facts           text,
    phase           text,
    PRIMARY KEY (log_id, seq)
);
CREATE INDEX audit_time ON audit (time, log_id, seq);
CREATE INDEX audit_principal ON audit (principal_id);
CREATE INDEX audit_request ON audit (id);

-- Kill switches: each model's current switch, and every change in order.
CREATE TABLE model_switches (
    model      text COLLATE "C" PRIMARY KEY,
    disabled   boolean NOT NULL,
    reason     text,
    changed_at text NOT NULL,
    actor      text NOT NULL
);
CREATE TABLE model_switch_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model      text COLLATE "C" NOT NULL,
    disabled   boolean NOT NULL,
    reason     text,
    changed_at text NOT NULL,
    actor      text NOT NULL
);
CREATE INDEX model_switch_events_model ON model_switch_events (model, id);

-- Directive sets: every activation is a new version with its files; the highest version is
-- the active set every replica enforces.
CREATE TABLE directive_sets (
    version        bigint PRIMARY KEY,
    policy_version text NOT NULL,
    activated_at   text NOT NULL,
    actor          text NOT NULL
);
CREATE TABLE directive_set_files (
    version bigint NOT NULL REFERENCES directive_sets (version),
    name    text COLLATE "C" NOT NULL,
    content text NOT NULL,
    PRIMARY KEY (version, name)
);
