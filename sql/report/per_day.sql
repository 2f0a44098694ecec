-- The last 60 days with data, oldest first, for the run's chart artifact.
SELECT CAST(day AS VARCHAR) AS day, articles
FROM (
    SELECT day, articles FROM articles_per_day WHERE day IS NOT NULL ORDER BY day DESC LIMIT 60
)
ORDER BY day;
