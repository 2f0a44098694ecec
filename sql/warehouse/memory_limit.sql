-- The connection's DuckDB memory limit (a size such as '1024MB' or '244.1 MiB').
SET memory_limit = $limit;
