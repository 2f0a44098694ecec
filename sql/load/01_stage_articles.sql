-- The run's transformed articles (staging Parquet parts, article columns plus lineage).
CREATE OR REPLACE TEMP TABLE stage_articles (
    url VARCHAR NOT NULL,
    "timestamp" TIMESTAMPTZ,
    title VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    image VARCHAR,
    source VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    timestamp_source VARCHAR,
    seq BIGINT NOT NULL,
    fingerprint VARCHAR
);
