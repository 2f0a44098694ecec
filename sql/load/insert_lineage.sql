INSERT INTO lineage (url, source, content_hash, timestamp_source, run_id, ingested_at, crawled_at)
SELECT url, source, content_hash, timestamp_source, $run_id, $now, crawled_at
FROM decided
WHERE action IN ('new', 'updated');
