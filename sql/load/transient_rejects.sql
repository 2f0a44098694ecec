-- Inputs that failed for a reason that may pass (timeouts, read, HTTP and connection errors,
-- a host that made us wait past the run's cap):
-- neither their fingerprint nor their HTTP validators are kept, so the next run tries again.
CREATE OR REPLACE TEMP VIEW transient_rejects AS
SELECT source
FROM stage_rejects
WHERE reason IN ('timeout', 'read_error', 'http_error', 'fetch_error', 'host_backoff');
