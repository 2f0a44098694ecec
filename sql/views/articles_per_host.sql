-- Articles per host, with their date range and how many carry a lead image.
CREATE OR REPLACE VIEW articles_per_host AS
WITH source AS (
    SELECT * FROM article_hosts
),

final AS (
    SELECT
        host,
        count(*) AS articles,
        min("timestamp") AS first_published,
        max("timestamp") AS last_published,
        count(*) FILTER (WHERE has_image) AS with_image,
        CAST(avg(body_chars) AS BIGINT) AS avg_body_chars
    FROM source
    GROUP BY host
)

SELECT * FROM final ORDER BY articles DESC, host;
