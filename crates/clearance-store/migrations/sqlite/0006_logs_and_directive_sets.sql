-- Many writers, one trail: every writer (a gateway process, a CLI change) appends to a log of
-- its own, so writers never contend for one chain. The audit table is rebuilt with the log id
-- and a per-log sequence number; `pos` keeps the order rows were stored in, across logs (the
-- impact preview scans a time window in that order). Records from before logs had ids form
-- the log `legacy`, whose recorded head is the old `audit_head`.
CREATE TABLE audit_logs (
    log_id     TEXT PRIMARY KEY NOT NULL,
    replica    TEXT NOT NULL,
    opened_at  TEXT NOT NULL,
    closed_at  TEXT,
    head_seq   INTEGER NOT NULL DEFAULT 0,
    head_hash  TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000'
);

CREATE TABLE audit_v6 (
    pos             INTEGER PRIMARY KEY,
    log_id          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL,
    record          TEXT NOT NULL,
    time            TEXT,
    principal_id    TEXT,
    requested_model TEXT,
    facts           TEXT,
    phase           TEXT
);
INSERT INTO audit_v6 (pos, log_id, seq, id, prev_hash, hash, record, time, principal_id, requested_model, facts, phase)
    SELECT seq, 'legacy', seq, id, prev_hash, hash, record, time, principal_id, requested_model, facts, NULL FROM audit;
INSERT INTO audit_logs (log_id, replica, opened_at, closed_at, head_seq, head_hash)
    SELECT 'legacy', 'legacy', coalesce((SELECT min(time) FROM audit), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
           strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), seq, hash
    FROM audit_head WHERE id = 1;
DROP TABLE audit;
DROP TABLE audit_head;
ALTER TABLE audit_v6 RENAME TO audit;
CREATE UNIQUE INDEX audit_log_seq ON audit (log_id, seq);
CREATE INDEX audit_time ON audit (time, log_id, seq);
CREATE INDEX audit_principal ON audit (principal_id);
CREATE INDEX audit_request ON audit (id);

-- Directive sets: every activation is a new version with its files; the highest version is
-- the active set every replica enforces.
CREATE TABLE directive_sets (
    version        INTEGER PRIMARY KEY NOT NULL,
    policy_version TEXT NOT NULL,
    activated_at   TEXT NOT NULL,
    actor          TEXT NOT NULL
);
CREATE TABLE directive_set_files (
    version INTEGER NOT NULL REFERENCES directive_sets (version),
    name    TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (version, name)
);
INSERT OR IGNORE INTO change_versions (kind, version) VALUES ('directives', 0);
