-- The last runs and how their inputs were accounted for.
SELECT
    run_id, started_at, inputs, skipped_unchanged, new, updated, unchanged, duplicates, rejected,
    round(seconds, 1) AS seconds
FROM runs
ORDER BY started_at DESC
LIMIT 10;
