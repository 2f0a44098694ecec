INSERT INTO rejects
SELECT $run_id, source, reason, detail, $now
FROM stage_rejects
ORDER BY seq;
