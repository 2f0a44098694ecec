INSERT INTO runs VALUES (
    $run_id, $flow_run_id, $started_at, $now, $sources, $inputs, $skipped_unchanged,
    $new, $updated, $unchanged, $duplicates, $rejected, $task_runs, $seconds, $parquet_file
);
