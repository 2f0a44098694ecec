-- Every article as the search index holds it: its host (as views/article_hosts.sql derives it)
-- and its version, the content hash lineage recorded for it when it was loaded (a changed
-- article is a new lineage record; an unchanged one is not loaded again).
WITH versions AS (
    SELECT url, arg_max(content_hash, ingested_at) AS version
    FROM lineage
    GROUP BY url
),

final AS (
    SELECT
        articles.url,
        articles."timestamp",
        articles.title,
        articles.body,
        lower(regexp_extract(articles.url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host,
        coalesce(versions.version, '') AS version
    FROM articles
    LEFT JOIN versions ON versions.url = articles.url
)

SELECT * FROM final;
