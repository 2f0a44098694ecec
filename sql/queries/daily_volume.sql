-- Articles per day with a 7-day rolling average.
SELECT
    day,
    articles,
    round(avg(articles) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW), 1) AS avg_7d
FROM articles_per_day
WHERE day IS NOT NULL
ORDER BY day;
