-- The keys of the run's transformed articles; titles and bodies stay in the Parquet parts and
-- are streamed from there by the upsert, so memory does not grow with the run.
CREATE OR REPLACE TEMP TABLE stage_articles (
    url VARCHAR NOT NULL,
    "timestamp" TIMESTAMPTZ,
    source VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    timestamp_source VARCHAR,
    seq BIGINT NOT NULL,
    fingerprint VARCHAR,
    crawled_at TIMESTAMPTZ,
    title_source VARCHAR
);
