-- The current rows of the given urls, with host and version as all_rows.sql computes them:
-- what the index is updated from, and what every search hit is checked against.
SELECT
    url,
    "timestamp",
    title,
    body,
    lower(regexp_extract(url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host,
    md5(concat_ws(chr(31), coalesce(epoch_us("timestamp")::VARCHAR, ''), title, body)) AS version
FROM articles
WHERE url IN (SELECT unnest($urls::VARCHAR[]));
