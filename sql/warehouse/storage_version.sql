-- The storage format of the open database file ('v1.5.0+', 'v2.0.0+', ...).
SELECT tags['storage_version'] AS storage_version
FROM duckdb_databases()
WHERE database_name = current_database();
