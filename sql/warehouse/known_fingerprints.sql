-- What earlier runs remember as done, for a chunk of the sources a run discovered ($sources,
-- a list): `IN` a bound list is answered from the primary key's index, so the flow never reads
-- the whole table (a join on the list would scan it). An input whose last outcome was
-- internal_error (a bug, not its data) is not done until it failed so $max_attempts runs in a
-- row under this version: a fix shipped in a new version, or a bad parameter corrected, gets
-- to load it.
SELECT source, fingerprint
FROM source_state
WHERE source IN $sources
    AND (
        outcome <> 'internal_error'
        OR (attempts >= $max_attempts AND version IS NOT DISTINCT FROM $version)
    );
