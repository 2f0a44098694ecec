-- What the warehouse holds for the run's own keys, looked up by key (the *_keys.sql lists,
-- bound in chunks: DuckDB answers `IN` a bound list from the primary key's index), so the
-- merge reads neither current_versions, source_state nor http_validators whole.
CREATE OR REPLACE TEMP TABLE known_versions AS
SELECT url, "timestamp", content_hash FROM current_versions WHERE false;
CREATE OR REPLACE TEMP TABLE known_states AS
SELECT * FROM source_state WHERE false;
CREATE OR REPLACE TEMP TABLE known_validators AS
SELECT * FROM http_validators WHERE false;
