-- The versions a run loaded, read back from its own Parquet file (checked first: a regular
-- file in parquet/ with the article schema and the run's row count), as all_rows.sql gives
-- them: the index takes them without reading the articles table.
SELECT
    url,
    "timestamp",
    title,
    body,
    lower(regexp_extract(url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host
FROM read_parquet($path::VARCHAR);
