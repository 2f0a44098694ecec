-- Keep validators, except for inputs that failed transiently: those are fetched in full again.
INSERT INTO http_validators
SELECT url, etag, last_modified, content_hash, $run_id
FROM stage_validators
WHERE url NOT IN (SELECT source FROM transient_rejects)
QUALIFY row_number() OVER (PARTITION BY url) = 1
ON CONFLICT (url) DO UPDATE SET
    etag = excluded.etag,
    last_modified = excluded.last_modified,
    content_hash = excluded.content_hash,
    run_id = excluded.run_id;
