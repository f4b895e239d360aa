-- Kept OpenAI Responses answers, as SQLite's migration 0011: a later request continues from
-- one (`previous_response_id`) and its owner can read it back or delete it. They hold what the
-- conversation said, so they live apart from the audit log and only until `expires_at`: from
-- then on they read as gone, and the next one stored deletes them.
--
-- Times are RFC 3339 in UTC with all nine fraction digits, in the "C" collation: text order
-- is time order. A conversation is read by following `previous` by primary key; the index on
-- `expires_at` serves the purge.
CREATE TABLE responses (
    id         text COLLATE "C" PRIMARY KEY,
    owner      text COLLATE "C" NOT NULL,
    previous   text COLLATE "C",
    created_at text COLLATE "C" NOT NULL,
    expires_at text COLLATE "C" NOT NULL,
    input      text NOT NULL,
    response   text NOT NULL
);
CREATE INDEX responses_expires_at ON responses (expires_at);
