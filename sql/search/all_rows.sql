-- Every article as the search index holds it, with its host (as views/article_hosts.sql
-- derives it).
SELECT
    url,
    "timestamp",
    title,
    body,
    lower(regexp_extract(url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host
FROM articles;
