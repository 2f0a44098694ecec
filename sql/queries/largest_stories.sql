-- The stories carried by the most outlets in the last seven days.
SELECT story_id, title, articles, len(hosts) AS outlets, first_seen, first_url
FROM stories
WHERE last_seen >= now() - INTERVAL 7 DAY
ORDER BY outlets DESC, articles DESC, first_seen
LIMIT 20;
