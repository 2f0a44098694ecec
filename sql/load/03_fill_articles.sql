INSERT INTO stage_articles SELECT * FROM read_parquet($parts);
