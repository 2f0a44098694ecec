INSERT INTO stage_sources SELECT * FROM read_parquet($parts);
