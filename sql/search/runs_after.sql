-- The runs committed after the given one, in order (none when it is the last; every run when
-- the index was built before the warehouse had any, NULL).
SELECT run_id
FROM runs
WHERE
    $run_id::VARCHAR IS NULL
    OR finished_at > (SELECT finished_at FROM runs WHERE run_id = $run_id)
    OR (finished_at = (SELECT finished_at FROM runs WHERE run_id = $run_id) AND run_id > $run_id)
ORDER BY finished_at, run_id;
