INSERT INTO lineage
SELECT url, source, content_hash, timestamp_source, $run_id, $now
FROM decided
WHERE action IN ('new', 'updated');
