-- Each url's current version as articles and lineage tell it (its newest lineage record):
-- what current_versions must hold. A scan of both tables, for the migration and maintenance.
CREATE OR REPLACE TEMP TABLE expected_versions AS
SELECT articles.url, articles."timestamp", newest.content_hash
FROM articles
LEFT JOIN (
    SELECT url, arg_max(content_hash, ingested_at) AS content_hash
    FROM lineage
    GROUP BY url
) AS newest ON newest.url = articles.url;
