-- What earlier runs remember as done, for one chunk of the sources a run discovered
-- ($sources, a list): a join on the chunk, so the flow never holds the whole table. An input
-- whose last outcome was internal_error (a bug, not its data) is not done until it failed so
-- $max_attempts runs in a row under this version: a fix shipped in a new version, or a bad
-- parameter corrected, gets to load it.
SELECT s.source, s.fingerprint
FROM source_state AS s
SEMI JOIN (SELECT unnest($sources) AS source) AS c ON s.source = c.source
WHERE s.outcome <> 'internal_error'
    OR (s.attempts >= $max_attempts AND s.version IS NOT DISTINCT FROM $version);
