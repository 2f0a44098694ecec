-- The runs committed after the given one, in order (none when it is the last).
WITH held AS (
    SELECT finished_at, run_id FROM runs WHERE run_id = $run_id
)

SELECT runs.run_id
FROM runs, held
WHERE (runs.finished_at, runs.run_id) > (held.finished_at, held.run_id)
ORDER BY runs.finished_at, runs.run_id;
