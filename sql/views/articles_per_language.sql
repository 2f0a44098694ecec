-- Articles per language and publication day (UTC); an unknown language or date is NULL.
CREATE OR REPLACE VIEW articles_per_language AS
WITH source AS (
    SELECT articles."timestamp", article_meta.language
    FROM articles
    LEFT JOIN article_meta ON article_meta.url = articles.url
),

final AS (
    SELECT
        CAST(timezone('UTC', "timestamp") AS DATE) AS day,
        language,
        count(*) AS articles
    FROM source
    GROUP BY day, language
)

SELECT * FROM final ORDER BY day, articles DESC, language;
