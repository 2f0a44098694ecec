-- Remember inputs by fingerprint so an unchanged one is skipped next run. Transient failures
-- (timeouts, read and HTTP errors) are not remembered: they are tried again.
INSERT INTO source_state
SELECT source, fingerprint, outcome, $run_id
FROM (
    SELECT source, fingerprint, seq, 'article' AS outcome
    FROM stage_articles
    UNION ALL
    SELECT source, fingerprint, seq, reason AS outcome
    FROM stage_rejects
    WHERE reason NOT IN ('timeout', 'read_error', 'http_error', 'fetch_error')
)
WHERE fingerprint IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY source ORDER BY seq DESC) = 1
ON CONFLICT (source) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    outcome = excluded.outcome,
    run_id = excluded.run_id;
