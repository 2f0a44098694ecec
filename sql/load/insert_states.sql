INSERT INTO source_state
SELECT source, fingerprint, outcome, run_id, attempts, version
FROM incoming_states
QUALIFY row_number() OVER (PARTITION BY source ORDER BY priority DESC) = 1;
