-- The current rows of the given urls, as all_rows.sql gives them: what the index takes again
-- when it is updated by url.
SELECT
    url,
    "timestamp",
    title,
    body,
    lower(regexp_extract(url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host
FROM articles
WHERE url = ANY($urls::VARCHAR[]);
