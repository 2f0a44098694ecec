-- The run's loaded versions (new or updated) with their signatures and their day (the
-- publication date; the run's, $run_day, when the article has none), in the order that decides
-- which article founds a story: the earliest published first, then by url.
CREATE OR REPLACE TEMP TABLE stage_stories AS
SELECT
    part.url,
    part."timestamp",
    coalesce(part."timestamp"::DATE, $run_day::DATE) AS day,
    CASE WHEN len(part.minhash) = $permutations THEN part.minhash END AS minhash
FROM read_parquet($parts) AS part
SEMI JOIN decided
    ON decided.url = part.url AND decided.seq = part.seq AND decided.action IN ('new', 'updated');
