-- Keep validators, except for inputs that failed transiently: those are fetched in full again.
CREATE OR REPLACE TEMP TABLE incoming_validators AS
SELECT url, etag, last_modified, content_hash, $run_id AS run_id
FROM stage_validators
WHERE url NOT IN (SELECT source FROM transient_rejects)
QUALIFY row_number() OVER (PARTITION BY url) = 1;
