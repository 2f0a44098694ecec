-- Articles per publication day (UTC); articles without a date are counted under NULL.
CREATE OR REPLACE VIEW articles_per_day AS
WITH source AS (
    SELECT "timestamp" FROM articles
),

final AS (
    SELECT
        CAST(timezone('UTC', "timestamp") AS DATE) AS day,
        count(*) AS articles
    FROM source
    GROUP BY day
)

SELECT * FROM final ORDER BY day;
