-- Validated fallbacks (issue 18). The store does not know the validate crate: a suite is its
-- file's text, an outcome the JSON text its caller serialised, both given back exactly.
--
-- Times are RFC 3339 in UTC with all nine fraction digits (`...T10:00:00.000000000Z`), so text
-- order is time order ("the latest run", "the oldest capture") and every instant reads back
-- to the nanosecond.

-- Every suite a run used, by the SHA-256 (hex) of its text: a run names the exact suite, and
-- `serve` can re-run it without the file. Never changed once stored.
CREATE TABLE validation_suites (
    hash      TEXT PRIMARY KEY NOT NULL,
    name      TEXT NOT NULL,
    file_name TEXT NOT NULL,
    text      TEXT NOT NULL,
    stored_at TEXT NOT NULL
);

-- One `clearance validate` run: a primary and its candidates (a JSON array of names, in the
-- order given: the order is part of what a resumed run must match) on one suite. `seq` orders
-- runs as the store took them, to break ties between equal times. A run without
-- `finished_at` was interrupted (or is running) and can be resumed.
CREATE TABLE validation_runs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        TEXT NOT NULL UNIQUE,
    suite_hash    TEXT NOT NULL,
    primary_model TEXT NOT NULL,
    candidates    TEXT NOT NULL,
    bar           REAL NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    actor         TEXT NOT NULL
);
CREATE INDEX validation_runs_resume ON validation_runs (suite_hash, primary_model, started_at);
CREATE INDEX validation_runs_finished ON validation_runs (finished_at);

-- What each model answered to each case of a run, written as each answer is judged (durable
-- before the next case starts), so an interrupted run resumes without asking again.
CREATE TABLE validation_outcomes (
    run_id  TEXT NOT NULL,
    model   TEXT NOT NULL,
    case_id TEXT NOT NULL,
    result  TEXT NOT NULL,
    PRIMARY KEY (run_id, model, case_id)
) WITHOUT ROWID;

-- Each fallback's current standing for its primary (the latest finished run's verdict), read
-- whole by the gateway when the `validations` change version moves; and every verdict ever
-- given, in the order runs finished. Both are written in the run's finishing transaction.
CREATE TABLE fallback_validations (
    primary_model  TEXT NOT NULL,
    fallback_model TEXT NOT NULL,
    validated      INTEGER NOT NULL CHECK (validated IN (0, 1)),
    score          REAL NOT NULL,
    bar            REAL NOT NULL,
    suite_name     TEXT NOT NULL,
    suite_hash     TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    at             TEXT NOT NULL,
    reason         TEXT,
    PRIMARY KEY (primary_model, fallback_model)
);
CREATE TABLE fallback_validation_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    primary_model  TEXT NOT NULL,
    fallback_model TEXT NOT NULL,
    validated      INTEGER NOT NULL CHECK (validated IN (0, 1)),
    score          REAL NOT NULL,
    bar            REAL NOT NULL,
    suite_name     TEXT NOT NULL,
    suite_hash     TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    at             TEXT NOT NULL,
    reason         TEXT
);
CREATE INDEX fallback_validation_history_primary ON fallback_validation_history (primary_model, id);
INSERT OR IGNORE INTO change_versions (kind, version) VALUES ('validations', 0);

-- Captured requests and answers (redacted by the caller before they get here), a bounded
-- number per app, for drafting suites from real traffic. `id` breaks ties between equal times.
CREATE TABLE captures (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    app     TEXT NOT NULL,
    model   TEXT NOT NULL,
    api     TEXT NOT NULL,
    at      TEXT NOT NULL,
    request TEXT NOT NULL,
    answer  TEXT NOT NULL
);
CREATE INDEX captures_app ON captures (app, at, id);
