INSERT INTO lineage (
    url, source, content_hash, timestamp_source, run_id, ingested_at, crawled_at, title_source
)
SELECT url, source, content_hash, timestamp_source, $run_id, $now, crawled_at, title_source
FROM decided
WHERE action IN ('new', 'updated');
