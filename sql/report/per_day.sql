-- Articles per publication day, oldest first, for the run's chart artifact (which groups
-- them by week or month when that shows the shape better).
SELECT day, articles
FROM articles_per_day
WHERE day IS NOT NULL
ORDER BY day;
