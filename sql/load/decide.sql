-- One candidate per url (the newest, on a tie the later ingest), compared with the warehouse's
-- current version of that url (its timestamp and content hash from current_versions, looked
-- up by key into known_versions: neither lineage, articles nor all of current_versions is read).
-- A timestamp outside the plausible window (before 1990, after the run's start plus one day)
-- counts as no timestamp: a row dated 2099 never wins against a correctly dated version.
CREATE OR REPLACE TEMP TABLE decided AS
WITH window_bounds AS (
    SELECT
        TIMESTAMPTZ '1990-01-01 00:00:00+00' AS earliest,
        $started_at::TIMESTAMPTZ + INTERVAL 1 DAY AS latest
),

staged AS (
    SELECT
        stage_articles.*,
        CASE
            WHEN stage_articles."timestamp" BETWEEN window_bounds.earliest AND window_bounds.latest
                THEN stage_articles."timestamp"
        END AS plausible_ts
    FROM stage_articles, window_bounds
),

latest AS (
    SELECT *
    FROM staged
    QUALIFY row_number() OVER (PARTITION BY url ORDER BY plausible_ts DESC NULLS LAST, seq DESC) = 1
),

current_rows AS (
    SELECT
        kept.url,
        kept.content_hash,
        CASE
            WHEN kept."timestamp" BETWEEN window_bounds.earliest AND window_bounds.latest
                THEN kept."timestamp"
        END AS plausible_ts
    FROM known_versions AS kept, window_bounds
),

compared AS (
    SELECT
        latest.* EXCLUDE (plausible_ts),
        current.url IS NOT NULL AS existed,
        current.url IS NOT NULL
            AND current.content_hash IS NOT DISTINCT FROM latest.content_hash AS same,
        current.url IS NOT NULL
            AND current.plausible_ts IS NOT NULL
            AND (latest.plausible_ts IS NULL OR latest.plausible_ts < current.plausible_ts) AS older
    FROM latest
    LEFT JOIN current_rows AS current ON current.url = latest.url
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
