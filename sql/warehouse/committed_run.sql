-- A run already committed (its load is being retried): what it recorded.
SELECT new, updated, unchanged, duplicates, rejected, parquet_file
FROM runs
WHERE run_id = $run_id;
