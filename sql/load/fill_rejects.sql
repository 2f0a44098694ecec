INSERT INTO stage_rejects SELECT * FROM read_parquet($parts);
