-- Which sites contribute most, and how fresh they are.
SELECT host, articles, last_published, with_image
FROM articles_per_host
ORDER BY articles DESC, host
LIMIT 10;
