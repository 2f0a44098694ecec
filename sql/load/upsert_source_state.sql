-- Remember inputs by fingerprint so an unchanged one is skipped next run; transient failures
-- are not remembered (see transient_rejects.sql).
INSERT INTO source_state
SELECT source, fingerprint, outcome, $run_id
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
    fingerprint = excluded.fingerprint,
    outcome = excluded.outcome,
    run_id = excluded.run_id;
