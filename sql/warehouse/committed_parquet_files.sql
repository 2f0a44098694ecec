SELECT parquet_file FROM runs WHERE parquet_file IS NOT NULL;
