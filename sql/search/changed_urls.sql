-- The urls whose version these runs loaded: what the index must take again from articles.
SELECT DISTINCT url
FROM lineage
WHERE run_id IN (SELECT unnest($run_ids::VARCHAR[]));
