-- Which of these urls the given runs loaded a new version of: asked only while the index is
-- behind the warehouse (a run is writing it), so that no outdated version is shown.
SELECT DISTINCT url
FROM lineage
WHERE run_id IN (SELECT unnest($run_ids::VARCHAR[])) AND url = ANY($urls::VARCHAR[]);
