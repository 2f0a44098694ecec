-- A warehouse made before the story window: each signature gets the day of its article (its
-- publication date, else the date its current version was loaded), in the migration's
-- transaction.
ALTER TABLE story_signatures ADD COLUMN IF NOT EXISTS day DATE;
UPDATE story_signatures
SET day = dated.day
FROM (
    SELECT
        articles.url,
        coalesce(articles."timestamp"::DATE, loaded.ingested_at::DATE, current_date) AS day
    FROM articles
    LEFT JOIN (
        SELECT url, max(ingested_at) AS ingested_at FROM lineage GROUP BY url
    ) AS loaded ON loaded.url = articles.url
) AS dated
WHERE story_signatures.url = dated.url;
UPDATE story_signatures SET day = current_date WHERE day IS NULL;
