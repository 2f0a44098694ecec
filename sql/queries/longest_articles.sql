-- The longest articles by body length, a quick check of extraction quality.
SELECT host, title, body_chars
FROM article_hosts
ORDER BY body_chars DESC, url
LIMIT 10;
