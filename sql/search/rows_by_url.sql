-- The current rows of the given urls, with host and version as all_rows.sql derives them:
-- what the index takes again when it is updated by url.
WITH versions AS (
    SELECT url, arg_max(content_hash, ingested_at) AS version
    FROM lineage
    WHERE url = ANY($urls::VARCHAR[])
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
    WHERE articles.url = ANY($urls::VARCHAR[])
)

SELECT * FROM final;
