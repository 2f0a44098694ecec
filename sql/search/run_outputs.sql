-- What each of these runs wrote: its Parquet file in parquet/ (NULL when it loaded no
-- version) and how many versions it loaded (new and updated), the rows that file holds.
-- The run log is one row per run: no scan of the articles.
SELECT run_id, parquet_file, new + updated
FROM runs
WHERE run_id IN (SELECT unnest($run_ids::VARCHAR[]));
