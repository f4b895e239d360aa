-- Kill switches: one row per model an operator has ever switched, with its current state.
-- A model without a row is enabled. Read whole by the gateway at start; written (with an event
-- row, in one transaction) by the admin API before the running gateway swaps its in-memory set.
CREATE TABLE model_switches (
    model      TEXT PRIMARY KEY NOT NULL,
    disabled   INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    reason     TEXT,
    changed_at TEXT NOT NULL,
    actor      TEXT NOT NULL
);

-- Every switch change, in the order it was made (the audit log holds the same actions,
-- hash-chained; this table answers "what happened to model M" without scanning it).
CREATE TABLE model_switch_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    model      TEXT NOT NULL,
    disabled   INTEGER NOT NULL CHECK (disabled IN (0, 1)),
    reason     TEXT,
    changed_at TEXT NOT NULL,
    actor      TEXT NOT NULL
);
CREATE INDEX model_switch_events_model ON model_switch_events (model, id);
