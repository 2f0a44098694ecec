-- What each input looked like when last processed, so an unchanged input is not read again.
CREATE TABLE IF NOT EXISTS source_state (
    source VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
);
-- An internal_error is tried again by the next runs: how many runs in a row ended so with
-- this fingerprint, and the article-etl version of the last; added to warehouses made before
-- (NULL there: such an input is tried again once more).
ALTER TABLE source_state ADD COLUMN IF NOT EXISTS attempts INTEGER DEFAULT 1;
ALTER TABLE source_state ADD COLUMN IF NOT EXISTS version VARCHAR;
