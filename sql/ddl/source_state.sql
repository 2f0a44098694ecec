-- What each input looked like when last processed, so an unchanged input is not read again.
CREATE TABLE IF NOT EXISTS source_state (
    source VARCHAR PRIMARY KEY,
    fingerprint VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL
);
