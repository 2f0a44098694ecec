INSERT INTO stage_validators SELECT * FROM read_parquet($parts);
