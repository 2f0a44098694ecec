-- A WARC file is skipped unread next run, unless one of its records (named FILE#OFFSET)
-- failed for a reason that may pass: then the whole file is indexed again. A record that
-- failed with internal_error makes the file's outcome internal_error, counted as in
-- upsert_source_state.sql, so the file is read again by the next runs.
INSERT INTO source_state
SELECT
    source,
    fingerprint,
    CASE
        WHEN EXISTS (
            SELECT 1 FROM stage_rejects AS r
            WHERE r.reason = 'internal_error' AND starts_with(r.source, s.source || '#')
        ) THEN 'internal_error'
        ELSE 'records'
    END,
    $run_id,
    1,
    $version
FROM stage_sources AS s
WHERE NOT EXISTS (
    SELECT 1 FROM transient_rejects AS t WHERE starts_with(t.source, s.source || '#')
)
QUALIFY row_number() OVER (PARTITION BY source) = 1
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
