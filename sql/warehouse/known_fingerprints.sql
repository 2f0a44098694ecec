-- What earlier runs remember as done. An input whose last outcome was internal_error (a bug,
-- not its data) is not done until it failed so $max_attempts runs in a row under this
-- version: a fix shipped in a new version, or a bad parameter corrected, gets to load it.
SELECT source, fingerprint
FROM source_state
WHERE outcome <> 'internal_error'
    OR (attempts >= $max_attempts AND version IS NOT DISTINCT FROM $version);
