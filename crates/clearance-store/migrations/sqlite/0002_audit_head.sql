-- The chain head as the writer last left it, updated in the same transaction as every batch.
-- `verify` compares the log's end with it, so deleting records at the end (or appending records
-- the gateway did not write) is detected, not only gaps in the middle.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) SELECT 1, seq, hash FROM audit ORDER BY seq DESC LIMIT 1;
