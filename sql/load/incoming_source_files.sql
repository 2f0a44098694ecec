-- A WARC file is skipped unread next run, unless one of its records (named FILE#OFFSET)
-- failed for a reason that may pass: then the whole file is indexed again. A record that
-- failed with internal_error makes the file's outcome internal_error, counted as in
-- incoming_states.sql, so the file is read again by the next runs. Such a row wins over a
-- record's of the same source (priority 1).
INSERT INTO incoming_states
SELECT
    files.source,
    files.fingerprint,
    files.outcome,
    $run_id,
    CASE
        WHEN files.outcome = 'internal_error'
            AND known.outcome = 'internal_error'
            AND known.fingerprint = files.fingerprint
            AND known.version IS NOT DISTINCT FROM $version
            THEN coalesce(known.attempts, 1) + 1
        ELSE 1
    END,
    $version,
    1
FROM (
    SELECT
        s.source,
        s.fingerprint,
        CASE
            WHEN EXISTS (
                SELECT 1 FROM stage_rejects AS r
                WHERE r.reason = 'internal_error' AND starts_with(r.source, s.source || '#')
            ) THEN 'internal_error'
            ELSE 'records'
        END AS outcome
    FROM stage_sources AS s
    WHERE NOT EXISTS (
        SELECT 1 FROM transient_rejects AS t WHERE starts_with(t.source, s.source || '#')
    )
    QUALIFY row_number() OVER (PARTITION BY s.source) = 1
) AS files
LEFT JOIN known_states AS known ON known.source = files.source;
