-- Rows in articles and in current_versions: equal after every load (a cheap check, from the
-- tables' row counts, before a full comparison).
SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM current_versions);
