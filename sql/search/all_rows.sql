-- Every article as the search index holds it: its host (as views/article_hosts.sql derives it)
-- and a version, a hash of what is indexed and shown (the same expression as rows_by_url.sql).
SELECT
    url,
    "timestamp",
    title,
    body,
    lower(regexp_extract(url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host,
    md5(concat_ws(chr(31), coalesce(epoch_us("timestamp")::VARCHAR, ''), title, body)) AS version
FROM articles;
