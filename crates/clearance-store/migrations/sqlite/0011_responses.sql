-- Kept OpenAI Responses answers, so that a later request can continue from one
-- (`previous_response_id`) and its owner can read it back or delete it. They hold what the
-- conversation said, so they live apart from the audit log and only until `expires_at`: from
-- then on they read as gone, and the next one stored deletes them.
--
-- Times are RFC 3339 in UTC with all nine fraction digits (as in 0010), so text order is time
-- order. A conversation is read by following `previous` by primary key; the index on
-- `expires_at` serves the purge.
CREATE TABLE responses (
    id         TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    previous   TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    input      TEXT NOT NULL,
    response   TEXT NOT NULL
);
CREATE INDEX responses_expires_at ON responses (expires_at);
