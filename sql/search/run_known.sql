-- Whether the warehouse had this run: an index recording a run it never had is not its own.
SELECT count(*) > 0 FROM runs WHERE run_id = $run_id;
