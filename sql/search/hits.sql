-- What a search shows of its hits, and their current version to check them by (as
-- all_rows.sql derives it): no body, which DuckDB reads slowly row by row; the snippet is cut
-- from the body the index stored for that same version.
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
        coalesce(versions.version, '') AS version
    FROM articles
    LEFT JOIN versions ON versions.url = articles.url
    WHERE articles.url = ANY($urls::VARCHAR[])
)

SELECT * FROM final;
