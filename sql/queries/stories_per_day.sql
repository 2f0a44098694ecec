-- Distinct stories per day (a story counts on the day its first copy was published), beside
-- the articles that carried them.
SELECT
    CAST(timezone('UTC', first_seen) AS DATE) AS day,
    count(*) AS stories,
    sum(articles) AS articles
FROM stories
GROUP BY day
ORDER BY day DESC
LIMIT 30;
