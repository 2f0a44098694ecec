-- One candidate per url (the newest, on a tie the later ingest), compared with the warehouse:
-- its current timestamp from articles, its current content hash from the newest lineage row.
CREATE OR REPLACE TEMP TABLE decided AS
WITH latest AS (
    SELECT *
    FROM stage_articles
    QUALIFY row_number() OVER (PARTITION BY url ORDER BY "timestamp" DESC NULLS LAST, seq DESC) = 1
),

current_hash AS (
    SELECT url, arg_max(content_hash, ingested_at) AS content_hash
    FROM lineage
    WHERE url IN (SELECT url FROM latest)
    GROUP BY url
),

compared AS (
    SELECT
        latest.*,
        current.url IS NOT NULL AS existed,
        current.url IS NOT NULL
            AND current_hash.content_hash IS NOT DISTINCT FROM latest.content_hash AS same,
        current.url IS NOT NULL
            AND current."timestamp" IS NOT NULL
            AND (latest."timestamp" IS NULL OR latest."timestamp" < current."timestamp") AS older
    FROM latest
    LEFT JOIN articles AS current ON current.url = latest.url
    LEFT JOIN current_hash ON current_hash.url = latest.url
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
