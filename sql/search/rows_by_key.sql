-- The current rows of the given urls, as all_rows.sql gives them: what the index takes again
-- for a run whose Parquet file cannot be used. $keys is a list of at most KEYS_PER_QUERY
-- urls, so DuckDB answers `IN` from the primary key's index (`= ANY` of a list, or more
-- keys, would scan every body of articles).
SELECT
    url,
    "timestamp",
    title,
    body,
    lower(regexp_extract(url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host
FROM articles
WHERE url IN $keys;
