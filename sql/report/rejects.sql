-- The first rejects of one run, for the run's rejects artifact.
SELECT source, reason, detail
FROM rejects
WHERE run_id = $run_id
ORDER BY reason, source
LIMIT $limit;
