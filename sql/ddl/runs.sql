-- The run log: one row per ingest run, its counts and its Parquet output.
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    flow_run_id VARCHAR,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    sources VARCHAR,
    inputs BIGINT NOT NULL,
    skipped_unchanged BIGINT NOT NULL,
    new BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    task_runs BIGINT NOT NULL,
    seconds DOUBLE NOT NULL,
    parquet_file VARCHAR
);
