-- The columns of the story tables (a warehouse made before the story window has no day in
-- story_signatures, and band and value in story_bands).
SELECT table_name, column_name
FROM duckdb_columns()
WHERE schema_name = 'main' AND table_name IN ('story_signatures', 'story_bands');
