-- One candidate per url (the newest, on a tie the later ingest), compared with the warehouse.
CREATE OR REPLACE TEMP TABLE decided AS
WITH latest AS (
    SELECT *
    FROM stage_articles
    QUALIFY row_number() OVER (PARTITION BY url ORDER BY "timestamp" DESC NULLS LAST, seq DESC) = 1
),

compared AS (
    SELECT
        latest.*,
        current.url IS NOT NULL AS existed,
        current.url IS NOT NULL
            AND current."timestamp" IS NOT DISTINCT FROM latest."timestamp"
            AND current.title = latest.title
            AND current.body = latest.body
            AND current.image IS NOT DISTINCT FROM latest.image AS same,
        current.url IS NOT NULL
            AND current."timestamp" IS NOT NULL
            AND (latest."timestamp" IS NULL OR latest."timestamp" < current."timestamp") AS older
    FROM latest
    LEFT JOIN articles AS current ON current.url = latest.url
),

final AS (
    SELECT
        *,
        CASE
            WHEN NOT existed THEN 'new'
            WHEN same THEN 'unchanged'
            WHEN older THEN 'superseded'
            ELSE 'updated'
        END AS action
    FROM compared
)

SELECT * FROM final;
