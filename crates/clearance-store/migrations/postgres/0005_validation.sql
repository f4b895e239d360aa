-- Validated fallbacks (issue 18), as SQLite's migration 0010: suites by the SHA-256 of their
-- text, runs (candidates a JSON array in the order given), each case's outcome as the
-- caller's JSON text (text, never jsonb: given back exactly), each fallback's current standing
-- and every verdict ever given, and a bounded number of captured requests per app.
--
-- Times are RFC 3339 in UTC with all nine fraction digits, in the "C" collation: text order
-- is time order. Ordering ties are broken by identity columns (the order the store took rows).
CREATE TABLE validation_suites (
    hash      text COLLATE "C" PRIMARY KEY,
    name      text NOT NULL,
    file_name text NOT NULL,
    text      text NOT NULL,
    stored_at text NOT NULL
);

CREATE TABLE validation_runs (
    seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        text COLLATE "C" NOT NULL UNIQUE,
    suite_hash    text COLLATE "C" NOT NULL,
    primary_model text COLLATE "C" NOT NULL,
    candidates    text COLLATE "C" NOT NULL,
    bar           double precision NOT NULL,
    started_at    text COLLATE "C" NOT NULL,
    finished_at   text COLLATE "C",
    actor         text NOT NULL
);
CREATE INDEX validation_runs_resume ON validation_runs (suite_hash, primary_model, started_at);
CREATE INDEX validation_runs_finished ON validation_runs (finished_at);

CREATE TABLE validation_outcomes (
    run_id  text COLLATE "C" NOT NULL,
    model   text COLLATE "C" NOT NULL,
    case_id text COLLATE "C" NOT NULL,
    result  text NOT NULL,
    PRIMARY KEY (run_id, model, case_id)
);

CREATE TABLE fallback_validations (
    primary_model  text COLLATE "C" NOT NULL,
    fallback_model text COLLATE "C" NOT NULL,
    validated      boolean NOT NULL,
    score          double precision NOT NULL,
    bar            double precision NOT NULL,
    suite_name     text NOT NULL,
    suite_hash     text NOT NULL,
    run_id         text NOT NULL,
    at             text NOT NULL,
    reason         text,
    PRIMARY KEY (primary_model, fallback_model)
);
CREATE TABLE fallback_validation_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    primary_model  text COLLATE "C" NOT NULL,
    fallback_model text COLLATE "C" NOT NULL,
    validated      boolean NOT NULL,
    score          double precision NOT NULL,
    bar            double precision NOT NULL,
    suite_name     text NOT NULL,
    suite_hash     text NOT NULL,
    run_id         text NOT NULL,
    at             text NOT NULL,
    reason         text
);
CREATE INDEX fallback_validation_history_primary ON fallback_validation_history (primary_model, id);
INSERT INTO change_versions (kind, version) VALUES ('validations', 0) ON CONFLICT DO NOTHING;

CREATE TABLE captures (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app     text COLLATE "C" NOT NULL,
    model   text NOT NULL,
    api     text NOT NULL,
    at      text COLLATE "C" NOT NULL,
    request text NOT NULL,
    answer  text NOT NULL
);
CREATE INDEX captures_app ON captures (app, at, id);
