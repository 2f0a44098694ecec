INSERT INTO known_states
SELECT * FROM source_state WHERE source IN $keys;
