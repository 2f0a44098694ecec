-- A WARC file is skipped unread next run, unless one of its records (named FILE#OFFSET)
-- failed for a reason that may pass: then the whole file is indexed again.
INSERT INTO source_state
SELECT source, fingerprint, 'records', $run_id
FROM stage_sources AS s
WHERE NOT EXISTS (
    SELECT 1 FROM transient_rejects AS t WHERE starts_with(t.source, s.source || '#')
)
QUALIFY row_number() OVER (PARTITION BY source) = 1
ON CONFLICT (source) DO UPDATE SET
    fingerprint = excluded.fingerprint,
    outcome = excluded.outcome,
    run_id = excluded.run_id;
