-- The run's articles in founding order: the earliest published first, then by url.
SELECT url FROM stage_stories ORDER BY "timestamp" NULLS LAST, url;
