-- Remember inputs by fingerprint so an unchanged one is skipped next run; transient failures
-- are not remembered (see transient_rejects.sql). Internal errors count their attempts: the
-- same fingerprint failing so again under the same version adds one, anything else restarts
-- (the earlier state looked up by key into known_states).
CREATE OR REPLACE TEMP TABLE incoming_states AS
SELECT
    run.source,
    run.fingerprint,
    run.outcome,
    $run_id AS run_id,
    CASE
        WHEN run.outcome = 'internal_error'
            AND known.outcome = 'internal_error'
            AND known.fingerprint = run.fingerprint
            AND known.version IS NOT DISTINCT FROM $version
            THEN coalesce(known.attempts, 1) + 1
        ELSE 1
    END AS attempts,
    $version AS version,
    0 AS priority
FROM (
    SELECT source, fingerprint, outcome
    FROM (
        SELECT source, fingerprint, seq, 'article' AS outcome
        FROM stage_articles
        UNION ALL
        SELECT source, fingerprint, seq, reason AS outcome
        FROM stage_rejects
        WHERE source NOT IN (SELECT source FROM transient_rejects)
    )
    WHERE fingerprint IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY source ORDER BY seq DESC) = 1
) AS run
LEFT JOIN known_states AS known ON known.source = run.source;
