-- The last run committed: the one an index in step with the warehouse records.
SELECT run_id
FROM runs
ORDER BY finished_at DESC, run_id DESC
LIMIT 1;
