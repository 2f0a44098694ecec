-- Staging layer: each article with its host, parsed once for the views that group by it.
CREATE OR REPLACE VIEW article_hosts AS
WITH source AS (
    SELECT * FROM articles
),

final AS (
    SELECT
        url,
        lower(regexp_extract(url, '^[a-z]+://(?:[^@/]*@)?([^/:?#]+)', 1)) AS host,
        "timestamp",
        title,
        length(body) AS body_chars,
        image IS NOT NULL AS has_image
    FROM source
)

SELECT * FROM final;
