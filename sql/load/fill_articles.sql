INSERT INTO stage_articles
SELECT url, "timestamp", source, content_hash, timestamp_source, seq, fingerprint
FROM read_parquet($parts);
