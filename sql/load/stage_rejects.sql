CREATE OR REPLACE TEMP TABLE stage_rejects (
    source VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR,
    seq BIGINT NOT NULL,
    fingerprint VARCHAR
);
