INSERT INTO stage_articles
SELECT
    url, "timestamp", source, content_hash, timestamp_source, seq, fingerprint, crawled_at,
    title_source
FROM read_parquet($parts, union_by_name = true);
