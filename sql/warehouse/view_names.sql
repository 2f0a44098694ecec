SELECT view_name FROM duckdb_views() WHERE NOT internal;
