-- Remember inputs by fingerprint so an unchanged one is skipped next run; transient failures
-- are not remembered (see transient_rejects.sql). Internal errors count their attempts: the
-- same fingerprint failing so again under the same version adds one, anything else restarts.
INSERT INTO source_state
SELECT source, fingerprint, outcome, $run_id, 1, $version
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
ON CONFLICT (source) DO UPDATE SET
    attempts = CASE
        WHEN excluded.outcome = 'internal_error'
            AND source_state.outcome = 'internal_error'
            AND source_state.fingerprint = excluded.fingerprint
            AND source_state.version IS NOT DISTINCT FROM excluded.version
            THEN coalesce(source_state.attempts, 1) + 1
        ELSE 1
    END,
    fingerprint = excluded.fingerprint,
    outcome = excluded.outcome,
    run_id = excluded.run_id,
    version = excluded.version;
