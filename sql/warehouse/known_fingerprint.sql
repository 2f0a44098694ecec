-- known_fingerprints for one source (a fetched page, a remote WARC file): a point lookup on
-- the primary key, which a join over a one-row chunk would turn into a scan of the table.
SELECT fingerprint
FROM source_state
WHERE source = $source
    AND (
        outcome <> 'internal_error'
        OR (attempts >= $max_attempts AND version IS NOT DISTINCT FROM $version)
    );
