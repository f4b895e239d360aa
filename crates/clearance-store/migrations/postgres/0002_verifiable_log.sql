-- The verifiable log, as SQLite's migration 0007: every log's records are also the leaves of
-- an RFC 6962 Merkle tree (leaf n = SHA-256(0x00 || record #n+1's stored bytes)).
-- `audit_tree` keeps every complete subtree's hash (level 0: the leaves), written in the same
-- statement as the records that complete them; existing logs' trees are rebuilt from their
-- records right after this migration, in its transaction (in Rust: `backfill_trees`).
-- `audit_checkpoints` keeps each log's signed checkpoints (C2SP signed notes), one per tree
-- size, replaced as cosignatures are added.
CREATE TABLE audit_tree (
    log_id text COLLATE "C" NOT NULL,
    level  smallint NOT NULL,
    idx    bigint NOT NULL,
    hash   bytea NOT NULL,
    PRIMARY KEY (log_id, level, idx)
);

CREATE TABLE audit_checkpoints (
    log_id     text COLLATE "C" NOT NULL,
    size       bigint NOT NULL,
    note       text NOT NULL,
    created_at text NOT NULL,
    PRIMARY KEY (log_id, size)
);

-- Retention (`prune_audit_before`) empties old records' bodies: `record` becomes '', the query
-- columns NULL and `time` '' (it is NOT NULL; '' already stands for a record without a time).
