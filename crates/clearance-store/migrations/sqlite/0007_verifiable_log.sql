-- The verifiable log: every log's records are also the leaves of an RFC 6962 Merkle tree
-- (leaf n = SHA-256(0x00 || record #n+1's stored bytes)). `audit_tree` keeps every complete
-- subtree's hash (level 0: the leaves), written by the store in the same transaction as the
-- records that complete them; a log's tree is rebuilt from its records right after this
-- migration (in Rust: `backfill_trees`). `audit_checkpoints` keeps each log's signed
-- checkpoints (C2SP signed notes), one per tree size, replaced as cosignatures are added.
CREATE TABLE audit_tree (
    log_id TEXT NOT NULL,
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (log_id, level, idx)
) WITHOUT ROWID;

CREATE TABLE audit_checkpoints (
    log_id     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (log_id, size)
);

-- `verify` now compares every record's query columns with its JSON. The legacy log's records
-- got a NULL `phase` when migration 0006 rebuilt the table: derive their columns from the
-- records once, as the store derives every new record's.
UPDATE audit SET
    time = json_extract(record, '$.time'),
    principal_id = json_extract(record, '$.principal_id'),
    requested_model = json_extract(record, '$.requested_model'),
    facts = json_extract(record, '$.facts'),
    phase = json_extract(record, '$.phase')
WHERE log_id = 'legacy';
