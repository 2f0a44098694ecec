-- The 100 most recently published articles.
CREATE OR REPLACE VIEW latest_articles AS
WITH source AS (
    SELECT * FROM article_hosts WHERE "timestamp" IS NOT NULL
),

final AS (
    SELECT "timestamp", host, title, url
    FROM source
    ORDER BY "timestamp" DESC, url
    LIMIT 100
)

SELECT * FROM final;
