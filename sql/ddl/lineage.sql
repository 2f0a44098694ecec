-- Every version that was loaded into articles: where it came from and when.
CREATE TABLE IF NOT EXISTS lineage (
    url VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    timestamp_source VARCHAR,
    run_id VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL
);
-- When a web archive's record was crawled (its WARC-Date); added to warehouses made before.
ALTER TABLE lineage ADD COLUMN IF NOT EXISTS crawled_at TIMESTAMPTZ;
-- Where the title came from (the page's headline or a fallback); added to warehouses made before.
ALTER TABLE lineage ADD COLUMN IF NOT EXISTS title_source VARCHAR;
