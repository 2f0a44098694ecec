-- The columns story_bands has (a warehouse made before its day column has band and value).
SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = 'story_bands';
