-- The run's loaded versions (new or updated) with their signatures, in the order that decides
-- which article founds a story: the earliest published first, then by url.
CREATE OR REPLACE TEMP TABLE stage_stories AS
SELECT
    part.url,
    part."timestamp",
    CASE WHEN len(part.minhash) = $permutations THEN part.minhash END AS minhash
FROM read_parquet($parts) AS part
SEMI JOIN decided
    ON decided.url = part.url AND decided.seq = part.seq AND decided.action IN ('new', 'updated');
