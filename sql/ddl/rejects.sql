-- Every input that did not become an article, with a stable reason code.
CREATE TABLE IF NOT EXISTS rejects (
    run_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    rejected_at TIMESTAMPTZ NOT NULL
);
